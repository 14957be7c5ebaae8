import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import { ConfigError } from '../../core/errors.ts';
import { findBackup } from '../../core/find-backup.ts';
import { exitStatus } from '../../engines/restore/report.ts';
import { checkArchive, downloadBackup, runRestore } from '../../engines/restore/restore.ts';
import { assertCanRead, restoreTools } from '../../engines/restore/restore-tools.ts';
import { restoreSettings } from '../../engines/restore/settings.ts';
import type { Deployment } from '../deployment.ts';
import type { Output } from '../output.ts';
import { formatReport } from '../report-view.ts';
import { EXIT, type ExitCode } from './exit-codes.ts';

/**
 * `pgproof restore` and `pgproof verify`: the restore runner's own code, run from an operator's
 * machine against any PostgreSQL it can reach, with the same checksum and count verification.
 */

/** A target given as `postgres://user:password@host:port/database?sslmode=...`. */
export interface TargetUrl {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly password: string | undefined;
  readonly database: string;
  readonly sslmode: string | undefined;
}

/** Parses `--to`; the database part is required (pgproof never guesses where to write). */
export function parseTargetUrl(text: string): TargetUrl {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new ConfigError(
      `--to "${redact(text)}" is not a URL; use postgres://user:password@host:5432/database`,
    );
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
    throw new ConfigError(`--to must be a postgres:// URL, got ${url.protocol}//...`);
  }
  const database = decodeURIComponent(url.pathname.replace(/^\//, ''));
  if (!database) throw new ConfigError('--to names no database; end the URL with /<database>');
  return {
    host: url.hostname || 'localhost',
    port: Number(url.port || 5432),
    user: decodeURIComponent(url.username) || 'postgres',
    password: url.password ? decodeURIComponent(url.password) : undefined,
    database,
    sslmode: url.searchParams.get('sslmode') ?? undefined,
  };
}

function redact(text: string): string {
  return text.replace(/\/\/([^:/@]+):[^@]*@/, '//$1:***@');
}

/** Options of {@link restoreCommand}. */
export interface RestoreCommandOptions {
  readonly database: string;
  readonly to: string;
  readonly backupId: string | undefined;
  readonly tables: readonly string[];
  readonly schemas: readonly string[];
  readonly clean: boolean;
  readonly jobs: number | undefined;
  readonly pgBinDir?: string | undefined;
}

/** Restores a backup into `--to` and verifies it; exit 0 verified, 2 did not verify, 1 could not run. */
export async function restoreCommand(
  options: RestoreCommandOptions,
  deployment: Deployment,
  s3: S3Client,
  output: Output,
): Promise<ExitCode> {
  const target = parseTargetUrl(options.to);
  // pg_restore and psql take the password and TLS mode from libpq's environment, never from argv.
  if (target.password !== undefined) process.env.PGPASSWORD = target.password;
  if (target.sslmode) process.env.PGSSLMODE = target.sslmode;
  const settings = restoreSettings(
    {
      mode: 'restore',
      bucket: deployment.bucket,
      prefix: deployment.prefix,
      backup: { name: options.database, backupId: options.backupId },
      host: target.host,
      port: target.port,
      user: target.user,
      database: target.database,
      clean: options.clean,
      tables: options.tables,
      schemas: options.schemas,
      jobs: options.jobs,
      pgBinDir: options.pgBinDir,
      cleanHint: 'pass --clean',
    },
    new Date(),
  );
  const download = output.progress('downloading');
  const restoring = output.progress('restoring');
  const report = await runRestore(settings, {
    s3,
    now: () => new Date(),
    onDownloadProgress: (done, total) => download.update(done, total),
    log: (message, fields) => {
      if (message === 'downloaded') {
        download.done(fields?.checksum ? 'done, SHA-256 as in the manifest' : 'done, SHA-256 DIFFERS');
        // The restore has no byte count: show it as under way (a total of 0).
        if (fields?.checksum) restoring.update(0, 0);
      } else if (message === 'restored') restoring.done(`done in ${fields?.seconds} s`);
    },
  });
  if (output.json) output.out(JSON.stringify(report));
  else for (const line of formatReport(report)) output.out(line);
  const status = exitStatus(report);
  return status === 0 ? EXIT.ok : status === 2 ? EXIT.failed : EXIT.error;
}

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
    const archive = files.check.passed ? await checkArchive(options.pgBinDir, files.dumpPath) : undefined;
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
