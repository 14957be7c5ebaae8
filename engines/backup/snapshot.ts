import pg from 'pg';
import { readInventory, readSequences } from '../../core/catalog-inventory.ts';
import { describePgError, type ServerAddress } from '../../core/errors.ts';
import type { Inventory, SequenceState } from '../../core/inventory.ts';
import type { TableStat, VerifyLevel } from '../../core/manifest.ts';
import { applyHashSettings, measureTable, type TableRef } from '../../core/table-stats.ts';

/**
 * The exported snapshot a dump is taken in. One REPEATABLE READ READ ONLY transaction exports its
 * snapshot for `pg_dump --snapshot`, measures tables in that same snapshot, and stays open until
 * pg_dump ends (an exported snapshot lives only as long as its transaction).
 */
export class DumpSnapshot {
  private constructor(
    private readonly client: pg.Client,
    private readonly address: ServerAddress,
    /** The id pg_dump imports. */
    readonly id: string,
    readonly server: { version: string; versionNum: number },
    /** `pg_database_size` of the source: the upper bound used to size upload parts. */
    readonly databaseBytes: number,
    /** Rejects if the connection drops while the snapshot is held. */
    readonly lost: Promise<never>,
  ) {}

  /** Connects (libpq's environment supplies the password) and exports a snapshot. */
  static async open(address: ServerAddress): Promise<DumpSnapshot> {
    const client = new pg.Client({
      host: address.host,
      port: address.port,
      user: address.user,
      database: address.database,
      application_name: 'pgproof-backup',
      keepAlive: true,
    });
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
        row.id,
        { version: row.version.split(' ')[0] ?? row.version, versionNum: Number(row.num) },
        Number(row.bytes),
        lost,
      );
    } catch (error) {
      await client.end().catch(() => {});
      throw describePgError(error, address, 'opening the dump snapshot');
    }
  }

  /** Names of tables by OID, in the snapshot (ordered by schema and name). */
  async tablesByOid(oids: readonly number[]): Promise<TableRef[]> {
    if (oids.length === 0) return [];
    try {
      const { rows } = await this.client.query<{ schema: string; name: string }>(
        `SELECT n.nspname AS schema, c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE c.oid = ANY($1::oid[]) AND c.relkind = 'r' ORDER BY 1, 2`,
        [oids],
      );
      return rows;
    } catch (error) {
      throw describePgError(error, this.address, 'reading the table list');
    }
  }

  /** Row counts (and hashes) of tables, in the snapshot. */
  async measure(tables: readonly TableRef[], level: VerifyLevel): Promise<TableStat[]> {
    const stats: TableStat[] = [];
    try {
      for (const table of tables) stats.push(await measureTable(this.client, table, level));
    } catch (error) {
      throw describePgError(error, this.address, 'counting rows');
    }
    return stats;
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

  /** Ends the transaction and the connection. */
  async close(): Promise<void> {
    this.client.removeAllListeners('end');
    await this.client.query('COMMIT').catch(() => {});
    await this.client.end().catch(() => {});
  }
}
