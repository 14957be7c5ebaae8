import { writeFileSync } from 'node:fs';
import { startS3 } from '../test/support/s3.ts';

/**
 * The benchmark's S3-compatible server (s3rver, as in the tests) in a process of its own: the runner
 * competes with it for the CPU as it would with any local server, and its memory and CPU are measured
 * apart from the runner's. Writes the runner environment (JSON) to the file named by the first
 * argument, prints `ready`, and stops on SIGTERM.
 */

const [infoFile] = process.argv.slice(2);
if (!infoFile) throw new Error('usage: s3-server.ts <info-file>');
const server = await startS3({ bucket: 'bench-backups' });
writeFileSync(
  infoFile,
  JSON.stringify({ endpoint: server.endpoint, bucket: server.bucket, env: server.env }),
);
process.stdout.write('ready\n');
process.once('SIGTERM', () => {
  server.stop().finally(() => process.exit(0));
});
