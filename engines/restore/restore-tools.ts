import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseTocListing, type TocEntry } from '../../core/archive-toc.ts';
import type { IgnoredRestoreError } from '../../core/drill-report.ts';
import { ConfigError, InterruptedError } from '../../core/errors.ts';
import { type ClientVersion, clientVersion } from '../backup/pg-tools.ts';
import { describeRestoreFailure } from './archive-places.ts';
import { IDENT } from './checked-statements.ts';
import { classifyErrors, parsePgRestoreErrors, type RestoreContext } from './restore-errors.ts';
import { parseTableSelection } from './selection.ts';

/**
 * Seams around the PostgreSQL client program a restore runs: `pg_restore` for the archive and its
 * listing (globals.sql is applied as SQL statements, globals.ts, never by psql). Each returns what a
 * report needs instead of throwing on the archive's own errors: those fail a check, they do not stop
 * the runner.
 */

/** Paths of the client programs. */
export interface RestoreTools {
  readonly pgRestore: string;
}

/** The client programs in `binDir`, or on PATH. */
export function restoreTools(binDir: string | undefined): RestoreTools {
  const at = (program: string) => (binDir ? join(binDir, program) : program);
  return { pgRestore: at('pg_restore') };
}

/** What to install when the local client is older than the backup's pg_dump. */
function clientInstallHint(major: number): string {
  return `install the PostgreSQL ${major} client (Debian/Ubuntu: postgresql-client-${major} from the PostgreSQL apt repository; macOS: brew install libpq) and put its bin folder first on PATH, or pass its folder (pgproof: --pg-bin-dir; runners: PG_BIN_DIR)`;
}

/**
 * Refuses a pg_restore older than the archive's pg_dump: it cannot read a newer archive format, and would
 * say so only after the download. Returns its version, which the benign-error rules look at.
 */
export async function assertCanRead(tools: RestoreTools, pgDumpVersion: string): Promise<ClientVersion> {
  const pgRestore = await clientVersion(tools.pgRestore);
  const archiveMajor = Number(pgDumpVersion.split('.')[0]);
  if (pgRestore.major < archiveMajor) {
    throw new ConfigError(
      `pg_restore ${pgRestore.version} is older than the pg_dump ${pgDumpVersion} that wrote this backup: ${clientInstallHint(archiveMajor)}`,
    );
  }
  return pgRestore;
}

/** Where a program connects: libpq variables added to the runner's own environment. */
export interface Connection {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly database: string;
  /**
   * The password, given to the program's environment only (never its arguments).
   * @default - libpq's own: PGPASSWORD in the runner's environment, or ~/.pgpass
   */
  readonly password?: string;
}

function libpqEnv(connection: Connection): NodeJS.ProcessEnv {
  return {
    ...process.env,
    PGHOST: connection.host,
    PGPORT: String(connection.port),
    PGUSER: connection.user,
    PGDATABASE: connection.database,
    ...(connection.password === undefined ? {} : { PGPASSWORD: connection.password }),
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

/** How a step that reports errors and goes on (pg_restore) went. */
export interface StepResult {
  readonly passed: boolean;
  /** Errors a benign rule accepted, with the rule's reason (restore-errors.ts). */
  readonly ignored: readonly IgnoredRestoreError[];
  /** Every other error, as the program printed it: any one of them fails the step. */
  readonly errors: readonly string[];
}

/** What the benign rules may look at, and how to stop the step. */
export interface StepOptions {
  readonly context: RestoreContext;
  readonly signal?: AbortSignal;
  readonly log?: (line: string) => void;
}

/** What `pg_restore` is asked to restore. */
export interface PgRestoreSelection {
  readonly jobs: number;
  /** Only these tables (`schema.table` or `table`). */
  readonly tables: readonly string[];
  /** Only these schemas. */
  readonly schemas: readonly string[];
  /** Drop the archive's objects before recreating them (`--clean --if-exists`). */
  readonly clean: boolean;
  /** Leave every object to the restoring user (`--no-owner`). */
  readonly noOwner: boolean;
  /** Skip grants (`--no-privileges`): the roles they name were not restored. */
  readonly noPrivileges: boolean;
  /** Restore only the entries of this `pg_restore --list` file (`--use-list`). */
  readonly listFile?: string;
  /**
   * Restore only this section of the archive (`--section`): `pre-data` (definitions), `data` (rows,
   * sequence values, large objects), `post-data` (indexes, constraints, triggers, materialized views'
   * data). @default - every section
   */
  readonly section?: ArchiveSection;
}

/** The sections of an archive, in the order they restore. */
export const ARCHIVE_SECTIONS = ['pre-data', 'data', 'post-data'] as const;
export type ArchiveSection = (typeof ARCHIVE_SECTIONS)[number];

/** What `pg_restore` is asked to restore, and what the benign-error rules look at. */
export interface ArchiveRestoreOptions extends PgRestoreSelection, StepOptions {}

/** How pg_restore went. */
export interface ArchiveRestoreResult extends StepResult {
  readonly args: readonly string[];
}

/**
 * pg_restore's arguments. `-t` in pg_restore takes a bare table name; a `schema.table` becomes
 * `-n schema -t table` (selection.ts reads the names). Each name is one argument: any character survives.
 */
export function pgRestoreArgs(file: string, options: PgRestoreSelection): string[] {
  const args = ['--no-password', `--jobs=${options.jobs}`];
  const schemas = new Set(options.schemas);
  const tables: string[] = [];
  for (const table of options.tables.map(parseTableSelection)) {
    if (table.schema !== undefined) schemas.add(table.schema);
    tables.push(table.name);
  }
  for (const schema of schemas) args.push(`--schema=${schema}`);
  for (const table of tables) args.push(`--table=${table}`);
  if (options.clean) args.push('--clean', '--if-exists');
  if (options.noOwner) args.push('--no-owner');
  if (options.noPrivileges) args.push('--no-privileges');
  if (options.listFile !== undefined) args.push(`--use-list=${options.listFile}`);
  if (options.section !== undefined) args.push(`--section=${options.section}`);
  args.push(file);
  return args;
}

/**
 * Restores an archive file into the target database with `pg_restore -j N`. pg_restore goes on after
 * an error and exits 1 at the end; the step passes when it exited 0, or exited 1 having reported only
 * errors that a benign rule accepts.
 */
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
  const reported = parsePgRestoreErrors(result.stderr);
  const { ignored, failing } = classifyErrors(reported, options.context);
  // Each failure is named by its place in the archive, read from the listing only when one failed.
  const listing =
    failing.length === 0 ? [] : (await archiveListing(pgRestore, file).catch(() => '')).split('\n');
  const errors = failing.map((e) => describeRestoreFailure(e, listing));
  const finished = result.code === 0 || (result.code === 1 && reported.length > 0);
  if (!finished && errors.length === 0) {
    errors.push(
      result.stderr.trim().split('\n').at(-1) || `pg_restore exited with ${result.signal ?? result.code}`,
    );
  }
  return { passed: errors.length === 0, args, ignored, errors };
}

/** The archive's table of contents (`pg_restore --list`): proves a file is a readable archive. */
export async function listArchive(pgRestore: string, file: string): Promise<TocEntry[]> {
  return parseTocListing(await archiveListing(pgRestore, file));
}

/** The text of `pg_restore --list`: a list file `--use-list` takes once edited. */
export async function archiveListing(pgRestore: string, file: string): Promise<string> {
  return pgRestoreOutput(pgRestore, ['--list', file]);
}

/**
 * How many entries of the archive `selection` (one table or one schema) selects: `pg_restore --list`
 * applies `-n`/`-t` exactly as a restore does.
 */
export async function listSelected(
  pgRestore: string,
  file: string,
  selection: Pick<PgRestoreSelection, 'tables' | 'schemas'>,
): Promise<number> {
  return parseTocListing(await pgRestoreOutput(pgRestore, ['--list', ...selectionArgs(file, selection)]))
    .length;
}

/** pg_restore's arguments for reading (not restoring) `file`'s entries that `selection` picks. */
function selectionArgs(
  file: string,
  selection: Pick<PgRestoreSelection, 'tables' | 'schemas' | 'listFile'>,
): string[] {
  const args = pgRestoreArgs(file, {
    ...selection,
    jobs: 1,
    clean: false,
    noOwner: false,
    noPrivileges: false,
  });
  return args.filter((a) => !a.startsWith('--jobs='));
}

/**
 * The SQL script pg_restore would run for the entries of `listFile` (and `selection`), written to
 * stdout instead of a database: read, never run as it is.
 */
export async function archiveScript(
  pgRestore: string,
  file: string,
  listFile: string,
  selection: Pick<PgRestoreSelection, 'tables' | 'schemas'>,
): Promise<string> {
  return pgRestoreOutput(pgRestore, ['--file=-', ...selectionArgs(file, { ...selection, listFile })]);
}

/** The one statement `pg_restore --clean --if-exists` writes to drop a foreign key, and nothing else. */
const DROP_FOREIGN_KEY = new RegExp(
  `^ALTER TABLE IF EXISTS (?:ONLY )?${IDENT}\\.${IDENT} DROP CONSTRAINT IF EXISTS ${IDENT};$`,
);

/**
 * The statements that drop the archive's foreign keys, as `pg_restore --clean --if-exists` writes them
 * (read from its script, each line checked to have that one shape). A restore by sections drops each
 * section's objects in its own pass: a table that another table's foreign key references could not be
 * dropped by the pre-data pass, its foreign key being post-data; one pg_restore drops those first.
 */
export async function archiveForeignKeyDrops(
  pgRestore: string,
  file: string,
  work: string,
): Promise<string[]> {
  const listing = await archiveListing(pgRestore, file);
  const foreignKeys = parseTocListing(listing).filter((e) => e.description.startsWith('FK CONSTRAINT '));
  if (foreignKeys.length === 0) return [];
  const list = join(work, 'foreign-keys.list');
  await writeFile(
    list,
    foreignKeys.map((e) => `${e.dumpId}; ${e.tableOid} ${e.oid} ${e.description}`).join('\n'),
  );
  const script = await pgRestoreOutput(pgRestore, [
    '--file=-',
    '--clean',
    '--if-exists',
    `--use-list=${list}`,
    file,
  ]);
  return script.split('\n').filter((line) => DROP_FOREIGN_KEY.test(line));
}

/** What pg_restore printed, or a ConfigError with its last message. */
async function pgRestoreOutput(pgRestore: string, args: readonly string[]): Promise<string> {
  const result = await run(pgRestore, args, process.env, undefined, () => {});
  if (result.code !== 0) {
    throw new ConfigError(
      `pg_restore ${args[0]} cannot read ${args.at(-1)}: ${result.stderr.trim().split('\n').at(-1) ?? 'no message'}`,
    );
  }
  return result.stdout;
}
