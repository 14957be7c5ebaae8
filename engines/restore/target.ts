import pg from 'pg';
import { DatabaseError, describePgError, type ServerAddress } from '../../core/errors.ts';
import { batchSmallTables, quoteIdent } from '../../core/table-stats.ts';

/**
 * The database a backup is restored into: reaching it (a drill's sidecar may still be starting),
 * creating it when missing, refusing to mix a restore into existing data, and ANALYZE afterwards.
 */

/** The target holds objects already, and cleaning was not asked for. */
export class TargetNotEmptyError extends DatabaseError {
  /** `cleanHint`: how the person asks for a clean restore, e.g. "pass --clean". */
  constructor(address: ServerAddress, objects: number, cleanHint: string) {
    super(
      `database "${address.database}" on ${address.host}:${address.port} is not empty (${objects} tables, views or sequences): restoring into it would mix data; restore into an empty database, or ${cleanHint} to drop the backup's objects first`,
    );
    this.name = 'TargetNotEmptyError';
  }
}

const RETRYABLE = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', '57P03']);

/**
 * How long one connection attempt may take: a host that drops packets (a security group that does not
 * let the task in) fails in seconds, not after the operating system's two minutes.
 */
const CONNECT_TIMEOUT_MS = 10_000;

/** True when `error` (from {@link connectTarget}) says the database does not exist. */
export function isMissingDatabase(error: unknown): boolean {
  return ((error as Error | undefined)?.cause as { code?: string } | undefined)?.code === '3D000';
}

/** A target and, when it is not libpq's own (PGPASSWORD, ~/.pgpass), the password to log in with. */
export interface TargetLogin extends ServerAddress {
  readonly password?: string;
}

/** Connects, retrying for `waitSeconds` while the server is not up yet. */
export async function connectTarget(address: TargetLogin, waitSeconds = 0): Promise<pg.Client> {
  const deadline = Date.now() + waitSeconds * 1000;
  for (;;) {
    const client = new pg.Client({
      host: address.host,
      port: address.port,
      user: address.user,
      database: address.database,
      application_name: 'pgproof-restore',
      connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
      ...(address.password === undefined ? {} : { password: address.password }),
    });
    try {
      await client.connect();
      client.on('error', () => {});
      return client;
    } catch (error) {
      await client.end().catch(() => {});
      const code = (error as { code?: string }).code ?? '';
      if (/timeout/i.test((error as Error).message ?? '') && !code) {
        const message = `no answer within ${CONNECT_TIMEOUT_MS / 1000} s`;
        throw describePgError(
          Object.assign(new Error(message), { code: 'ETIMEDOUT' }),
          address,
          'connecting',
        );
      }
      if (!RETRYABLE.has(code) || Date.now() >= deadline) throw describePgError(error, address, 'connecting');
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }
}

/**
 * Opens the target database, creating it first when it does not exist (a drill's fresh server has
 * only `postgres`; a restore may name a new database).
 */
export async function openTargetDatabase(address: ServerAddress, waitSeconds = 0): Promise<pg.Client> {
  try {
    return await connectTarget(address, waitSeconds);
  } catch (error) {
    if (isMissingDatabase(error)) {
      const maintenance = await connectTarget({ ...address, database: 'postgres' }, waitSeconds);
      try {
        await maintenance.query(`CREATE DATABASE ${quoteIdent(address.database)}`);
      } catch (cause) {
        throw describePgError(cause, address, `creating database "${address.database}"`);
      } finally {
        await maintenance.end().catch(() => {});
      }
      return connectTarget(address, 0);
    }
    throw error;
  }
}

/** The server's version, e.g. `15.8`. */
export async function serverVersion(client: pg.Client): Promise<string> {
  const { rows } = await client.query<{ version: string }>(
    "SELECT current_setting('server_version') AS version",
  );
  return rows[0]?.version.split(' ')[0] ?? 'unknown';
}

/** The server's major version, e.g. 15. */
export async function serverMajor(client: pg.Client): Promise<number> {
  const { rows } = await client.query<{ num: string }>("SELECT current_setting('server_version_num') AS num");
  return Math.floor(Number(rows[0]?.num) / 10000);
}

/** Tables, views and sequences outside the system schemas. */
export async function countUserRelations(client: pg.Client): Promise<number> {
  const { rows } = await client.query<{ n: string }>(
    `SELECT count(*) AS n FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
       AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'`,
  );
  return Number(rows[0]?.n ?? 0);
}

/** Refuses a target that holds relations unless it is to be cleaned (`cleanHint` says how). */
export async function assertRestorableTarget(
  client: pg.Client,
  address: ServerAddress,
  options: { readonly clean: boolean; readonly cleanHint: string },
): Promise<void> {
  if (options.clean) return;
  const objects = await countUserRelations(client);
  if (objects > 0) throw new TargetNotEmptyError(address, objects, options.cleanHint);
}

/**
 * Creates schemas a selective restore needs: pg_restore's `-n`/`-t` restore objects in a schema but
 * not the schema itself. `owner`: the role that restores into them, when it is not the one connected.
 */
export async function createSchemas(
  client: pg.Client,
  schemas: Iterable<string>,
  owner?: string,
): Promise<void> {
  const authorization = owner === undefined ? '' : ` AUTHORIZATION ${quoteIdent(owner)}`;
  for (const schema of schemas) {
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(schema)}${authorization}`);
  }
}

/**
 * Refreshes the planner's statistics: a restored database has none, and its first queries would crawl.
 * Table by table over `sessions` connections at once, the largest first (as `vacuumdb --analyze-only
 * --jobs` does), the small ones 50 to a statement (`batchSmallTables`, as the counts): one `ANALYZE`
 * samples the tables one after another, which on a database of a few large tables took longer than
 * restoring them. Each session is `login`'s, so a table it may not analyze is skipped with PostgreSQL's
 * warning, as the database-wide `ANALYZE` skips it.
 */
export async function analyzeDatabase(login: TargetLogin, sessions: number): Promise<void> {
  const first = await connectTarget(login);
  const clients = [first];
  try {
    const { rows } = await first.query<{ name: string; bytes: string }>(
      `SELECT format('%I.%I', n.nspname, c.relname) AS name, pg_total_relation_size(c.oid) AS bytes
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE c.relkind IN ('r', 'm', 'p') AND c.relpersistence <> 't'
         AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_toast'
       ORDER BY 1`,
    );
    // Small tables are analyzed 50 to a statement: for thousands of them the round trips are the cost.
    const queue = batchSmallTables(rows.map((row) => ({ name: row.name, bytes: Number(row.bytes) }))).map(
      (batch) => batch.map((table) => table.name).join(', '),
    );
    const more = Math.min(Math.max(1, sessions), queue.length) - 1;
    clients.push(...(await Promise.all(Array.from({ length: more }, () => connectTarget(login)))));
    await Promise.all(
      clients.map(async (client) => {
        for (let table = queue.shift(); table !== undefined; table = queue.shift()) {
          await client.query(`ANALYZE ${table}`);
        }
      }),
    );
  } finally {
    await Promise.all(clients.map((client) => client.end().catch(() => {})));
  }
}
