import { execFileSync } from 'node:child_process';
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseRestoreReport } from '../../../core/drill-report.ts';
import { backupKeys } from '../../../core/layout.ts';
import { type Manifest, parseManifest } from '../../../core/manifest.ts';
import { type MotoServer, startMoto } from '../../support/moto.ts';
import { embeddedBinDir, type PgCluster, startPostgres } from '../../support/postgres.ts';
import { lastLine, runScript } from '../../support/processes.ts';
import { seedLargeTable, seedVariedDatabase } from '../../support/seed.ts';

const BACKUP_RUNNER = 'containers/pg-dump/main.ts';
const RESTORE_RUNNER = 'containers/pg-restore/main.ts';
const BACKUP_ID = '20261121T020000Z';

/**
 * A dump larger than one segment, end to end: the backup runner with segments made tiny (5 MiB parts, two
 * to a segment, as `UPLOAD_PART_MIB`/`UPLOAD_SEGMENT_PARTS` let a test do) stores a ~25 MB dump as three
 * objects on moto's S3 (versions, conditional writes); a person restores it with stock tools as the README
 * says, and a drill restores it and passes. The server is PostgreSQL 18, as the client: pg_restore then
 * exits 0 with nothing to explain.
 */
describe('a backup stored as several segments', () => {
  let pg: PgCluster;
  let s3: MotoServer;
  let work: string;
  let manifest: Manifest;
  const keys = backupKeys('', 'shop', BACKUP_ID);

  beforeAll(async () => {
    [pg, s3] = await Promise.all([startPostgres({ binDir: embeddedBinDir(18) }), startMoto()]);
    work = mkdtempSync(join(tmpdir(), 'pgproof-segments-'));
    await seedVariedDatabase(pg, 'shop', 500);
    // Incompressible: the dump is about 25 MB whatever pg_dump's compression.
    await seedLargeTable(pg, 'shop', 24);
    const backup = await runScript(BACKUP_RUNNER, {
      ...pg.env('shop'),
      ...s3.env,
      BACKUP_ID,
      BACKUP_TIER: 'monthly',
      UPLOAD_PART_MIB: '5',
      UPLOAD_SEGMENT_PARTS: '2',
    });
    expect(backup.code, backup.stderr).toBe(0);
    manifest = parseManifest((await s3.get(keys.manifest)).toString(), keys.manifest);
  });
  afterAll(async () => {
    await Promise.all([pg?.stop(), s3?.stop()]);
    rmSync(work, { recursive: true, force: true });
  });

  it('stores the dump as dump.pgdump and numbered segments of 10 MiB, each tagged with its tier, listed in the manifest', async () => {
    expect(manifest.dump.bytes).toBeGreaterThan(20 * 1024 * 1024);
    const segments = manifest.dump.segments ?? [];
    expect(segments.map((s) => s.key)).toEqual([keys.dump, `${keys.dump}.00001`, `${keys.dump}.00002`]);
    expect(segments.slice(0, -1).map((s) => s.bytes)).toEqual([10 * 1024 * 1024, 10 * 1024 * 1024]);
    expect(manifest.dump.versionId).toBe(segments[0]?.versionId);
    expect(await s3.keys('shop/')).toEqual(
      [...segments.map((s) => s.key), keys.globals, keys.manifest].sort(),
    );
    for (const segment of segments) {
      expect(segment.versionId).toBe((await s3.versions(segment.key))[0]?.versionId);
      // Rotation expires every segment: each carries the tier tag the lifecycle rules act on.
      expect(await s3.tags(segment.key)).toMatchObject({
        'pgproof:tier': 'monthly',
        'pgproof:database': 'shop',
      });
    }
    expect(await s3.incompleteUploads()).toEqual([]);
  });

  it('restores with stock tools as the README says: each segment in order, cat, sha256sum, pg_restore', async () => {
    // `aws s3api get-object --key manifest.json`, then each of `jq -r '.dump.segments[]'` in its version.
    const plain = JSON.parse((await s3.get(keys.manifest)).toString()) as {
      dump: { sha256: string; segments: { key: string; versionId: string }[] };
      tables: { schema: string; name: string; rows: number }[];
    };
    const file = join(work, 'dump.pgdump');
    writeFileSync(file, '');
    for (const segment of plain.dump.segments) {
      appendFileSync(file, await s3.get(segment.key, segment.versionId));
    }
    expect(execFileSync('sha256sum', [file], { encoding: 'utf8' }).split(' ')[0]).toBe(plain.dump.sha256);

    await pg.createDatabase('shop_by_hand');
    execFileSync('pg_restore', ['--no-owner', '--jobs=2', `--dbname=${pg.url('shop_by_hand')}`, file], {
      encoding: 'utf8',
      stdio: 'pipe',
    });
    for (const table of plain.tables) {
      const [row] = await pg.query<{ n: string }>(
        'shop_by_hand',
        `SELECT count(*) AS n FROM "${table.schema}"."${table.name}"`,
      );
      expect(Number(row?.n), `${table.schema}.${table.name}`).toBe(table.rows);
    }
  });

  it('is restored by a drill, whose checksum covers every segment, and every check passes', async () => {
    const result = await runScript(RESTORE_RUNNER, {
      ...pg.env('drill_segments'),
      ...s3.env,
      MANIFEST_KEY: keys.manifest,
      RESTORE_JOBS: '2',
      // Ranges of 6 MiB: each 10 MiB segment in a full range and a shorter one, all in flight at once.
      DOWNLOAD_PART_MIB: '6',
    });
    expect(result.code, result.stderr).toBe(0);
    const report = parseRestoreReport(lastLine(result.stdout), 'stdout');
    expect(report.passed).toBe(true);
    expect(report.checks.filter((c) => !c.passed)).toEqual([]);
    expect(report.checks.find((c) => c.name === 'checksum')?.detail).toContain(
      `${keys.dump} and its 2 further segments: ${manifest.dump.bytes} bytes, SHA-256 ${manifest.dump.sha256} as in the manifest`,
    );
    expect(report.tables.map((t) => `${t.schema}.${t.name}`)).toContain('public.blobs');
  });
});
