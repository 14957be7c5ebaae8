import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import { findBackup } from '../../core/find-backup.ts';
import { checkArchive, downloadBackup } from '../../engines/restore/restore.ts';
import { assertCanRead, restoreTools } from '../../engines/restore/restore-tools.ts';
import type { Deployment } from '../deployment.ts';
import type { Output } from '../output.ts';
import { backupIdFlag, defineCommand } from './command.ts';
import { EXIT, type ExitCode } from './exit-codes.ts';

/**
 * `pgproof verify`: downloads a backup and checks it as the restore runner would before restoring
 * (SHA-256 against the manifest, the archive's table of contents), without a database.
 */

/** Downloads a backup and checks its SHA-256 and table of contents, without restoring. */
export async function verifyCommand(
  options: { database: string; backupId: string | undefined; pgBinDir?: string | undefined },
  deployment: Deployment,
  s3: S3Client,
  output: Output,
): Promise<ExitCode> {
  const { manifestKey, manifest } = await findBackup(s3, deployment.bucket, deployment.prefix, {
    name: options.database,
    backupId: options.backupId,
  });
  // An older local client would call a good archive unreadable: refuse before the download instead.
  await assertCanRead(restoreTools(options.pgBinDir), manifest.pgDump.version);
  const work = await mkdtemp(join(tmpdir(), 'pgproof-verify-'));
  try {
    const download = output.progress('downloading');
    const files = await downloadBackup(s3, deployment.bucket, manifest, work, {
      partBytes: 16 * 1024 * 1024,
      concurrency: 8,
      withGlobals: true,
      onProgress: (done, total) => download.update(done, total),
    });
    download.done(files.check.passed ? 'done' : 'done, SHA-256 DIFFERS');
    const archive = files.check.passed ? await checkArchive(options.pgBinDir, files) : undefined;
    const checks = [files.check, ...(archive ? [archive] : [])];
    const passed = checks.every((c) => c.passed);
    if (output.json) {
      output.out(JSON.stringify({ passed, manifestKey, backupId: manifest.backupId, checks }));
    } else {
      output.out(
        `${passed ? 'VERIFIED' : 'FAILED'}: ${options.database} backup ${manifest.backupId} (s3://${deployment.bucket}/${manifestKey})`,
      );
      for (const c of checks) output.out(`  ${c.passed ? 'ok  ' : 'FAIL'} ${c.name}: ${c.detail}`);
    }
    return passed ? EXIT.ok : EXIT.failed;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** `pgproof verify <database> [--backup ID] [--pg-bin-dir DIR]`. */
export const verify = defineCommand({
  name: 'verify',
  synopsis: ['pgproof verify <database> [--backup ID] [--pg-bin-dir DIR]'],
  summary: 'download, check SHA-256 and the archive, no restore',
  takesDatabase: true,
  options: { backup: { type: 'string' }, 'pg-bin-dir': { type: 'string' } },
  optionHelp: {
    backup: ['--backup ID', 'verify this backup (default: the latest)'],
    'pg-bin-dir': [
      '--pg-bin-dir DIR',
      "the folder of pg_restore (default: PATH); at least the major of the backup's pg_dump",
    ],
  },
  async run({ database, values, output, clients, deployment }) {
    const options = { database, backupId: backupIdFlag(values.backup), pgBinDir: values['pg-bin-dir'] };
    return verifyCommand(options, await deployment({ stack: false }), clients().s3, output);
  },
});
