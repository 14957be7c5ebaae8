import { join } from 'node:path';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { parseRestoreReport, RESTORE_PHASES, type RestoreReport } from '../core/drill-report.ts';
import { backupKeys, formatBackupId } from '../core/layout.ts';
import { dumpArchives, dumpSegments, type Manifest, parseManifest } from '../core/manifest.ts';
import { toolchain } from '../core/toolchain.ts';
import { lastLine } from '../test/support/processes.ts';
import {
  assertSucceeded,
  type BenchContext,
  databaseBytes,
  dropDatabase,
  measure,
  type StreamsRun,
  type VariantRun,
  variantRun,
} from './measured-run.ts';

/**
 * The pgproof runners as the container image runs them (bundled, `NODE_OPTIONS` as in the image,
 * configured by their environment contract): the backup runner in one stream (C) and in parallel mode
 * (F), the restore runner on each one's backup (D, I).
 */

/** The backup variants, and the restore variant of each one's backup. */
export type BackupVariant = 'C' | 'F';
export type RestoreVariant = 'D' | 'I';
const RESTORED: Record<RestoreVariant, BackupVariant> = { D: 'C', I: 'F' };

/**
 * The id of round `round`'s backup by C or F (ids sort by time; the rounds' are one second apart, F's an
 * hour after C's so both fit in one round).
 */
export function roundBackupId(round: number, backup: BackupVariant): string {
  return formatBackupId(new Date(Date.UTC(2026, 0, 1, backup === 'C' ? 0 : 1, 0, round)));
}

/** A backup's manifest as the runner stored it. */
export async function readBackupManifest(context: BenchContext, backupId: string): Promise<Manifest> {
  const key = backupKeys('', context.dataSet.database, backupId).manifest;
  const response = await context.s3.client.send(
    new GetObjectCommand({ Bucket: context.s3.bucket, Key: key }),
  );
  return parseManifest((await response.Body?.transformToString()) ?? '', key);
}

/** One line of a runner's JSON log (EMF metrics are JSON too, and have no message). */
export interface LogEntry {
  readonly message?: string;
  readonly timestamp?: string;
  readonly [field: string]: unknown;
}

/** The JSON log lines of a runner's stdout. */
export function logEntries(stdout: string): LogEntry[] {
  const entries: LogEntry[] = [];
  for (const line of stdout.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      entries.push(JSON.parse(line) as LogEntry);
    } catch {
      // A line that only starts like JSON.
    }
  }
  return entries;
}

/** Seconds between the runner's start and each of its log messages' first occurrence. */
export function phasesFromLog(
  entries: readonly LogEntry[],
  startedAtMs: number,
  messages: readonly string[],
): Record<string, number> {
  const phases: Record<string, number> = {};
  for (const { message, timestamp } of entries) {
    if (message && messages.includes(message) && timestamp && !(message in phases)) {
      phases[message] = (Date.parse(timestamp) - startedAtMs) / 1000;
    }
  }
  return phases;
}

/** The data streams the runner planned (its `backup streams` line): tables and table bytes of each. */
export function plannedDataStreams(entries: readonly LogEntry[]): StreamsRun['planned'] {
  const plan = entries.find((e) => e.message === 'backup streams')?.data;
  if (!Array.isArray(plan)) return [];
  return plan.map((s: { tables?: unknown; bytes?: unknown }) => ({
    tables: Number(s.tables),
    bytes: Number(s.bytes),
  }));
}

/** The log messages a backup's phases are timed by. */
export const BACKUP_PHASE_MESSAGES = [
  'backup started',
  'snapshot exported',
  'backup streams',
  'backup succeeded',
] as const;

/** C (`DUMP_STREAMS=1`) or F (`DUMP_STREAMS=--streams`): one backup into the S3 server. */
export async function backupRunner(
  context: BenchContext,
  round: number,
  id: BackupVariant,
): Promise<VariantRun> {
  const backupId = roundBackupId(round, id);
  const startedAtMs = Date.now();
  const run = await measure(
    context,
    process.execPath,
    [...context.nodeFlags, join(context.distDir, 'pg-dump.mjs')],
    {
      ...context.cluster.env(context.dataSet.database),
      ...context.s3.env,
      BACKUP_ID: backupId,
      PG_BIN_DIR: context.binDir,
      // As the image runs them.
      NODE_OPTIONS: toolchain.runnerNodeOptions,
      ...context.runnerEnv,
      // C is one stream whatever the machine (the runner's default is its CPUs).
      DUMP_STREAMS: String(id === 'C' ? 1 : context.streams),
    },
  );
  assertSucceeded(`the backup runner (${id})`, run.result);
  const manifest = await readBackupManifest(context, backupId);
  const archives = dumpArchives(manifest.dump);
  const log = logEntries(run.result.stdout);
  return {
    ...variantRun(
      run,
      archives.reduce((sum, archive) => sum + archive.bytes, 0),
    ),
    s3Operations: run.s3Operations,
    dumpObjects: archives.reduce((sum, archive) => sum + dumpSegments(archive).length, 0),
    phases: phasesFromLog(log, startedAtMs, BACKUP_PHASE_MESSAGES),
    ...(archives.length > 1
      ? { streams: { planned: plannedDataStreams(log), archiveBytes: archives.map((a) => a.bytes) } }
      : {}),
  };
}

/** D (of C's backup) or I (of F's): a drill's restore into a new database of the same server. */
export async function restoreRunner(
  context: BenchContext,
  round: number,
  id: RestoreVariant,
): Promise<VariantRun> {
  const database = `bench_restore_${id.toLowerCase()}`;
  await dropDatabase(context, database);
  // The runner creates the database itself, as it does on a drill's fresh server.
  const run = await measure(
    context,
    process.execPath,
    [...context.nodeFlags, join(context.distDir, 'pg-restore.mjs')],
    {
      ...context.cluster.env(database),
      ...context.s3.env,
      MANIFEST_KEY: backupKeys('', context.dataSet.database, roundBackupId(round, RESTORED[id])).manifest,
      RESTORE_JOBS: String(context.jobs),
      WORK_DIR: context.workDir,
      PG_BIN_DIR: context.binDir,
      NODE_OPTIONS: toolchain.runnerNodeOptions,
      ...context.runnerEnv,
    },
  );
  assertSucceeded(`the restore runner (${id})`, run.result);
  const report: RestoreReport = parseRestoreReport(lastLine(run.result.stdout), 'the restore runner stdout');
  if (!report.passed)
    throw new Error(
      `the restore runner (${id}) reported a failed restore: ${report.error ?? 'a check failed'}`,
    );
  const outputBytes = await databaseBytes(context, database);
  await dropDatabase(context, database);
  const durations = report.durations;
  const phases: Record<string, number> = {};
  for (const { phase, field } of RESTORE_PHASES) {
    const seconds = durations[field];
    if (seconds !== undefined) phases[phase] = seconds;
  }
  const reported =
    (durations.preflightSeconds ?? 0) +
    durations.downloadSeconds +
    durations.restoreSeconds +
    durations.verifySeconds;
  return {
    ...variantRun(run, outputBytes),
    s3Operations: run.s3Operations,
    phases: { ...phases, 'start, find, report': run.wallSeconds - reported },
  };
}
