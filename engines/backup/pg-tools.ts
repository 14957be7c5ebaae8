import { execFile, spawn } from 'node:child_process';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { ConfigError, DatabaseError, PgproofError } from '../../core/errors.ts';
import type { BackupSettings } from './settings.ts';

/**
 * Seams around the PostgreSQL client programs: their versions, pg_dump's arguments, and the
 * processes themselves with their failures turned into one-line errors.
 */

const execFileAsync = promisify(execFile);

/** pg_dump failed: non-zero exit, a signal, or an error printed on stderr. */
export class DumpFailedError extends PgproofError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'DumpFailedError';
  }
}

/** Paths of the client programs. */
export interface PgTools {
  readonly pgDump: string;
  readonly pgDumpAll: string;
  readonly pgRestore: string;
}

/** The client programs in `binDir`, or on PATH. */
export function pgTools(binDir: string | undefined): PgTools {
  const at = (program: string) => (binDir ? join(binDir, program) : program);
  return { pgDump: at('pg_dump'), pgDumpAll: at('pg_dumpall'), pgRestore: at('pg_restore') };
}

/** A client program's version, e.g. `{ version: '15.18', major: 15 }`. */
export interface ClientVersion {
  readonly version: string;
  readonly major: number;
}

/** Reads `<program> --version`. */
export async function clientVersion(program: string): Promise<ClientVersion> {
  let stdout: string;
  try {
    ({ stdout } = await execFileAsync(program, ['--version']));
  } catch (cause) {
    throw new ConfigError(
      `cannot run ${program} (${(cause as Error).message.split('\n')[0]}); install the PostgreSQL client or set PG_BIN_DIR to its bin folder`,
      { cause },
    );
  }
  const match = /\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?/.exec(stdout);
  if (!match?.[1]) throw new ConfigError(`cannot read the version of ${program} from "${stdout.trim()}"`);
  return { version: match[2] ? `${match[1]}.${match[2]}` : match[1], major: Number(match[1]) };
}

/**
 * Refuses a server newer than the client: pg_dump cannot dump a newer major version, and trying
 * would fail only after the snapshot and upload have started.
 */
export function assertClientCanDump(
  client: ClientVersion,
  server: { version: string; versionNum: number },
): void {
  const serverMajor = Math.floor(server.versionNum / 10000);
  if (client.major < serverMajor) {
    throw new DatabaseError(
      `pg_dump ${client.version} cannot dump PostgreSQL ${server.version}: use a PostgreSQL ${serverMajor} or newer client (the pgproof image ships 18; locally set PG_BIN_DIR)`,
    );
  }
}

/**
 * The compression pg_dump applies: zstd inside pg_dump for clients 16 and newer, gzip level 1
 * (not the default 6, which halves throughput) for older ones. Returns the manifest's spelling
 * and pg_dump's argument.
 */
export function chooseCompression(
  client: ClientVersion,
  override: string | undefined,
): { compression: string; arg: string } {
  const wanted = override ?? (client.major >= 16 ? 'zstd:1' : 'gzip:1');
  const [method = 'none', level] = wanted.split(':');
  if (client.major >= 16) return { compression: wanted, arg: `--compress=${wanted}` };
  if (method === 'none') return { compression: 'none', arg: '--compress=0' };
  if (method === 'gzip') return { compression: `gzip:${level ?? '6'}`, arg: `--compress=${level ?? '6'}` };
  throw new ConfigError(
    `DUMP_COMPRESSION=${wanted} needs pg_dump 16 or newer, this one is ${client.version}; use gzip:N or none`,
  );
}

/** pg_dump's arguments for a dump of the exported snapshot (no secrets: they go to the manifest). */
export function pgDumpArgs(settings: BackupSettings, snapshotId: string, compressionArg: string): string[] {
  return [
    '--format=custom',
    compressionArg,
    `--snapshot=${snapshotId}`,
    '--no-password',
    ...settings.includeSchemas.map((p) => `--schema=${p}`),
    ...settings.excludeSchemas.map((p) => `--exclude-schema=${p}`),
    ...settings.includeTables.map((p) => `--table=${p}`),
    ...settings.excludeTables.map((p) => `--exclude-table=${p}`),
  ];
}

/** A running pg_dump. */
export interface DumpProcess {
  readonly stdout: Readable;
  /** Resolves when pg_dump exited cleanly; rejects with a {@link DumpFailedError} otherwise. */
  readonly finished: Promise<void>;
  /** Stops pg_dump (the backup is being abandoned). */
  kill(): void;
}

/** Collects a child's stderr, logging each line, keeping the last few for the error message. */
function collectStderr(stream: Readable, onLine: (line: string) => void): () => string[] {
  const lines: string[] = [];
  let partial = '';
  stream.setEncoding('utf8');
  stream.on('data', (text: string) => {
    const parts = (partial + text).split('\n');
    partial = parts.pop() ?? '';
    for (const line of parts) {
      if (!line.trim()) continue;
      onLine(line);
      lines.push(line);
      if (lines.length > 20) lines.shift();
    }
  });
  return () => (partial.trim() ? [...lines, partial] : lines);
}

/** pg_dump prints `pg_dump: error: ...` even in cases where it still exits 0 (rare); both fail the dump. */
const ERROR_LINE = /^pg_dump(all)?: error: /;

/** A table named in a COPY command: `public.accounts`, `sales."Odd Name"`. */
const COPIED_TABLE = /COPY ((?:"(?:[^"]|"")+"|[^\s."]+)\.(?:"(?:[^"]|"")+"|[^\s."(]+))/;

/**
 * The first error line and the `detail:` lines after it (where the server's own message is). A dump
 * refused by row-level security (the backup role lacks BYPASSRLS and a table has policies) also says
 * which role and table, and the two ways out.
 */
function explainError(lines: readonly string[]): string | undefined {
  const at = lines.findIndex((l) => ERROR_LINE.test(l));
  if (at < 0) return undefined;
  const details = [];
  for (const line of lines.slice(at + 1)) {
    if (!/^pg_dump(all)?: detail: /.test(line)) break;
    details.push(line.replace(/^pg_dump(all)?: detail: /, ''));
  }
  const text = [lines[at], ...details].join(' ');
  const policy = /query would be affected by row-level security policy for table "((?:[^"]|"")+)"/.exec(text);
  if (!policy) return text;
  const table = COPIED_TABLE.exec(text)?.[1] ?? `"${policy[1]}"`;
  const user = process.env.PGUSER;
  const who = user === undefined ? 'the backup role' : `the backup role "${user}"`;
  const name =
    user === undefined
      ? '<role>'
      : /^[a-z_][a-z0-9_$]*$/.test(user)
        ? user
        : `"${user.replaceAll('"', '""')}"`;
  return `${text}; ${who} is subject to row-level security on ${table}: grant it BYPASSRLS (ALTER ROLE ${name} BYPASSRLS, as a superuser or, on RDS, the master user), or leave the table out (EXCLUDE_TABLES=${table})`;
}

/** How a child program logs in, when not by libpq's environment alone. */
export interface ChildLogin {
  /**
   * The password of the program's one connection (a signed IAM token). It reaches the child only as
   * its own PGPASSWORD: never an argument (visible to every process), never this process's environment.
   */
  readonly password?: string;
}

/** A child's environment: this process's, plus the password of its connection when one was given. */
function childEnvironment(login: ChildLogin): NodeJS.ProcessEnv | undefined {
  return login.password === undefined ? undefined : { ...process.env, PGPASSWORD: login.password };
}

/** Starts pg_dump with the source's libpq environment; stdout is the archive. */
export function startPgDump(
  program: string,
  args: string[],
  onStderr: (line: string) => void,
  login: ChildLogin = {},
): DumpProcess {
  const child = spawn(program, args, { stdio: ['ignore', 'pipe', 'pipe'], env: childEnvironment(login) });
  const stderr = collectStderr(child.stderr, onStderr);
  let killed = false;
  const finished = new Promise<void>((resolve, reject) => {
    child.on('error', (cause) =>
      reject(new DumpFailedError(`cannot start ${program}: ${cause.message}; set PG_BIN_DIR`, { cause })),
    );
    child.on('close', (code, signal) => {
      const lines = stderr();
      const errorLine = explainError(lines);
      if (code === 0 && !errorLine) return resolve();
      const why = errorLine ?? lines.at(-1) ?? (signal ? `killed by ${signal}` : `exit status ${code}`);
      reject(
        new DumpFailedError(
          killed
            ? `pg_dump was stopped: ${why}`
            : `pg_dump failed (${signal ?? `exit ${code}`}): ${why}; nothing was kept: fix the cause and run the backup again`,
        ),
      );
    });
  });
  // Consumers await `finished` at the end; an early failure must not be an unhandled rejection meanwhile.
  finished.catch(() => {});
  return {
    stdout: child.stdout,
    finished,
    kill() {
      if (child.exitCode === null && child.signalCode === null) {
        killed = true;
        child.kill('SIGTERM');
      }
    },
  };
}

/** Runs `pg_dumpall --globals-only --no-role-passwords` (roles and tablespaces, never passwords). */
export async function dumpGlobals(
  program: string,
  database: string,
  onStderr: (line: string) => void,
  login: ChildLogin = {},
): Promise<Buffer> {
  const child = spawn(
    program,
    ['--globals-only', '--no-role-passwords', '--no-password', `--database=${database}`],
    { stdio: ['ignore', 'pipe', 'pipe'], env: childEnvironment(login) },
  );
  const stderr = collectStderr(child.stderr, onStderr);
  const chunks: Buffer[] = [];
  child.stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
  await new Promise<void>((resolve, reject) => {
    child.on('error', (cause) =>
      reject(new DumpFailedError(`cannot start ${program}: ${cause.message}`, { cause })),
    );
    child.on('close', (code, signal) => {
      const lines = stderr();
      const errorLine = explainError(lines);
      if (code === 0 && !errorLine) return resolve();
      reject(
        new DumpFailedError(
          `pg_dumpall --globals-only failed (${signal ?? `exit ${code}`}): ${errorLine ?? lines.at(-1) ?? 'no message'}; set DUMP_GLOBALS=false if the role may not read roles`,
        ),
      );
    });
  });
  return Buffer.concat(chunks);
}
