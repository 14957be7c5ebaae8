import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DumpSnapshot } from '../../../engines/backup/snapshot.ts';
import { type PgCluster, startPostgres } from '../../support/postgres.ts';

/**
 * The dump's snapshot measured over several sessions: each imports the exported snapshot, so the
 * counts and hashes are those of the rows pg_dump dumps, whatever is written meanwhile.
 */
describe('DumpSnapshot.measure over several sessions', () => {
  let cluster: PgCluster;
  const database = 'shop';
  const tables = ['small', 'medium', 'large'].map((name, index) => ({
    schema: 'public',
    name,
    rows: 1000 * (index + 1),
  }));

  beforeAll(async () => {
    cluster = await startPostgres();
    await cluster.createDatabase(database);
    for (const table of tables) {
      await cluster.query(
        database,
        `CREATE TABLE ${table.name} (id int PRIMARY KEY, note text);
         INSERT INTO ${table.name} SELECT i, md5(i::text) FROM generate_series(1, ${table.rows}) i`,
      );
    }
    // node-postgres takes the password from libpq's variable, as the runner does.
    process.env.PGPASSWORD = cluster.password;
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  const open = () =>
    DumpSnapshot.open({ host: cluster.host, port: cluster.port, user: cluster.user, database });
  const sized = async (snapshot: DumpSnapshot) => {
    const oids = await cluster.query<{ oid: number }>(
      database,
      `SELECT oid::int FROM pg_class WHERE relname = ANY($1)`,
      [tables.map((t) => t.name)],
    );
    return snapshot.tablesByOid(oids.map((row) => row.oid));
  };

  it('counts and hashes what the snapshot holds, not rows written after it, in the order given', async () => {
    const snapshot = await open();
    try {
      for (const table of tables) {
        await cluster.query(database, `INSERT INTO ${table.name} VALUES (-1, 'after the snapshot')`);
      }
      const list = await sized(snapshot);
      expect(list.map((t) => t.name)).toEqual(['large', 'medium', 'small']);
      expect(list[0]?.bytes).toBeGreaterThan(list[2]?.bytes ?? Number.POSITIVE_INFINITY);
      const oneAtATime = { smallTableBytes: 0, tablesPerStatement: 1 };
      const alone = await snapshot.measure(list, 'checksums', 1, oneAtATime);
      const sideBySide = await snapshot.measure(list, 'checksums', 3, oneAtATime);
      // Small tables measured in one statement: the same counts and hashes.
      const batched = await snapshot.measure(list, 'checksums', 3, {
        smallTableBytes: 1e9,
        tablesPerStatement: 2,
      });
      expect(sideBySide).toEqual(alone);
      expect(batched).toEqual(alone);
      expect(sideBySide.map((s) => [s.name, s.rows])).toEqual([
        ['large', 3000],
        ['medium', 2000],
        ['small', 1000],
      ]);
    } finally {
      await snapshot.close();
      for (const table of tables) await cluster.query(database, `DELETE FROM ${table.name} WHERE id = -1`);
    }
  });

  it('counts in several sessions at once: the others go on while one waits for its table', async () => {
    const snapshot = await open();
    const locker = new pg.Client({ connectionString: cluster.url(database) });
    await locker.connect();
    try {
      const list = await sized(snapshot);
      // Hold the largest table: the session that takes it waits, the other two measure the rest.
      await locker.query('BEGIN; LOCK TABLE large IN ACCESS EXCLUSIVE MODE');
      const measuring = snapshot.measure(list, 'counts', 3, { smallTableBytes: 0, tablesPerStatement: 1 });
      const sessions = async () =>
        (
          await cluster.query(
            database,
            "SELECT pid FROM pg_stat_activity WHERE application_name = 'pgproof-backup'",
          )
        ).length;
      // The snapshot's own session, which counts nothing, and three that import its snapshot.
      for (let tries = 0; tries < 100 && (await sessions()) < 4; tries++) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      expect(await sessions()).toBe(4);
      await locker.query('COMMIT');
      expect((await measuring).map((s) => s.rows)).toEqual([3000, 2000, 1000]);
      // The imported sessions are closed; the snapshot's own stays until the dump ends.
      expect(await sessions()).toBe(1);
    } finally {
      await locker.end();
      await snapshot.close();
    }
  });
});
