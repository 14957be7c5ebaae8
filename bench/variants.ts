import { createWriteStream } from 'node:fs';
import { mkdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { parseRestoreReport, type RestoreReport } from '../core/drill-report.ts';
import { backupKeys, formatBackupId } from '../core/layout.ts';
import { dumpSegments, parseManifest } from '../core/manifest.ts';
import { toolchain } from '../core/toolchain.ts';
import { chooseCompression, clientVersion } from '../engines/backup/pg-tools.ts';
import { classifyErrors, parsePgRestoreErrors } from '../engines/restore/restore-errors.ts';
import { pgRestoreArgs } from '../engines/restore/restore-tools.ts';
import type { PgCluster } from '../test/support/postgres.ts';
import { lastLine, type ProcessResult, startProcess } from '../test/support/processes.ts';
import type { DataSet } from './dataset.ts';
import type { VariantId } from './options.ts';
import { byRole, MonitorWindow, type RoleUsage, type WatchedTree } from './process-monitor.ts';
import { type OperationTiming, readRequestLog, timeOperations } from './s3-requests.ts';

/**
 * The five variants, each one measured run: its wall time, what it wrote, and the memory and CPU of
 * every process involved (its own tree, the S3 server, the PostgreSQL server).
 */

/** What the variants share within one scale. */
export interface BenchContext {
  readonly cluster: PgCluster;
  readonly dataSet: DataSet;
  readonly s3: {
    readonly client: S3Client;
    readonly bucket: string;
    readonly env: Record<string, string>;
    readonly pid: number;
    /** Where the S3 server logs its requests (see s3-server.ts). */
    readonly requestLog: string;
    /** Its processes' name in the report: `s3rver (node)`, or `s3 sink (node)`. */
    readonly role: string;
  };
  /** pid of the PostgreSQL postmaster (its backends are measured as the server's share). */
  readonly postmasterPid: number;
  /** The bundled runners (`node containers/build.mjs`), as the container image runs them. */
  readonly distDir: string;
  /** Scratch space: A's and B's files, D's download, E's archive. */
  readonly workDir: string;
  readonly binDir: string;
  /** pg_restore -j for D and E (the runner's default: the number of CPUs). */
  readonly jobs: number;
  /** Extra node flags for the runners (e.g. `--cpu-prof`). */
  readonly nodeFlags: readonly string[];
  /** Extra environment for the runners (`--runner-env`). */
  readonly runnerEnv: Readonly<Record<string, string>>;
}

/** One measured run of a variant. */
export interface VariantRun {
  readonly wallSeconds: number;
  /** Backups: the archive's size. Restores: the restored database's size. */
  readonly outputBytes: number;
  readonly processes: Record<string, RoleUsage>;
  /** Phase timings where the variant reports them (C: from its logs; D: from its report). */
  readonly phases?: Record<string, number>;
  /** The S3 server's requests during the run, by operation (C and D). */
  readonly s3Operations?: Record<string, OperationTiming>;
  /** C: how many objects the dump was stored as (more than one: segments, as with `--force-segments`). */
  readonly dumpObjects?: number;
}

/** What each variant is, for the report. */
export const VARIANT_LABELS: Record<VariantId, string> = {
  A: 'pg_dump -Fc, default compression (gzip 6), to a local file',
  B: "pg_dump -Fc with pgproof's compression, to a local file",
  C: 'pgproof backup runner, end to end into the S3 server',
  D: 'pgproof restore runner: download, SHA-256, pg_restore -j, ANALYZE, verify',
  E: 'pg_restore -j of the same archive from a local file',
};

/** The restore targets, recreated each round. */
const RESTORE_DATABASE: Record<'D' | 'E', string> = { D: 'bench_restore_d', E: 'bench_restore_e' };

/** The id of round `round`'s backup (ids sort by time; the rounds' are one second apart). */
export function roundBackupId(round: number): string {
  return formatBackupId(new Date(Date.UTC(2026, 0, 1, 0, 0, round)));
}

/**
 * A process of a variant's own tree: the runner is Node.js, known by its program (Node 24 names its main
 * thread `MainThread`, which is what /proc shows as its comm); the others keep their executable's name.
 */
export function roleOfVariantProcess(comm: string, cmdline: string): string {
  const program = cmdline.split(' ')[0]?.split('/').at(-1);
  return comm === 'node' || program === 'node' ? 'runner (node)' : comm;
}

/** A server process: a backend serving a client, or the server's own (postmaster, checkpointer, ...). */
export function roleOfServerProcess(_comm: string, cmdline: string): string {
  return /^postgres: \S+ \S+ [\d.:a-f]+\(\d+\)/.test(cmdline) ? 'postgres backends' : 'postgres (server)';
}

/** Runs a program while sampling every process involved. */
async function measure(
  context: BenchContext,
  file: string,
  args: readonly string[],
  env: Record<string, string>,
): Promise<{
  result: ProcessResult;
  wallSeconds: number;
  processes: Record<string, RoleUsage>;
  s3Operations: Record<string, OperationTiming>;
}> {
  let root: number | undefined;
  const trees = (): WatchedTree[] => [
    { pid: context.s3.pid, role: () => context.s3.role },
    { pid: context.postmasterPid, role: roleOfServerProcess },
    ...(root ? [{ pid: root, role: roleOfVariantProcess }] : []),
  ];
  const window = MonitorWindow.open(trees);
  const startedMs = Date.now();
  const started = process.hrtime.bigint();
  const child = startProcess(file, args, env);
  root = child.pid;
  const result = await child.result;
  const wallSeconds = Number(process.hrtime.bigint() - started) / 1e9;
  const usages = window.close();
  const s3Operations = timeOperations(await readRequestLog(context.s3.requestLog), startedMs, Date.now());
  return { result, wallSeconds, processes: byRole(usages), s3Operations };
}

function assertSucceeded(what: string, result: ProcessResult): void {
  if (result.code !== 0) {
    throw new Error(
      `${what} failed (exit ${result.code ?? result.signal}): ${result.stderr.trim().split('\n').slice(-3).join(' | ')}`,
    );
  }
}

/**
 * Bare pg_restore exits 1 on errors it went past; the 17+ client's "SET transaction_timeout" on an older
 * server is one such, and benign: the same rules as the restore runner's decide (restore-errors.ts).
 */
async function assertRestored(context: BenchContext, result: ProcessResult): Promise<void> {
  if (result.code === 0) return;
  const client = await clientVersion(join(context.binDir, 'pg_restore'));
  const { failing } = classifyErrors(parsePgRestoreErrors(result.stderr), {
    targetMajor: context.cluster.major,
    clientMajor: client.major,
  });
  if (result.code !== 1 || failing.length > 0) assertSucceeded('pg_restore (E)', result);
}

/** Lets the server write out what the last variant left dirty, so it does not slow the next one. */
export async function settle(context: BenchContext): Promise<void> {
  await context.cluster.query('postgres', 'CHECKPOINT');
  await startProcess('sync', [], {}).result;
}

async function pgDumpToFile(
  context: BenchContext,
  id: 'A' | 'B',
  compressionArgs: string[],
): Promise<VariantRun> {
  const file = join(context.workDir, `${id}.pgdump`);
  const run = await measure(
    context,
    join(context.binDir, 'pg_dump'),
    ['--format=custom', ...compressionArgs, '--no-password', `--file=${file}`],
    context.cluster.env(context.dataSet.database),
  );
  assertSucceeded(`pg_dump (${id})`, run.result);
  const outputBytes = (await stat(file)).size;
  await rm(file, { force: true });
  return { wallSeconds: run.wallSeconds, outputBytes, processes: run.processes };
}

/** Seconds between the runner's start and each of its log messages' first occurrence. */
export function phasesFromLog(
  stdout: string,
  startedAtMs: number,
  messages: readonly string[],
): Record<string, number> {
  const phases: Record<string, number> = {};
  for (const line of stdout.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const entry = JSON.parse(line) as { message?: string; timestamp?: string };
      if (
        entry.message &&
        messages.includes(entry.message) &&
        entry.timestamp &&
        !(entry.message in phases)
      ) {
        phases[entry.message] = (Date.parse(entry.timestamp) - startedAtMs) / 1000;
      }
    } catch {
      // Not a log line (EMF metrics are JSON too, and have no message).
    }
  }
  return phases;
}

async function backupRunner(context: BenchContext, round: number): Promise<VariantRun> {
  const backupId = roundBackupId(round);
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
    },
  );
  assertSucceeded('the backup runner (C)', run.result);
  const keys = backupKeys('', context.dataSet.database, backupId);
  const manifest = parseManifest(await getText(context, keys.manifest), keys.manifest);
  return {
    wallSeconds: run.wallSeconds,
    outputBytes: manifest.dump.bytes,
    processes: run.processes,
    s3Operations: run.s3Operations,
    dumpObjects: dumpSegments(manifest.dump).length,
    phases: phasesFromLog(run.result.stdout, startedAtMs, [
      'backup started',
      'snapshot exported',
      'backup succeeded',
    ]),
  };
}

async function getText(context: BenchContext, key: string): Promise<string> {
  const response = await context.s3.client.send(
    new GetObjectCommand({ Bucket: context.s3.bucket, Key: key }),
  );
  return (await response.Body?.transformToString()) ?? '';
}

async function databaseBytes(context: BenchContext, database: string): Promise<number> {
  const [row] = await context.cluster.query<{ bytes: string }>(
    database,
    'SELECT pg_database_size(current_database()) AS bytes',
  );
  return Number(row?.bytes);
}

async function dropRestoreDatabase(context: BenchContext, id: 'D' | 'E'): Promise<void> {
  await context.cluster.query('postgres', `DROP DATABASE IF EXISTS "${RESTORE_DATABASE[id]}" WITH (FORCE)`);
}

async function restoreRunner(context: BenchContext, round: number): Promise<VariantRun> {
  const database = RESTORE_DATABASE.D;
  await dropRestoreDatabase(context, 'D');
  // The runner creates the database itself, as it does on a drill's fresh server.
  const run = await measure(
    context,
    process.execPath,
    [...context.nodeFlags, join(context.distDir, 'pg-restore.mjs')],
    {
      ...context.cluster.env(database),
      ...context.s3.env,
      MANIFEST_KEY: backupKeys('', context.dataSet.database, roundBackupId(round)).manifest,
      RESTORE_JOBS: String(context.jobs),
      WORK_DIR: context.workDir,
      PG_BIN_DIR: context.binDir,
      NODE_OPTIONS: toolchain.runnerNodeOptions,
      ...context.runnerEnv,
    },
  );
  assertSucceeded('the restore runner (D)', run.result);
  const report: RestoreReport = parseRestoreReport(lastLine(run.result.stdout), 'the restore runner stdout');
  if (!report.passed)
    throw new Error(`the restore runner (D) reported a failed restore: ${report.error ?? 'a check failed'}`);
  const outputBytes = await databaseBytes(context, database);
  await dropRestoreDatabase(context, 'D');
  const { downloadSeconds, restoreSeconds, verifySeconds, totalSeconds } = report.durations;
  return {
    wallSeconds: run.wallSeconds,
    outputBytes,
    processes: run.processes,
    s3Operations: run.s3Operations,
    phases: {
      download: downloadSeconds,
      restore: restoreSeconds,
      verify: verifySeconds,
      'start, find, report': run.wallSeconds - (downloadSeconds + restoreSeconds + verifySeconds),
      total: totalSeconds,
    },
  };
}

async function plainRestore(context: BenchContext, round: number): Promise<VariantRun> {
  const database = RESTORE_DATABASE.E;
  // The archive C uploaded this round, fetched (untimed) to a local file: its objects, in order.
  const file = join(context.workDir, 'E.pgdump');
  const keys = backupKeys('', context.dataSet.database, roundBackupId(round));
  const manifest = parseManifest(await getText(context, keys.manifest), keys.manifest);
  await rm(file, { force: true });
  for (const segment of dumpSegments(manifest.dump)) {
    const response = await context.s3.client.send(
      new GetObjectCommand({ Bucket: context.s3.bucket, Key: segment.key, VersionId: segment.versionId }),
    );
    await pipeline(response.Body as NodeJS.ReadableStream, createWriteStream(file, { flags: 'a' }));
  }
  await dropRestoreDatabase(context, 'E');
  await context.cluster.query('postgres', `CREATE DATABASE "${database}"`);
  await settle(context);
  const args = pgRestoreArgs(file, {
    jobs: context.jobs,
    tables: [],
    schemas: [],
    clean: false,
    noOwner: false,
    noPrivileges: false,
  });
  const run = await measure(
    context,
    join(context.binDir, 'pg_restore'),
    [`--dbname=${database}`, ...args],
    context.cluster.env(database),
  );
  await assertRestored(context, run.result);
  const outputBytes = await databaseBytes(context, database);
  await dropRestoreDatabase(context, 'E');
  await rm(file, { force: true });
  return { wallSeconds: run.wallSeconds, outputBytes, processes: run.processes };
}

/** Runs one variant once (round numbers start at 1; D and E use the backup C took in that round). */
export async function runVariant(context: BenchContext, id: VariantId, round: number): Promise<VariantRun> {
  await mkdir(context.workDir, { recursive: true });
  switch (id) {
    case 'A':
      return pgDumpToFile(context, 'A', []);
    case 'B': {
      const client = await clientVersion(join(context.binDir, 'pg_dump'));
      return pgDumpToFile(context, 'B', [chooseCompression(client, undefined).arg]);
    }
    case 'C':
      return backupRunner(context, round);
    case 'D':
      return restoreRunner(context, round);
    case 'E':
      return plainRestore(context, round);
  }
}

/** pid of the postmaster: the parent of the checkpointer (which, unlike a backend, outlives the query). */
export async function findPostmasterPid(cluster: PgCluster): Promise<number> {
  const [row] = await cluster.query<{ pid: number }>(
    'postgres',
    "SELECT pid FROM pg_stat_activity WHERE backend_type = 'checkpointer'",
  );
  const status = await readFile(`/proc/${row?.pid}/status`, 'utf8');
  return Number(/^PPid:\s+(\d+)/m.exec(status)?.[1]);
}
