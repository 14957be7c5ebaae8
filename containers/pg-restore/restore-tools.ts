import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { parseTocListing, type TocEntry } from '../../core/archive-toc.ts';
import { ConfigError, InterruptedError } from '../../core/errors.ts';
import { type ClientVersion, clientVersion } from '../pg-dump/pg-tools.ts';

/**
 * Seams around the PostgreSQL client programs a restore runs: `psql` for the globals,
 * `pg_restore` for the archive and its listing. Each returns what a report needs instead of throwing
 * on the archive's own errors: those fail a check, they do not stop the runner.
 */

/** Paths of the client programs. */
export interface RestoreTools {
  readonly pgRestore: string;
  readonly psql: string;
}

/** The client programs in `binDir`, or on PATH. */
export function restoreTools(binDir: string | undefined): RestoreTools {
  const at = (program: string) => (binDir ? join(binDir, program) : program);
  return { pgRestore: at('pg_restore'), psql: at('psql') };
}

/**
 * Refuses an archive written by a newer pg_dump than this pg_restore: it cannot read the archive's
 * format, and would say so only after the download.
 */
export async function assertCanRead(pgRestore: string, pgDumpVersion: string): Promise<ClientVersion> {
  const client = await clientVersion(pgRestore);
  const archiveMajor = Number(pgDumpVersion.split('.')[0]);
  if (client.major < archiveMajor) {
    throw new ConfigError(
      `pg_restore ${client.version} cannot read an archive written by pg_dump ${pgDumpVersion}: use a PostgreSQL ${archiveMajor} or newer client (the pgproof image ships one; locally set PG_BIN_DIR)`,
    );
  }
  return client;
}

/** Where a program connects: libpq variables added to the runner's own environment. */
export interface Connection {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly database: string;
}

function libpqEnv(connection: Connection): NodeJS.ProcessEnv {
  return {
    ...process.env,
    PGHOST: connection.host,
    PGPORT: String(connection.port),
    PGUSER: connection.user,
    PGDATABASE: connection.database,
  };
}

interface Finished {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a program to its end, collecting its output; a signal stops it. */
function run(
  program: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  signal: AbortSignal | undefined,
  onStderrLine: (line: string) => void,
): Promise<Finished> {
  return new Promise((resolve, reject) => {
    const child = spawn(program, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let partial = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => {
      stdout += text;
    });
    child.stderr.setEncoding('utf8').on('data', (text: string) => {
      stderr += text;
      const lines = (partial + text).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) if (line.trim()) onStderrLine(line);
    });
    const stop = () => child.kill('SIGTERM');
    signal?.addEventListener('abort', stop);
    child.on('error', (cause) => {
      signal?.removeEventListener('abort', stop);
      reject(
        new ConfigError(
          `cannot run ${program} (${cause.message}); install the PostgreSQL client or set PG_BIN_DIR`,
          { cause },
        ),
      );
    });
    child.on('close', (code, exitSignal) => {
      signal?.removeEventListener('abort', stop);
      if (partial.trim()) onStderrLine(partial);
      if (signal?.aborted) return reject(new InterruptedError(String(signal.reason ?? 'a signal')));
      resolve({ code, signal: exitSignal, stdout, stderr });
    });
  });
}

/** How applying globals.sql went. */
export interface GlobalsResult {
  readonly passed: boolean;
  /** Roles that already existed (not an error: the target keeps its own). */
  readonly existing: readonly string[];
  /** Any other error, as psql printed it. */
  readonly errors: readonly string[];
}

/**
 * Applies globals.sql (roles, tablespaces) with psql, statement after statement: a role that already
 * exists is expected (the target's own superuser at least) and not an error; anything else is.
 */
export async function restoreGlobals(
  psql: string,
  file: string,
  connection: Connection,
  options: { signal?: AbortSignal; log?: (line: string) => void } = {},
): Promise<GlobalsResult> {
  const result = await run(
    psql,
    ['-X', '-q', '--no-password', '-v', 'ON_ERROR_STOP=0', '-f', file],
    libpqEnv(connection),
    options.signal,
    (line) => options.log?.(line),
  );
  const existing: string[] = [];
  const errors: string[] = [];
  for (const line of result.stderr.split('\n')) {
    const error = /ERROR:\s+(.*)$/.exec(line)?.[1];
    if (!error) continue;
    const role = /^role "(.+)" already exists$/.exec(error)?.[1];
    if (role) existing.push(role);
    else errors.push(error);
  }
  if (result.code !== 0 && errors.length === 0) {
    errors.push(
      result.stderr.trim().split('\n').at(-1) || `psql exited with ${result.signal ?? result.code}`,
    );
  }
  return { passed: errors.length === 0, existing, errors };
}

/** What `pg_restore` is asked to restore. */
export interface ArchiveRestoreOptions {
  readonly jobs: number;
  /** Only these tables (`schema.table` or `table`). */
  readonly tables: readonly string[];
  /** Only these schemas. */
  readonly schemas: readonly string[];
  /** Drop the archive's objects before recreating them (`--clean --if-exists`). */
  readonly clean: boolean;
  /** Skip ownership and grants (the roles were not restored). */
  readonly noOwner: boolean;
  readonly signal?: AbortSignal;
  readonly log?: (line: string) => void;
}

/** How pg_restore went. */
export interface ArchiveRestoreResult {
  readonly passed: boolean;
  readonly args: readonly string[];
  /** The errors pg_restore reported (it goes on after an error and counts them at the end). */
  readonly errors: readonly string[];
}

/**
 * pg_restore's arguments. `-t` in pg_restore takes a bare table name; a `schema.table` becomes
 * `-n schema -t table`.
 */
export function pgRestoreArgs(file: string, options: ArchiveRestoreOptions): string[] {
  const args = ['--no-password', `--jobs=${options.jobs}`];
  const schemas = new Set(options.schemas);
  const tables: string[] = [];
  for (const table of options.tables) {
    const dot = table.indexOf('.');
    if (dot > 0) {
      schemas.add(table.slice(0, dot));
      tables.push(table.slice(dot + 1));
    } else tables.push(table);
  }
  for (const schema of schemas) args.push(`--schema=${schema}`);
  for (const table of tables) args.push(`--table=${table}`);
  if (options.clean) args.push('--clean', '--if-exists');
  if (options.noOwner) args.push('--no-owner', '--no-privileges');
  args.push(file);
  return args;
}

/** Restores an archive file into the target database with `pg_restore -j N`. */
export async function restoreArchive(
  pgRestore: string,
  file: string,
  connection: Connection,
  options: ArchiveRestoreOptions,
): Promise<ArchiveRestoreResult> {
  const args = pgRestoreArgs(file, options);
  const result = await run(
    pgRestore,
    [`--dbname=${connection.database}`, ...args],
    libpqEnv(connection),
    options.signal,
    (line) => options.log?.(line),
  );
  const errors = result.stderr
    .split('\n')
    .filter((line) => line.startsWith('pg_restore: error: '))
    .map((line) => line.slice('pg_restore: error: '.length));
  if (result.code !== 0 && errors.length === 0) {
    errors.push(
      result.stderr.trim().split('\n').at(-1) || `pg_restore exited with ${result.signal ?? result.code}`,
    );
  }
  return { passed: result.code === 0 && errors.length === 0, args, errors };
}

/** The archive's table of contents (`pg_restore --list`): proves a file is a readable archive. */
export async function listArchive(pgRestore: string, file: string): Promise<TocEntry[]> {
  const result = await run(pgRestore, ['--list', file], process.env, undefined, () => {});
  if (result.code !== 0) {
    throw new ConfigError(
      `pg_restore --list cannot read ${file}: ${result.stderr.trim().split('\n').at(-1) ?? 'no message'}`,
    );
  }
  return parseTocListing(result.stdout);
}
