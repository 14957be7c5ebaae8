import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseTocListing } from '../../../core/archive-toc.ts';
import { parseRestoreReport } from '../../../core/drill-report.ts';
import { backupKeys, dataStreamKey } from '../../../core/layout.ts';
import { type Manifest, parseManifest } from '../../../core/manifest.ts';
import { type MotoServer, startMoto } from '../../support/moto.ts';
import { embeddedBinDir, type PgCluster, startPostgres } from '../../support/postgres.ts';
import { lastLine, runScript } from '../../support/processes.ts';
import { seedLargeTable, seedRichDatabase } from '../../support/seed.ts';

const BACKUP_RUNNER = 'containers/pg-dump/main.ts';
const RESTORE_RUNNER = 'containers/pg-restore/main.ts';
const PARALLEL_ID = '20261121T020000Z';
const SINGLE_ID = '20261122T020000Z';
const EXCLUDING_ID = '20261123T020000Z';

/** A table of `rows` rows of 300 bytes each (about 22 MB at 70,000): large enough for a stream of its own. */
const largeTable = (name: string, rows: number) =>
  `CREATE TABLE ${name} (id int PRIMARY KEY, note text);
   INSERT INTO ${name} SELECT g, repeat(md5(g::text), 9) FROM generate_series(1, ${rows}) g;`;

/**
 * The parallel mode end to end (engines/backup/streams.ts): the backup runner with `DUMP_STREAMS=4` dumps a
 * database of three tables of 20 MB or more plus every kind of object (a partitioned table, a large object,
 * a materialized view) in the one snapshot, as `dump.pgdump` and one data stream per large table; a person
 * restores it with stock tools as the README says, and a drill restores it and passes every check, the
 * inventory's included. The server is PostgreSQL 18, as the client.
 */
describe('a backup taken in parallel streams', () => {
  let pg: PgCluster;
  let s3: MotoServer;
  let work: string;
  let manifest: Manifest;
  const keys = backupKeys('', 'shop', PARALLEL_ID);

  beforeAll(async () => {
    [pg, s3] = await Promise.all([startPostgres({ binDir: embeddedBinDir(18) }), startMoto()]);
    work = mkdtempSync(join(tmpdir(), 'pgproof-streams-'));
    await seedRichDatabase(pg, 'shop', 500);
    // Incompressible, 24 MB; then a name pg_dump's patterns would misread unquoted; then one excluded.
    await seedLargeTable(pg, 'shop', 24);
    await pg.query(
      'shop',
      `${largeTable('sales."Big ""Quoted"" *.Name"', 70_000)} ${largeTable('public.skipped_big', 75_000)}`,
    );
    const backup = await runScript(BACKUP_RUNNER, {
      ...pg.env('shop'),
      ...s3.env,
      BACKUP_ID: PARALLEL_ID,
      BACKUP_TIER: 'monthly',
      DUMP_STREAMS: '4',
      VERIFY: 'checksums',
    });
    expect(backup.code, backup.stderr).toBe(0);
    manifest = parseManifest((await s3.get(keys.manifest)).toString(), keys.manifest);
  });
  afterAll(async () => {
    await Promise.all([pg?.stop(), s3?.stop()]);
    rmSync(work, { recursive: true, force: true });
  });

  it('stores one data stream per large table beside dump.pgdump, each tagged, listed in the manifest', async () => {
    const streams = manifest.dump.streams ?? [];
    expect(streams.map((s) => [s.key, s.tables])).toEqual([
      [dataStreamKey(keys.folder, 1), 1],
      [dataStreamKey(keys.folder, 2), 1],
      [dataStreamKey(keys.folder, 3), 1],
    ]);
    expect(await s3.keys('shop/')).toEqual(
      [keys.dump, ...streams.map((s) => s.key), keys.globals, keys.manifest].sort(),
    );
    for (const stream of streams) {
      expect(stream.versionId).toBe((await s3.versions(stream.key))[0]?.versionId);
      expect(stream.bytes).toBeGreaterThan(1024 * 1024);
      expect(await s3.tags(stream.key)).toMatchObject({
        'pgproof:tier': 'monthly',
        'pgproof:database': 'shop',
      });
    }
    expect(await s3.incompleteUploads()).toEqual([]);
  });

  it("keeps every definition and the small tables' rows in dump.pgdump, each large table's rows in its stream only", async () => {
    const listing = async (key: string, versionId?: string) => {
      const file = join(work, key.split('/').at(-1) ?? 'archive');
      writeFileSync(file, await s3.get(key, versionId));
      return parseTocListing(execFileSync('pg_restore', ['--list', file], { encoding: 'utf8' }));
    };
    const dataOf = (entries: Awaited<ReturnType<typeof listing>>) =>
      entries.filter((e) => e.description.startsWith('TABLE DATA ')).map((e) => e.description);
    const main = await listing(keys.dump, manifest.dump.versionId);
    const streams = await Promise.all((manifest.dump.streams ?? []).map((s) => listing(s.key, s.versionId)));
    expect(streams.map(dataOf).sort()).toEqual([
      ['TABLE DATA public blobs postgres'],
      ['TABLE DATA public skipped_big postgres'],
      ['TABLE DATA sales Big "Quoted" *.Name postgres'],
    ]);
    expect(dataOf(main)).not.toContain('TABLE DATA public blobs postgres');
    expect(dataOf(main)).toContain('TABLE DATA sales invoices postgres');
    // The definitions and the large objects' rows are the dump's.
    expect(main.map((e) => e.description)).toContain('TABLE public blobs postgres');
    expect(main.some((e) => e.description.startsWith('BLOBS '))).toBe(true);
    expect(manifest.tables.map((t) => `${t.schema}.${t.name}`)).toEqual(
      expect.arrayContaining(['public.blobs', 'sales.Big "Quoted" *.Name', 'sales.invoices']),
    );
    expect(manifest.tables.every((t) => t.hash !== undefined)).toBe(true);
  });

  it('counts and hashes the same rows as a backup of one stream', async () => {
    const single = await backUp(SINGLE_ID, { DUMP_STREAMS: '1' });
    expect(single.dump.streams).toBeUndefined();
    expect(single.tables).toEqual(manifest.tables);
  });

  it("leaves the tables the dump's patterns exclude to pg_dump: in no stream, counted nowhere", async () => {
    const excluding = await backUp(EXCLUDING_ID, { DUMP_STREAMS: '4', EXCLUDE_TABLES: 'public.skipped_big' });
    // The excluded table's stream was never started: the others are numbered as they were started.
    const folder = backupKeys('', 'shop', EXCLUDING_ID).folder;
    expect((excluding.dump.streams ?? []).map((s) => s.key)).toEqual([
      dataStreamKey(folder, 1),
      dataStreamKey(folder, 2),
    ]);
    expect(excluding.tables).toEqual(manifest.tables.filter((t) => t.name !== 'skipped_big'));
    // A dump of part of the database records no inventory of the whole one for a drill to miss.
    expect(excluding.inventory).toBeUndefined();
    expect(manifest.inventory).toBeDefined();
    // Which a drill then passes (with the whole database's inventory it failed: "public.skipped_big is missing").
    const report = await drill(backupKeys('', 'shop', EXCLUDING_ID).manifest, 'drill_excluding');
    expect(report.checks.filter((c) => !c.passed)).toEqual([]);
    expect(report.tables.map((t) => t.name)).not.toContain('skipped_big');
  });

  /** A drill of the backup at `manifestKey` into a new database, its report. */
  async function drill(manifestKey: string, database: string) {
    const result = await runScript(RESTORE_RUNNER, {
      ...pg.env(database),
      ...s3.env,
      MANIFEST_KEY: manifestKey,
      RESTORE_JOBS: '2',
    });
    const report = parseRestoreReport(lastLine(result.stdout), 'stdout');
    expect(
      result.code,
      report.checks
        .filter((c) => !c.passed)
        .map((c) => c.detail)
        .join('; ') || result.stderr,
    ).toBe(0);
    return report;
  }

  /** Another backup of the same database, its manifest. */
  async function backUp(backupId: string, env: Record<string, string>): Promise<Manifest> {
    const run = await runScript(BACKUP_RUNNER, {
      ...pg.env('shop'),
      ...s3.env,
      BACKUP_ID: backupId,
      VERIFY: 'checksums',
      ...env,
    });
    expect(run.code, run.stderr).toBe(0);
    const key = backupKeys('', 'shop', backupId).manifest;
    return parseManifest((await s3.get(key)).toString(), key);
  }

  it('restores with stock tools as the README says: pre-data, every data section, post-data', async () => {
    // `aws s3api get-object` of the manifest, then of `.dump` and each of `.dump.streams[]` in its version.
    const plain = JSON.parse((await s3.get(keys.manifest)).toString()) as {
      dump: {
        key: string;
        versionId: string;
        sha256: string;
        streams: { key: string; versionId: string; sha256: string }[];
      };
      tables: { schema: string; name: string; rows: number }[];
    };
    const files: string[] = [];
    for (const archive of [plain.dump, ...plain.dump.streams]) {
      const file = join(work, `stock-${archive.key.split('/').at(-1)}`);
      writeFileSync(file, await s3.get(archive.key, archive.versionId));
      expect(execFileSync('sha256sum', [file], { encoding: 'utf8' }).split(' ')[0]).toBe(archive.sha256);
      files.push(file);
    }
    const [dump = '', ...data] = files;
    await pg.createDatabase('shop_by_hand');
    const restore = (...args: string[]) =>
      execFileSync('pg_restore', ['--no-owner', `--dbname=${pg.url('shop_by_hand')}`, ...args], {
        encoding: 'utf8',
        stdio: 'pipe',
      });
    restore('--section=pre-data', dump);
    for (const file of [dump, ...data]) restore('--section=data', '--jobs=2', file);
    restore('--section=post-data', '--jobs=2', dump);
    for (const table of plain.tables) {
      const [row] = await pg.query<{ n: string }>(
        'shop_by_hand',
        `SELECT count(*) AS n FROM "${table.schema}"."${table.name.replaceAll('"', '""')}"`,
      );
      expect(Number(row?.n), `${table.schema}.${table.name}`).toBe(table.rows);
    }
    // post-data came after every row: the primary keys and the foreign key are there.
    const [constraints] = await pg.query<{ n: string }>(
      'shop_by_hand',
      "SELECT count(*) AS n FROM pg_constraint WHERE contype IN ('p', 'f') AND connamespace <> 'pg_catalog'::regnamespace",
    );
    const [source] = await pg.query<{ n: string }>(
      'shop',
      "SELECT count(*) AS n FROM pg_constraint WHERE contype IN ('p', 'f') AND connamespace <> 'pg_catalog'::regnamespace",
    );
    expect(constraints?.n).toBe(source?.n);
  });

  it('is restored by a drill, whose checksum covers every archive, and every check passes', async () => {
    const report = await drill(keys.manifest, 'drill_streams');
    expect(report.passed).toBe(true);
    const checksum = report.checks.find((c) => c.name === 'checksum')?.detail ?? '';
    for (const archive of [manifest.dump, ...(manifest.dump.streams ?? [])]) {
      expect(checksum).toContain(
        `${archive.key}: ${archive.bytes} bytes, SHA-256 ${archive.sha256} as in the manifest`,
      );
    }
    expect(report.tables.find((t) => t.name === 'blobs')).toMatchObject({ schema: 'public' });
    // ANALYZE ran table by table, on several sessions, as the restoring role: every table has statistics.
    const unanalyzed = await pg.query<{ name: string }>(
      'drill_streams',
      "SELECT schemaname || '.' || relname AS name FROM pg_stat_user_tables WHERE last_analyze IS NULL AND last_autoanalyze IS NULL",
    );
    expect(unanalyzed).toEqual([]);
  });
});
