import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseManifest } from '../../../core/manifest.ts';
import { toolchain } from '../../../local/toolchain.ts';
import { type MotoServer, startMoto } from '../../support/moto.ts';
import { pgRestoreInto } from '../../support/pg-restore.ts';
import { type PgCluster, startPostgres } from '../../support/postgres.ts';
import { runScript } from '../../support/processes.ts';
import { seedVariedDatabase } from '../../support/seed.ts';

const RUNNER = 'containers/pg-dump/main.ts';

/** On moto's S3, with the SDK's default checksums: the bucket and client production has. */
describe('backup runner round trip', () => {
  let pg: PgCluster;
  let s3: MotoServer;
  let work: string;
  beforeAll(async () => {
    [pg, s3] = await Promise.all([startPostgres(), startMoto()]);
    work = mkdtempSync(join(tmpdir(), 'pgproof-rt-'));
    await seedVariedDatabase(pg, 'shop');
  });
  afterAll(async () => {
    await Promise.all([pg?.stop(), s3?.stop()]);
    rmSync(work, { recursive: true, force: true });
  });

  it('dumps a varied database, and the object restores to exactly the manifest', async () => {
    const result = await runScript(RUNNER, { ...pg.env('shop'), ...s3.env, BACKUP_ID: '20261121T020000Z' });
    expect(result.stderr).not.toMatch(/failed/);
    expect(result.code).toBe(0);

    const keys = await s3.keys('shop/');
    expect(keys).toEqual([
      'shop/20261121T020000Z/dump.pgdump',
      'shop/20261121T020000Z/globals.sql',
      'shop/20261121T020000Z/manifest.json',
    ]);
    const manifest = parseManifest(
      (await s3.get('shop/20261121T020000Z/manifest.json')).toString(),
      'manifest',
    );
    // The versions it wrote, which every reader fetches.
    expect(manifest.dump.versionId).toBe((await s3.versions(manifest.dump.key))[0]?.versionId);
    expect(manifest.globals?.versionId).toBe(
      (await s3.versions('shop/20261121T020000Z/globals.sql'))[0]?.versionId,
    );
    const dump = await s3.get(manifest.dump.key);
    expect(createHash('sha256').update(dump).digest('hex')).toBe(manifest.dump.sha256);
    expect(dump.length).toBe(manifest.dump.bytes);
    const globals = await s3.get('shop/20261121T020000Z/globals.sql');
    expect(createHash('sha256').update(globals).digest('hex')).toBe(manifest.globals?.sha256);
    expect(globals.toString()).toContain('CREATE ROLE pgproof_app_owner');
    expect(globals.toString()).not.toMatch(/PASSWORD '/);

    expect(manifest).toMatchObject({
      formatVersion: 1,
      backupId: '20261121T020000Z',
      name: 'shop',
      database: 'shop',
      tier: 'daily',
      server: { versionNum: expect.any(Number) },
      // The client decides: pg_dump 16 and newer compress with zstd.
      dump: { format: 'custom', compression: toolchain.postgresClientMajor >= 16 ? 'zstd:1' : 'gzip:1' },
      verify: 'counts',
    });
    expect(manifest.tables).toEqual([
      { schema: 'public', name: 'audit_log', rows: 100 },
      { schema: 'public', name: 'customers', rows: 5000 },
      { schema: 'public', name: 'empty_table', rows: 0 },
      { schema: 'public', name: 'events', rows: 5010 },
      { schema: 'sales', name: 'Odd Name', rows: 2 },
      { schema: 'sales', name: 'orders', rows: 10000 },
    ]);

    const file = join(work, 'dump.pgdump');
    writeFileSync(file, dump);
    const listing = execFileSync('pg_restore', ['--list', file], { encoding: 'utf8' });
    expect(listing).toContain('TABLE DATA sales orders');

    await pg.createDatabase('shop_restored');
    await pgRestoreInto(pg, 'shop_restored', file, 2);
    for (const table of manifest.tables) {
      const [row] = await pg.query<{ n: string }>(
        'shop_restored',
        `SELECT count(*) AS n FROM "${table.schema}"."${table.name}"`,
      );
      expect(Number(row?.n), `${table.schema}.${table.name}`).toBe(table.rows);
    }
    const [sample] = await pg.query<{ prefs: unknown; avatar: Buffer; tags: unknown }>(
      'shop_restored',
      'SELECT prefs, avatar, tags FROM customers WHERE id = 7',
    );
    expect(sample).toEqual({
      prefs: { n: 7, nested: [7, 'x'] },
      avatar: createHash('md5').update('7').digest(),
      tags: ['tag0', null, 'a,b'],
    });
  });
});
