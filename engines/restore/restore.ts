import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import type pg from 'pg';
import type {
  DrReport,
  IgnoredRestoreError,
  RestoreCheck,
  RestoredTable,
  RestoreReport,
} from '../../core/drill-report.ts';
import { InterruptedError, oneLine, type ServerAddress } from '../../core/errors.ts';
import { findBackup } from '../../core/find-backup.ts';
import { drillReportKey } from '../../core/layout.ts';
import { dumpTotalBytes } from '../../core/manifest.ts';
import { downloadBackup } from './download-backup.ts';
import { preflight } from './preflight.ts';
import { measureReplication } from './replication.ts';
import { buildReport, type ReportInput } from './report.ts';
import { restoreBackup } from './restore-backup.ts';
import { assertCanRead, listSelected, restoreTools } from './restore-tools.ts';
import { assertSelectionMatches, parseTableSelection, selectionName } from './selection.ts';
import type { RestoreSettings } from './settings.ts';
import { analyzeDatabase, assertRestorableTarget, openTargetDatabase, serverVersion } from './target.ts';
import { verifyRestore } from './verify-restore.ts';

export { type DownloadedBackup, downloadBackup } from './download-backup.ts';
export { type RestoreOptions, type RestoreOutcome, restoreBackup } from './restore-backup.ts';
export { checkArchive, type Verification, verifyRestore } from './verify-restore.ts';

/**
 * A restore, phase by phase: download (and SHA-256 check, download-backup.ts), restore (globals,
 * pg_restore -j N, restore-backup.ts), verify (tables and SQL checks, with ANALYZE alongside,
 * verify-restore.ts). Each phase is its own exported function so that the CLI (`pgproof restore`,
 * `pgproof verify`) and the benchmark call them directly; {@link runRestore} chains them for the
 * runner and turns the outcome into a report.
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
  const found = await findBackup(s3, settings.bucket, settings.prefix, settings.backup);
  const { manifestKey, manifest } = found;
  const reportKey =
    settings.reportKey ??
    drillReportKey(settings.prefix, manifest.name, manifest.backupId, settings.startedAt);
  const target: ServerAddress = {
    host: settings.host,
    port: settings.port,
    user: settings.user,
    database: settings.database ?? manifest.database,
    ...(settings.wording.target ? { namedBy: settings.wording.target } : {}),
  };
  log('backup found', { manifestKey, backupId: manifest.backupId, bytes: dumpTotalBytes(manifest.dump) });

  const checks: RestoreCheck[] = [];
  let tables: RestoredTable[] = [];
  let ignoredErrors: IgnoredRestoreError[] = [];
  const durations: ReportInput['durations'] = { downloadSeconds: 0, restoreSeconds: 0, verifySeconds: 0 };
  let preflightNotes: readonly string[] | undefined;
  let dr: DrReport | undefined;
  let targetVersion: string | undefined;
  let error: string | undefined;
  const clock = () => deps.now().getTime();
  const work = await mkdtemp(join(settings.workDir, 'pgproof-restore-'));
  let client: pg.Client | undefined;
  try {
    if (settings.kind === 'dr') {
      // Measured first: the newest replicated backup's age is the drill's finding even if the restore fails.
      dr = await measureReplication(s3, {
        bucket: settings.bucket,
        prefix: settings.prefix,
        name: manifest.name,
        region: settings.region ?? (await s3.config.region()),
        drilled: found,
        startedAt: settings.startedAt,
      });
      log('replication measured', { ...dr });
    }
    const pgRestoreVersion = await assertCanRead(restoreTools(settings.pgBinDir), manifest.pgDump.version);
    let phase = clock();
    // Everything that can be known about the target before the download is checked first.
    const checked = await preflight(target, manifest, {
      mode: settings.mode,
      clean: settings.clean,
      waitSeconds: settings.targetWaitSeconds,
      workDir: settings.workDir,
      withGlobals: settings.restoreGlobals,
      wording: settings.wording,
    });
    targetVersion = checked.serverVersion;
    preflightNotes = checked.notes;
    durations.preflightSeconds = (clock() - phase) / 1000;
    log('preflight passed', { seconds: durations.preflightSeconds, notes: checked.notes });

    phase = clock();
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
      // A selection that matches nothing would restore an empty database and pass: refused first.
      const pgRestore = restoreTools(settings.pgBinDir).pgRestore;
      await assertSelectionMatches(
        (selection) => listSelected(pgRestore, files.dumpPath, selection),
        manifest,
        settings,
        settings.wording,
      );
      phase = clock();
      client = await openTargetDatabase(target, settings.targetWaitSeconds);
      targetVersion = await serverVersion(client);
      // Checked again: something may have written into the database during the download.
      await assertRestorableTarget(client, target, {
        clean: settings.clean,
        cleanHint: settings.wording.clean,
      });
      const restored = await restoreBackup(files, target, client, {
        pgBinDir: settings.pgBinDir,
        pgRestoreVersion,
        globalsHint: settings.wording.globals,
        jobs: settings.jobs,
        tables: settings.tables,
        schemas: settings.schemas,
        clean: settings.clean,
        // A drill's archive is untrusted: nothing in it may run as the scratch server's superuser.
        asRestoringRole: settings.mode === 'drill',
        work,
        signal,
        log: (line) => log('restore output', { line }),
      });
      checks.push(...restored.checks);
      ignoredErrors = restored.ignoredErrors;
      durations.restoreSeconds = (clock() - phase) / 1000;
      Object.assign(durations, restored.phases);
      log('restored', { seconds: durations.restoreSeconds, targetVersion, ...restored.phases });

      phase = clock();
      // The restoring role verifies what it restored (restoring-role.ts): the SQL checks read the
      // archive's views and functions, which must not run as a superuser.
      const verifyAs = restored.restoredAs ?? target;
      // ANALYZE and the counts (on their own connections) read different things at once; the database
      // is ready for use when both are done.
      const [verification] = await Promise.all([
        verifyRestore(verifyAs, manifest, {
          tables: settings.tables.map((t) => selectionName(parseTableSelection(t))),
          schemas: settings.schemas,
          checks: settings.checks,
          parallel: Math.min(settings.jobs, 4),
        }),
        analyzeDatabase(verifyAs, Math.min(settings.jobs, 4)).then(() => {
          durations.analyzeSeconds = (clock() - phase) / 1000;
        }),
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
    ...(preflightNotes ? { preflight: { notes: [...preflightNotes] } } : {}),
    rtoSeconds: settings.rtoSeconds,
    error,
    ...(dr ? { dr } : {}),
    ...(settings.selection ? { selection: settings.selection } : {}),
    ...(settings.retrieval ? { retrieval: settings.retrieval } : {}),
  });
}
