import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SCRATCH_SUPERUSER } from '../../../cdk/constructs/drill-tasks.ts';
import { parseRestoreReport } from '../../../core/drill-report.ts';
import { backupKeys } from '../../../core/layout.ts';
import { type Manifest, parseManifest } from '../../../core/manifest.ts';
import { embeddedBinDir, type PgCluster, startPostgres } from '../../support/postgres.ts';
import { lastLine, runScript } from '../../support/processes.ts';
import { type S3Server, startS3 } from '../../support/s3.ts';

/**
 * Content hashes hash each row's text, and a value's text depends on session settings. A scratch server
 * whose defaults differ from the source's in every such setting (time zone, date and interval styles,
 * bytea's and floats' output, lc_monetary, identifier quoting), of another major, still
 * matches every table's hash, because both sides pin them.
 */

const BACKUP_ID = '20261121T020000Z';

/** Every setting that changes a value's text, away from the source's defaults. */
const OTHER_DEFAULTS = {
  TimeZone: 'Asia/Kathmandu',
  DateStyle: 'SQL, DMY',
  IntervalStyle: 'iso_8601',
  bytea_output: 'escape',
  extra_float_digits: '0',
  lc_monetary: 'C.utf8',
  quote_all_identifiers: 'on',
};

describe('hashes on a scratch server with other output defaults', () => {
  let source: PgCluster;
  let scratch: PgCluster;
  let s3: S3Server;
  let manifest: Manifest;

  beforeAll(async () => {
    [source, scratch, s3] = await Promise.all([
      startPostgres(),
      startPostgres({ binDir: embeddedBinDir(18), superuser: SCRATCH_SUPERUSER, settings: OTHER_DEFAULTS }),
      startS3(),
    ]);
    await source.createDatabase('shop');
    await source.query(
      'shop',
      `CREATE TABLE public.values_of_every_style (
         at timestamptz, day date, took interval, raw bytea, ratio double precision, price money,
         rel regclass, amount numeric);
       INSERT INTO public.values_of_every_style
         SELECT timestamptz '2026-03-01 12:34:56.789+01' + g * interval '17 hours', date '2026-01-31' + g,
                g * interval '1 day 2 hours 3.5 seconds', decode(md5(g::text), 'hex'), 1.0 / (g + 3),
                (g * 1234.5)::money, 'public.values_of_every_style'::regclass, g / 7.0
         FROM generate_series(1, 500) g;`,
    );
    const backup = await runScript('containers/pg-dump/main.ts', {
      ...source.env('shop'),
      ...s3.env,
      BACKUP_ID,
      VERIFY: 'checksums',
    });
    expect(backup.stderr).toBe('');
    manifest = parseManifest(
      (await s3.get(backupKeys('', 'shop', BACKUP_ID).manifest)).toString(),
      'manifest',
    );
  });
  afterAll(async () => {
    await Promise.all([source?.stop(), scratch?.stop(), s3?.stop()]);
  });

  it("matches the source's hash, though the same rows hashed under the scratch server's defaults would not", async () => {
    const result = await runScript('containers/pg-restore/main.ts', {
      ...scratch.env('postgres'),
      ...s3.env,
      BACKUP_NAME: 'shop',
      PGDATABASE: 'restored',
    });
    expect(result.stderr).toBe('');
    const report = parseRestoreReport(lastLine(result.stdout), 'stdout');
    expect(report.target.serverVersion).toMatch(/^18\./);
    expect(report.tables).toEqual([
      {
        schema: 'public',
        name: 'values_of_every_style',
        rows: 500,
        expectedRows: 500,
        hashMatched: true,
      },
    ]);
    expect(report.passed).toBe(true);
    // The control: the scratch server's own defaults give the rows another text, so another hash.
    const [unpinned] = await scratch.query<{ hash: string }>(
      'restored',
      'SELECT sum(hashtextextended(t::text, 0)::numeric)::text AS hash FROM public.values_of_every_style t',
    );
    expect(unpinned?.hash).not.toBe(manifest.tables[0]?.hash);
  });
});
