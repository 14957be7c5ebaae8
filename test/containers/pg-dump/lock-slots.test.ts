import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type PgCluster, startPostgres } from '../../support/postgres.ts';
import { lastLine, runScript } from '../../support/processes.ts';
import { type S3Server, startS3 } from '../../support/s3.ts';

const RUNNER = 'containers/pg-dump/main.ts';
/**
 * A lock table of 16 × 42 slots (20 connections and the server's 22 other sessions), and far more tables
 * than that (the shared lock table has some slack beyond its nominal size): pg_dump locks each one.
 */
const SMALL_LOCK_TABLE = { max_locks_per_transaction: '16', max_connections: '20' };
const TABLES = 2500;

async function createTables(cluster: PgCluster): Promise<void> {
  await cluster.createDatabase('many');
  for (let first = 1; first <= TABLES; first += 500) {
    await cluster.query(
      'many',
      `DO $$ BEGIN FOR i IN ${first}..${first + 499} LOOP
         EXECUTE format('CREATE TABLE t%s (id int PRIMARY KEY)', i);
       END LOOP; END $$`,
    );
  }
}

/**
 * A source with more tables than its lock table holds (real databases with 100,000 tables fail this
 * way): the backup fails saying how many tables, how much room, and the setting that fixes it, and the
 * value it gives is enough.
 */
describe('a source whose lock table cannot hold a lock on every table', () => {
  let s3: S3Server;
  let small: PgCluster;
  beforeAll(async () => {
    [small, s3] = await Promise.all([startPostgres({ settings: SMALL_LOCK_TABLE }), startS3()]);
    await createTables(small);
  });
  afterAll(async () => {
    await Promise.all([small?.stop(), s3?.stop()]);
  });

  it('fails naming the tables, the room and the setting to raise, with no manifest and no open upload', async () => {
    const result = await runScript(RUNNER, {
      ...small.env('many'),
      ...s3.env,
      BACKUP_ID: '20261128T020000Z',
    });
    expect(result.code).toBe(1);
    expect(lastLine(result.stderr)).toBe(
      'pgproof backup failed: the backup ran out of lock slots on the source: pg_dump locks each of the 2,500 tables it dumps in one transaction (and the counting sessions up to 200 more), and max_locks_per_transaction 16 × 42 sessions leaves room for about 672; set max_locks_per_transaction to at least 78 on the source (RDS: in its parameter group, then reboot), or back up fewer tables per database (excludeSchemas, includeSchemas); nothing was kept',
    );
    expect(await s3.keys('many/20261128T020000Z/')).not.toContain('many/20261128T020000Z/manifest.json');
    expect(s3.incompleteUploads()).toEqual([]);
  });

  it('backs up once the setting is what the message says', async () => {
    const fixed = await startPostgres({ settings: { ...SMALL_LOCK_TABLE, max_locks_per_transaction: '78' } });
    try {
      await createTables(fixed);
      const result = await runScript(RUNNER, {
        ...fixed.env('many'),
        ...s3.env,
        BACKUP_ID: '20261128T030000Z',
      });
      expect(result.code, result.stderr).toBe(0);
      expect(await s3.keys('many/20261128T030000Z/')).toContain('many/20261128T030000Z/manifest.json');
    } finally {
      await fixed.stop();
    }
  });
});
