import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import type pg from 'pg';
import type {
  IgnoredRestoreError,
  RestoreCheck,
  RestoredTable,
  RestoreReport,
} from '../../core/drill-report.ts';
import { InterruptedError, oneLine, type ServerAddress } from '../../core/errors.ts';
import { findBackup } from '../../core/find-backup.ts';
import { drillReportKey } from '../../core/layout.ts';
import type { Manifest } from '../../core/manifest.ts';
import type { ClientVersion } from '../backup/pg-tools.ts';
import { downloadObject, verifyChecksum } from './download.ts';
import { buildReport } from './report.ts';
import {
  type ArchiveRestoreOptions,
  assertCanRead,
  listArchive,
  restoreArchive,
  restoreGlobals,
  restoreTools,
} from './restore-tools.ts';
import type { RestoreSettings, SqlCheck } from './settings.ts';
import {
  analyzeDatabase,
  assertRestorableTarget,
  connectTarget,
  createSchemas,
  openTargetDatabase,
  serverMajor,
  serverVersion,
} from './target.ts';
import { isSelected, runSqlChecks, verifyTables } from './verify.ts';

/**
 * A restore, phase by phase: download (and SHA-256 check), restore (globals, pg_restore -j N),
 * verify (tables and SQL checks, with ANALYZE alongside). Each phase is its own exported function so that the CLI
 * (`pgproof restore`, `pgproof verify`) and the benchmark call them directly; {@link runRestore}
 * chains them for the runner and turns the outcome into a report.
 */

/** What the core needs from the outside world. */
export interface RestoreDependencies {
  readonly s3: S3Client;
  readonly now: () => Date;
  /** Aborts the restore (SIGTERM): pg_restore and downloads are stopped. */
  readonly signal?: AbortSignal;
  readonly log: (message: string, fields?: Record<string, unknown>) => void;
  /** Progress of the dump's download, for a person watching (the CLI's progress bar). */
  readonly onDownloadProgress?: (doneBytes: number, totalBytes: number) => void;
}

/** A backup's files on local disk, and whether they match the manifest. */
export interface DownloadedBackup {
  readonly dumpPath: string;
  /** Absent when the backup has no globals or they are not wanted. */
  readonly globalsPath: string | undefined;
  /** One `checksum` check covering the dump and the globals. */
  readonly check: RestoreCheck;
}

/**
 * Downloads the dump (parallel ranged GETs) and the globals into `directory` and checks both against
 * the manifest's sizes and SHA-256 before anything is restored.
 */
export async function downloadBackup(
  s3: S3Client,
  bucket: string,
  manifest: Manifest,
  directory: string,
  options: {
    partBytes: number;
    concurrency: number;
    withGlobals: boolean;
    signal?: AbortSignal;
    /** Progress of the dump's download. */
    onProgress?: (doneBytes: number, totalBytes: number) => void;
  },
): Promise<DownloadedBackup> {
  const dumpPath = join(directory, 'dump.pgdump');
  const globals = options.withGlobals ? manifest.globals : null;
  const globalsPath = globals ? join(directory, 'globals.sql') : undefined;
  await Promise.all([
    downloadObject(s3, bucket, manifest.dump.key, dumpPath, options),
    globals && globalsPath
      ? downloadObject(s3, bucket, globals.key, globalsPath, {
          ...options,
          concurrency: 1,
          onProgress: undefined,
        })
      : undefined,
  ]);
  const results = await Promise.all([
    verifyChecksum(dumpPath, manifest.dump),
    globals && globalsPath ? verifyChecksum(globalsPath, globals) : undefined,
  ]);
  const failed = results.filter((r) => r && !r.passed);
  const check: RestoreCheck = {
    name: 'checksum',
    kind: 'checksum',
    passed: failed.length === 0,
    detail: (failed.length ? failed : results)
      .filter((r) => r !== undefined)
      .map((r) => r.detail)
      .join('; '),
  };
  return { dumpPath, globalsPath, check };
}

/** How to restore: pg_restore's options, where the client programs are, and their versions. */
export interface RestoreOptions extends Omit<ArchiveRestoreOptions, 'context'> {
  readonly pgBinDir: string | undefined;
  /** The versions {@link assertCanRead} read: the benign-error rules look at them. */
  readonly clientVersions: { readonly pgRestore: ClientVersion; readonly psql: ClientVersion };
}

/** The `globals` and `restore` checks, and the errors benign rules accepted on the way. */
export interface RestoreOutcome {
  readonly checks: RestoreCheck[];
  readonly ignoredErrors: IgnoredRestoreError[];
}

/** A step's ignored errors, for a check's detail: `transaction-timeout-before-17 (4)`. */
function ignoredSummary(ignored: readonly IgnoredRestoreError[]): string {
  if (ignored.length === 0) return '';
  const counts = new Map<string, number>();
  for (const e of ignored) counts.set(e.rule, (counts.get(e.rule) ?? 0) + e.count);
  return `; ignored as benign: ${[...counts].map(([rule, n]) => `${rule} (${n})`).join(', ')}`;
}

/**
 * Restores downloaded files into the target database: globals first, then the archive with
 * `pg_restore -j N` (optionally some tables or schemas). Errors either program reports are decided by
 * the benign rules (restore-errors.ts): accepted ones are returned as ignored, any other fails its check.
 * ANALYZE is the caller's to run ({@link analyzeDatabase}; {@link runRestore} runs it alongside the
 * verification). The archive's own errors fail a check, they do not throw.
 */
export async function restoreBackup(
  files: { readonly dumpPath: string; readonly globalsPath: string | undefined },
  target: ServerAddress,
  client: pg.Client,
  options: RestoreOptions,
): Promise<RestoreOutcome> {
  const tools = restoreTools(options.pgBinDir);
  const targetMajor = await serverMajor(client);
  const checks: RestoreCheck[] = [];
  const ignoredErrors: IgnoredRestoreError[] = [];
  if (files.globalsPath) {
    const globals = await restoreGlobals(tools.psql, files.globalsPath, target, {
      ...options,
      context: { targetMajor, clientMajor: options.clientVersions.psql.major },
    });
    ignoredErrors.push(...globals.ignored);
    const existing = globals.ignored.filter((e) => e.rule === 'role-already-exists');
    checks.push({
      name: 'globals',
      kind: 'globals',
      passed: globals.passed,
      detail: globals.passed
        ? `roles restored${existing.length ? `; already there: ${existing.map((e) => /"(.+)"/.exec(e.message)?.[1] ?? e.message).join(', ')}` : ''}`
        : `globals.sql failed: ${globals.errors.slice(0, 5).join(' | ')}`,
    });
  }
  const schemas = new Set([
    ...options.schemas,
    ...options.tables.filter((t) => t.indexOf('.') > 0).map((t) => t.slice(0, t.indexOf('.'))),
  ]);
  await createSchemas(client, schemas);
  const restored = await restoreArchive(tools.pgRestore, files.dumpPath, target, {
    ...options,
    context: { targetMajor, clientMajor: options.clientVersions.pgRestore.major },
  });
  ignoredErrors.push(...restored.ignored);
  checks.push({
    name: 'restore',
    kind: 'restore',
    passed: restored.passed,
    detail: restored.passed
      ? `pg_restore ${restored.args.slice(0, -1).join(' ')} finished without errors${ignoredSummary(restored.ignored)}`
      : `pg_restore reported ${restored.errors.length} error(s): ${restored.errors.slice(0, 5).join(' | ')}${ignoredSummary(restored.ignored)}`,
  });
  return { checks, ignoredErrors };
}

/** The table and SQL checks of a restored database. */
export interface Verification {
  readonly checks: RestoreCheck[];
  readonly tables: RestoredTable[];
}

/**
 * Verifies a restored database against the manifest (the selected tables) and runs the SQL checks.
 * Uses up to `parallel` connections to count tables.
 */
export async function verifyRestore(
  target: ServerAddress,
  manifest: Manifest,
  options: {
    readonly tables: readonly string[];
    readonly schemas: readonly string[];
    readonly checks: readonly SqlCheck[];
    readonly parallel: number;
  },
): Promise<Verification> {
  const expected = manifest.tables.filter((t) => isSelected(t, options));
  const count = Math.max(1, Math.min(options.parallel, expected.length));
  const clients = await Promise.all(Array.from({ length: count }, () => connectTarget(target)));
  try {
    const tables = await verifyTables(clients, expected, manifest.hashSettings);
    const sql = await runSqlChecks(clients[0] as pg.Client, options.checks);
    return { checks: [...tables.checks, ...sql], tables: tables.tables };
  } finally {
    await Promise.all(clients.map((c) => c.end().catch(() => {})));
  }
}

/**
 * Checks that a downloaded archive is readable (`pg_restore --list`) without restoring it: the
 * `pgproof verify` path, after {@link downloadBackup}.
 */
export async function checkArchive(pgBinDir: string | undefined, dumpPath: string): Promise<RestoreCheck> {
  try {
    const entries = await listArchive(restoreTools(pgBinDir).pgRestore, dumpPath);
    const data = entries.filter((e) => e.description.startsWith('TABLE DATA ')).length;
    return {
      name: 'archive',
      kind: 'restore',
      passed: true,
      detail: `readable: ${entries.length} entries, ${data} with table data`,
    };
  } catch (error) {
    return { name: 'archive', kind: 'restore', passed: false, detail: oneLine(error) };
  }
}

/**
 * One whole restore for the runner: find the backup, download and check it, restore, verify, and
 * report. Throws only when no backup could be found (there is nothing to report on); every later
 * failure becomes the report's `error`.
 */
export async function runRestore(
  settings: RestoreSettings,
  deps: RestoreDependencies,
): Promise<RestoreReport> {
  const { s3, log, signal } = deps;
  const { manifestKey, manifest } = await findBackup(s3, settings.bucket, settings.prefix, settings.backup);
  const reportKey =
    settings.reportKey ??
    drillReportKey(settings.prefix, manifest.name, manifest.backupId, settings.startedAt);
  const target: ServerAddress = {
    host: settings.host,
    port: settings.port,
    user: settings.user,
    database: settings.database ?? manifest.database,
    ...(settings.targetNamedBy ? { namedBy: settings.targetNamedBy } : {}),
  };
  log('backup found', { manifestKey, backupId: manifest.backupId, bytes: manifest.dump.bytes });

  const checks: RestoreCheck[] = [];
  let tables: RestoredTable[] = [];
  let ignoredErrors: IgnoredRestoreError[] = [];
  const durations = { downloadSeconds: 0, restoreSeconds: 0, verifySeconds: 0 };
  let targetVersion: string | undefined;
  let error: string | undefined;
  const clock = () => deps.now().getTime();
  const work = await mkdtemp(join(settings.workDir, 'pgproof-restore-'));
  let client: pg.Client | undefined;
  try {
    const clientVersions = await assertCanRead(restoreTools(settings.pgBinDir), manifest.pgDump.version);
    let phase = clock();
    const files = await downloadBackup(s3, settings.bucket, manifest, work, {
      partBytes: settings.downloadPartBytes,
      concurrency: settings.downloadConcurrency,
      withGlobals: settings.restoreGlobals,
      signal,
      onProgress: deps.onDownloadProgress,
    });
    durations.downloadSeconds = (clock() - phase) / 1000;
    checks.push(files.check);
    log('downloaded', { seconds: durations.downloadSeconds, checksum: files.check.passed });

    if (files.check.passed) {
      phase = clock();
      client = await openTargetDatabase(target, settings.targetWaitSeconds);
      targetVersion = await serverVersion(client);
      await assertRestorableTarget(client, target, settings);
      const restored = await restoreBackup(files, target, client, {
        pgBinDir: settings.pgBinDir,
        clientVersions,
        jobs: settings.jobs,
        tables: settings.tables,
        schemas: settings.schemas,
        clean: settings.clean,
        // Without the backup's roles, ownership and grants would fail on every object.
        noOwner: settings.mode === 'drill' && files.globalsPath === undefined,
        signal,
        log: (line) => log('restore output', { line }),
      });
      checks.push(...restored.checks);
      ignoredErrors = restored.ignoredErrors;
      durations.restoreSeconds = (clock() - phase) / 1000;
      log('restored', { seconds: durations.restoreSeconds, targetVersion });

      phase = clock();
      // ANALYZE (on the restore connection) and the counts (on their own) read different things at
      // once; the database is ready for use when both are done.
      const [verification] = await Promise.all([
        verifyRestore(target, manifest, {
          tables: settings.tables,
          schemas: settings.schemas,
          checks: settings.checks,
          parallel: Math.min(settings.jobs, 4),
        }),
        analyzeDatabase(client),
      ]);
      checks.push(...verification.checks);
      tables = verification.tables;
      durations.verifySeconds = (clock() - phase) / 1000;
    }
  } catch (caught) {
    if (signal?.aborted && !(caught instanceof InterruptedError)) {
      error = new InterruptedError(String(signal.reason ?? 'a signal')).message;
    } else error = oneLine(caught);
    log('restore could not finish', { error });
  } finally {
    await client?.end().catch(() => {});
    await rm(work, { recursive: true, force: true });
  }

  return buildReport({
    mode: settings.mode,
    manifestKey,
    manifest,
    reportKey,
    startedAt: settings.startedAt,
    finishedAt: deps.now(),
    target: {
      host: target.host,
      port: target.port,
      database: target.database,
      ...(targetVersion ? { serverVersion: targetVersion } : {}),
    },
    checks,
    tables,
    ignoredErrors,
    durations,
    rtoSeconds: settings.rtoSeconds,
    error,
  });
}
