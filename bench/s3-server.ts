import dc from 'node:diagnostics_channel';
import { appendFileSync, writeFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { startS3 } from '../test/support/s3.ts';

/**
 * The benchmark's S3-compatible server (s3rver, as in the tests) in a process of its own: the runner
 * competes with it for the CPU as it would with any local server, and its memory and CPU are measured
 * apart from the runner's. Writes the runner environment (JSON) to the file named by the first
 * argument, prints `ready`, logs every request's method, URL, start and end (epoch ms, one JSON line
 * each) to `<file>.requests.jsonl`, and stops on SIGTERM.
 */

const [infoFile] = process.argv.slice(2);
if (!infoFile) throw new Error('usage: s3-server.ts <info-file>');
const requestLog = `${infoFile}.requests.jsonl`;
writeFileSync(requestLog, '');

// Node's own HTTP server events: the server's view of how long each request took, without touching s3rver.
const started = new WeakMap<IncomingMessage, number>();
dc.subscribe('http.server.request.start', (message) => {
  started.set((message as { request: IncomingMessage }).request, Date.now());
});
dc.subscribe('http.server.response.finish', (message) => {
  const { request } = message as { request: IncomingMessage };
  const startMs = started.get(request);
  if (startMs === undefined) return;
  appendFileSync(
    requestLog,
    `${JSON.stringify({ method: request.method, url: request.url, startMs, endMs: Date.now() })}\n`,
  );
});

const server = await startS3({ bucket: 'bench-backups' });
writeFileSync(
  infoFile,
  JSON.stringify({ endpoint: server.endpoint, bucket: server.bucket, env: server.env, requestLog }),
);
process.stdout.write('ready\n');
process.once('SIGTERM', () => {
  server.stop().finally(() => process.exit(0));
});
