import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import pg from 'pg';
import { readInventory, readSequences } from '../../core/catalog-inventory.ts';
import { ConfigError, DatabaseError, describePgError, type ServerAddress } from '../../core/errors.ts';
import type { Inventory, SequenceState } from '../../core/inventory.ts';
import type { TableStat, VerifyLevel } from '../../core/manifest.ts';
import {
  applyHashSettings,
  batchSmallTables,
  measureTables,
  SMALL_TABLE_BATCHES,
  type TableRef,
} from '../../core/table-stats.ts';
import type { AuthTokenProvider } from './iam-token.ts';
import type { IamAuthSettings } from './settings.ts';
import type { StreamCandidate } from './streams.ts';

/**
 * How the snapshot's connection logs in with IAM authentication. Without it, node-postgres takes
 * libpq's variables (PGPASSWORD, PGSSLMODE) from the environment itself.
 */
export interface IamConnection {
  /** Called for the connection's password: a token signed for this very connection. */
  readonly token: AuthTokenProvider;
  /** TLS that verifies the server, as libpq would under the same PGSSLMODE and PGSSLROOTCERT. */
  readonly ssl: ConnectionOptions;
}

/**
 * node-postgres' TLS options for a verifying `PGSSLMODE`. node-postgres reads neither PGSSLROOTCERT nor
 * the difference between verify-ca and verify-full, so they are spelled out here: the runner then trusts
 * exactly what pg_dump (libpq) trusts.
 */
export function verifiedTls(iamAuth: Pick<IamAuthSettings, 'sslMode' | 'sslRootCert'>): ConnectionOptions {
  let ca: string | undefined;
  if (iamAuth.sslRootCert !== undefined) {
    try {
      ca = readFileSync(iamAuth.sslRootCert, 'utf8');
    } catch (cause) {
      throw new ConfigError(
        `cannot read PGSSLROOTCERT ${iamAuth.sslRootCert} (${(cause as NodeJS.ErrnoException).code ?? (cause as Error).message}); set it to the PEM file of the certificate authority that signed the server's certificate`,
        { cause },
      );
    }
  }
  return {
    rejectUnauthorized: true,
    ...(ca === undefined ? {} : { ca }),
    // verify-ca: the chain is checked, the host name is not (libpq's meaning).
    ...(iamAuth.sslMode === 'verify-ca' ? { checkServerIdentity: () => undefined } : {}),
  };
}

/** Node's codes for a server certificate that did not verify. */
const UNVERIFIED_CERTIFICATE_CODES = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** A login or TLS failure of an IAM login, with the fixes that apply to it; `undefined` for any other error. */
function describeIamLoginError(error: unknown, address: ServerAddress): DatabaseError | undefined {
  const e = (error ?? {}) as { code?: string; message?: string };
  const where = `${address.host}:${address.port}`;
  // Node may add advice of its own after a ";" (--use-system-ca): the fix here is another one.
  const reason = (e.message ?? '').split(';')[0];
  if (e.code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    return new DatabaseError(
      `the TLS certificate of PostgreSQL at ${where} does not name "${address.host}" (${reason}); set PGHOST to the endpoint the certificate names, or PGSSLMODE=verify-ca`,
      { cause: error },
    );
  }
  if (UNVERIFIED_CERTIFICATE_CODES.has(e.code ?? '')) {
    return new DatabaseError(
      `cannot verify the TLS certificate of PostgreSQL at ${where} (${reason}); set PGSSLROOTCERT to the certificate authority that signed it (the image trusts the Amazon RDS ones)`,
      { cause: error },
    );
  }
  if (e.code === '28P01' || e.code === '28000') {
    return new DatabaseError(
      `cannot log in to PostgreSQL at ${where} as "${address.user}" with an IAM token: ${e.message}; grant the user rds_iam (GRANT rds_iam TO ${address.user}) and let the task role rds-db:connect as it`,
      { cause: error },
    );
  }
  return undefined;
}

/** Tables a counting session measures in one transaction (and so holds a lock on at most). */
export const COUNTING_LOCKS = 100;

/** A table to measure, with its size on disk (the largest are measured first). */
export interface SizedTable extends TableRef {
  readonly bytes: number;
}

/** A session of the backup's login: libpq's environment, or with `iam`, a token signed for it. */
function connectionTo(address: ServerAddress, iam: IamConnection | undefined): pg.Client {
  return new pg.Client({
    host: address.host,
    port: address.port,
    user: address.user,
    database: address.database,
    application_name: 'pgproof-backup',
    keepAlive: true,
    ...(iam ? { password: iam.token, ssl: iam.ssl } : {}),
  });
}

/**
 * The exported snapshot a dump is taken in. One REPEATABLE READ READ ONLY transaction exports its
 * snapshot for `pg_dump --snapshot` and stays open until pg_dump ends (an exported snapshot lives only
 * as long as its transaction); the tables are measured in sessions that import it.
 */
export class DumpSnapshot {
  private constructor(
    private readonly client: pg.Client,
    private readonly address: ServerAddress,
    private readonly iam: IamConnection | undefined,
    /** The id pg_dump imports. */
    readonly id: string,
    readonly server: { version: string; versionNum: number },
    /** `pg_database_size` of the source: the upper bound used to size upload parts. */
    readonly databaseBytes: number,
    /** Rejects if the connection drops while the snapshot is held. */
    readonly lost: Promise<never>,
  ) {}

  /**
   * Connects and exports a snapshot. The password comes from libpq's environment, or with `iam`, from
   * a token signed for this connection.
   */
  static async open(address: ServerAddress, iam?: IamConnection): Promise<DumpSnapshot> {
    const client = connectionTo(address, iam);
    let rejectLost: (error: Error) => void = () => {};
    const lost = new Promise<never>((_, reject) => {
      rejectLost = reject;
    });
    lost.catch(() => {});
    client.on('error', (error) => rejectLost(describePgError(error, address, 'holding the dump snapshot')));
    client.on('end', () =>
      rejectLost(describePgError(new Error('Connection terminated'), address, 'holding the dump snapshot')),
    );
    try {
      await client.connect();
      // The transaction idles while pg_dump works: a server-side idle timeout would kill the snapshot.
      await client.query(
        "SET idle_in_transaction_session_timeout = 0; SET statement_timeout = 0; SET lock_timeout = '5min'",
      );
      await applyHashSettings(client);
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      const { rows } = await client.query<{ id: string; version: string; num: string; bytes: string }>(
        `SELECT pg_export_snapshot() AS id, current_setting('server_version') AS version,
                current_setting('server_version_num') AS num, pg_database_size(current_database()) AS bytes`,
      );
      const row = rows[0];
      if (!row) throw new Error('pg_export_snapshot() returned no row');
      return new DumpSnapshot(
        client,
        address,
        iam,
        row.id,
        { version: row.version.split(' ')[0] ?? row.version, versionNum: Number(row.num) },
        Number(row.bytes),
        lost,
      );
    } catch (error) {
      await client.end().catch(() => {});
      throw (
        (iam && describeIamLoginError(error, address)) ??
        describePgError(error, address, 'opening the dump snapshot')
      );
    }
  }

  /** Names of tables by OID, in the snapshot (ordered by schema and name), with their size on disk. */
  async tablesByOid(oids: readonly number[]): Promise<SizedTable[]> {
    if (oids.length === 0) return [];
    try {
      const { rows } = await this.client.query<{ schema: string; name: string; bytes: string }>(
        `SELECT n.nspname AS schema, c.relname AS name, pg_relation_size(c.oid) AS bytes
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE c.oid = ANY($1::oid[]) AND c.relkind = 'r' ORDER BY 1, 2`,
        [oids],
      );
      return rows.map((row) => ({ schema: row.schema, name: row.name, bytes: Number(row.bytes) }));
    } catch (error) {
      throw describePgError(error, this.address, 'reading the table list');
    }
  }

  /**
   * The tables a parallel dump may share out (streams.ts): every ordinary table of the snapshot outside
   * the system schemas and extensions, with `pg_table_size` (its rows and TOAST); pg_dump's patterns
   * decide later which of them the dump holds. Those under `minBytes` come back only as their total.
   */
  async streamCandidates(minBytes: number): Promise<{ candidates: StreamCandidate[]; restBytes: number }> {
    try {
      const { rows } = await this.client.query<{ oid: number; schema: string; name: string; bytes: string }>(
        `SELECT c.oid, n.nspname AS schema, c.relname AS name, pg_table_size(c.oid) AS bytes
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE c.relkind = 'r' AND c.relpersistence <> 't'
           AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%'
           AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                           AND d.objid = c.oid AND d.deptype = 'e')`,
      );
      const tables = rows.map((row) => ({ ...row, oid: Number(row.oid), bytes: Number(row.bytes) }));
      return {
        candidates: tables.filter((t) => t.bytes >= minBytes),
        restBytes: tables.filter((t) => t.bytes < minBytes).reduce((sum, t) => sum + t.bytes, 0),
      };
    } catch (error) {
      throw describePgError(error, this.address, 'sizing the tables for the dump streams');
    }
  }

  /**
   * Row counts (and hashes) of tables, in the snapshot, over `connections` sessions at once that import
   * it (`SET TRANSACTION SNAPSHOT`), so they see exactly the rows pg_dump dumps. Each session takes the
   * largest work not yet done: a large table alone, or a batch of small ones in one statement
   * ({@link SMALL_TABLE_BATCHES}). A session starts a new transaction in the same snapshot before it
   * would hold more than {@link COUNTING_LOCKS} tables' locks: a count locks its table until its
   * transaction ends, and pg_dump already holds a lock on every table. The stats come back in the order
   * the tables were given.
   */
  async measure(
    tables: readonly SizedTable[],
    level: VerifyLevel,
    connections = 1,
    batching: { readonly smallTableBytes: number; readonly tablesPerStatement: number } = SMALL_TABLE_BATCHES,
  ): Promise<TableStat[]> {
    const sessions: pg.Client[] = [];
    const stats = new Map<SizedTable, TableStat>();
    const queue = batchSmallTables(tables, batching);
    try {
      const imported = await Promise.allSettled(
        Array.from({ length: Math.min(Math.max(1, connections), queue.length) }, () => this.importSnapshot()),
      );
      for (const result of imported) if (result.status === 'fulfilled') sessions.push(result.value);
      const failed = imported.find((result) => result.status === 'rejected');
      if (failed) throw failed.reason;
      await Promise.all(
        sessions.map(async (session) => {
          let locked = 0;
          for (let batch = queue.shift(); batch; batch = queue.shift()) {
            if (locked > 0 && locked + batch.length > COUNTING_LOCKS) {
              await session.query('COMMIT');
              await this.beginInSnapshot(session);
              locked = 0;
            }
            const measured = await measureTables(session, batch, level);
            batch.forEach((table, index) => {
              const stat = measured[index];
              if (stat) stats.set(table, stat);
            });
            locked += batch.length;
          }
        }),
      );
    } catch (error) {
      queue.length = 0;
      throw describePgError(error, this.address, 'counting rows');
    } finally {
      await Promise.all(sessions.map((session) => session.end().catch(() => {})));
    }
    return tables.map((table) => {
      const stat = stats.get(table);
      if (!stat) throw new Error(`no count was taken of ${table.schema}.${table.name}`);
      return stat;
    });
  }

  /** Another session in this snapshot, with the hash settings: for measuring tables. */
  private async importSnapshot(): Promise<pg.Client> {
    const client = connectionTo(this.address, this.iam);
    client.on('error', () => {});
    try {
      await client.connect();
      await client.query('SET idle_in_transaction_session_timeout = 0; SET statement_timeout = 0');
      await applyHashSettings(client);
      await this.beginInSnapshot(client);
      return client;
    } catch (error) {
      await client.end().catch(() => {});
      throw error;
    }
  }

  private async beginInSnapshot(client: pg.Client): Promise<void> {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    await client.query(`SET TRANSACTION SNAPSHOT ${pg.escapeLiteral(this.id)}`);
  }

  /** The sequences' state now: read just before pg_dump starts, which reads them first. */
  async sequences(): Promise<SequenceState[]> {
    try {
      return await readSequences(this.client);
    } catch (error) {
      throw describePgError(error, this.address, 'reading the sequences');
    }
  }

  /** What a restore must reproduce besides the rows (core/inventory.ts), in the snapshot. */
  async inventory(sequences: SequenceState[]): Promise<Inventory> {
    try {
      return await readInventory(this.client, sequences);
    } catch (error) {
      throw describePgError(error, this.address, 'reading the inventory');
    }
  }

  /**
   * The source's lock table against what pg_dump locks: the tables (ordinary, partitioned, foreign,
   * materialized views) and the sessions the lock table is sized for (it holds max_locks_per_transaction
   * locks for each).
   */
  async lockCapacity(): Promise<{ tables: number; maxLocksPerTransaction: number; lockingSessions: number }> {
    const { rows } = await this.client.query<{ tables: string; locks: string; sessions: string }>(
      `SELECT (SELECT count(*) FROM pg_class WHERE relkind IN ('r', 'p', 'f', 'm')
                 AND relnamespace NOT IN ('pg_catalog'::regnamespace, 'information_schema'::regnamespace)) AS tables,
              current_setting('max_locks_per_transaction') AS locks,
              -- The sessions the shared lock table is sized for (PostgreSQL's MaxBackends plus prepared ones).
              current_setting('max_connections')::int + current_setting('autovacuum_max_workers')::int + 1
                + current_setting('max_worker_processes')::int + current_setting('max_wal_senders')::int
                + current_setting('max_prepared_transactions')::int AS sessions`,
    );
    const row = rows[0];
    return {
      tables: Number(row?.tables),
      maxLocksPerTransaction: Number(row?.locks),
      lockingSessions: Number(row?.sessions),
    };
  }

  /** Ends the transaction and the connection. */
  async close(): Promise<void> {
    this.client.removeAllListeners('end');
    await this.client.query('COMMIT').catch(() => {});
    await this.client.end().catch(() => {});
  }
}
