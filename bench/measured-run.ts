import { readFile } from 'node:fs/promises';
import type { S3Client } from '@aws-sdk/client-s3';
import type { PgCluster } from '../test/support/postgres.ts';
import { type ProcessResult, startProcess } from '../test/support/processes.ts';
import type { DataSet } from './dataset.ts';
import { byRole, MonitorWindow, type RoleUsage, roleSpan, type WatchedTree } from './process-monitor.ts';
import { type OperationTiming, readRequestLog, timeOperations } from './s3-requests.ts';

/**
 * One measured run of a program: its wall time and the memory and CPU of every process involved (its
 * own tree, the S3 server, the PostgreSQL server), and what the variants share to make one.
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
  /** Scratch space: A's, B's, G's and H's output, the restores' downloads, E's archive. */
  readonly workDir: string;
  readonly binDir: string;
  /** pg_restore -j for D, E and I (the runner's default: the number of CPUs). */
  readonly jobs: number;
  /** F's `DUMP_STREAMS` and G's `pg_dump -j` (`--streams`). */
  readonly streams: number;
  /** Extra node flags for the runners (e.g. `--cpu-prof`). */
  readonly nodeFlags: readonly string[];
  /** Extra environment for the runners (`--runner-env`). */
  readonly runnerEnv: Readonly<Record<string, string>>;
}

/** The archives of one backup taken in parallel (F), as its manifest and log describe them. */
export interface StreamsRun {
  /** The runner's plan (its `backup streams` log line): stream 0 first, then each data stream. */
  readonly planned: readonly { readonly tables: number; readonly bytes: number }[];
  /** Bytes of each archive stored, `dump.pgdump` first. */
  readonly archiveBytes: readonly number[];
}

/** One measured run of a variant. */
export interface VariantRun {
  readonly wallSeconds: number;
  /** Backups: the archive's size (all archives of a parallel backup). Restores: the restored database's size. */
  readonly outputBytes: number;
  readonly processes: Record<string, RoleUsage>;
  /** Phase timings where the variant reports them (C, F: from their logs; D, I: from their reports). */
  readonly phases?: Record<string, number>;
  /** The S3 server's requests during the run, by operation (the runners). */
  readonly s3Operations?: Record<string, OperationTiming>;
  /** C, F: how many objects the dump was stored as (segments and data streams). */
  readonly dumpObjects?: number;
  /** F: its streams. Absent when the runner took its dump in one stream. */
  readonly streams?: StreamsRun;
  /** CPU the whole machine used meanwhile, seconds: beyond its processes', other work's on a shared machine. */
  readonly machineCpuSeconds?: number;
}

/** A measured program's outcome. */
export interface Measured {
  readonly result: ProcessResult;
  readonly wallSeconds: number;
  readonly processes: Record<string, RoleUsage>;
  readonly s3Operations: Record<string, OperationTiming>;
  readonly machineCpuSeconds: number;
}

/**
 * A process of a variant's own tree: the runner is Node.js, known by its program (Node 24 names its main
 * thread `MainThread`, which is what /proc shows as its comm); the others keep their executable's name.
 */
export function roleOfVariantProcess(comm: string, cmdline: string): string {
  const program = cmdline.split(' ')[0]?.split('/').at(-1);
  return comm === 'node' || program === 'node' ? 'runner (node)' : comm;
}

/**
 * A server process: a backend serving a client, or the server's own (checkpointer, ...). A child that still
 * has the postmaster's command line has not set its title yet (a backend authenticating): undefined, asked
 * again; the postmaster itself never says, and is the server's ({@link SERVER_ROLE}).
 */
export function roleOfServerProcess(_comm: string, cmdline: string): string | undefined {
  if (!cmdline.startsWith('postgres: ')) return undefined;
  return /^postgres: \S+ \S+ (?:[\d.:a-f]+\(\d+\)|\[local\])/.test(cmdline)
    ? 'postgres backends'
    : SERVER_ROLE;
}

/** The report's name for the PostgreSQL server's own processes. */
export const SERVER_ROLE = 'postgres (server)';

/** Runs a program while sampling every process involved. */
export async function measure(
  context: BenchContext,
  file: string,
  args: readonly string[],
  env: Record<string, string>,
): Promise<Measured> {
  let root: number | undefined;
  const trees = (): WatchedTree[] => [
    { pid: context.s3.pid, role: () => context.s3.role },
    { pid: context.postmasterPid, role: roleOfServerProcess, fallbackRole: SERVER_ROLE },
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
  // What each process used while pg_dump ran: the part of a backup's CPU that grows with the data.
  return {
    result,
    wallSeconds,
    processes: byRole(usages, roleSpan(usages, 'pg_dump')),
    s3Operations,
    machineCpuSeconds: window.machineCpuSeconds,
  };
}

/** A variant's run from its measured program and what it wrote. */
export function variantRun(run: Measured, outputBytes: number): VariantRun {
  return {
    wallSeconds: run.wallSeconds,
    outputBytes,
    processes: run.processes,
    machineCpuSeconds: run.machineCpuSeconds,
  };
}

/** Throws, with the last lines of its stderr, when a measured program failed. */
export function assertSucceeded(what: string, result: ProcessResult): void {
  if (result.code !== 0) {
    throw new Error(
      `${what} failed (exit ${result.code ?? result.signal}): ${result.stderr.trim().split('\n').slice(-3).join(' | ')}`,
    );
  }
}

/** Lets the server write out what the last variant left dirty, so it does not slow the next one. */
export async function settle(context: BenchContext): Promise<void> {
  await context.cluster.query('postgres', 'CHECKPOINT');
  await startProcess('sync', [], {}).result;
}

/** `pg_database_size` of a database: a restore's output. */
export async function databaseBytes(context: BenchContext, database: string): Promise<number> {
  const [row] = await context.cluster.query<{ bytes: string }>(
    database,
    'SELECT pg_database_size(current_database()) AS bytes',
  );
  return Number(row?.bytes);
}

/** Drops a restore target, if there. */
export async function dropDatabase(context: BenchContext, database: string): Promise<void> {
  await context.cluster.query('postgres', `DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`);
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
