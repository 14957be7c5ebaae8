import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SCRATCH_SUPERUSER } from '../../../cdk/constructs/drill-tasks.ts';
import { formatReport } from '../../../cli/report-view.ts';
import { parseRestoreReport, type RestoreReport } from '../../../core/drill-report.ts';
import { backupKeys } from '../../../core/layout.ts';
import { type Manifest, parseManifest } from '../../../core/manifest.ts';
import { type PgCluster, startPostgres } from '../../support/postgres.ts';
import { lastLine, runScript } from '../../support/processes.ts';
import { type S3Server, startS3 } from '../../support/s3.ts';
import { seedRichDatabase } from '../../support/seed.ts';

/**
 * A drill proves equality, not counts: the manifest's inventory (sequences, large objects, materialized
 * views, constraints, owners and privileges, extensions, objects per schema) is compared after the
 * restore. A good backup passes every check; a backup whose dump was taken of a damaged copy, stored
 * under the original's manifest, fails each check naming what it lost.
 */

const GOOD = '20261121T020000Z';
const DAMAGED = '20261122T020000Z';

/** What each damage does to a copy of the source before its dump replaces the backup's. */
const DAMAGE = `
  SELECT setval('public.customers_id_seq', 1, false);
  ALTER TABLE sales.invoices ALTER COLUMN id RESTART WITH 1;
  SELECT lo_unlink(oid) FROM pg_largeobject_metadata;
  REFRESH MATERIALIZED VIEW sales.revenue_by_month WITH NO DATA;
  ALTER TABLE sales.orders DROP CONSTRAINT orders_customer_id_fkey;
  ALTER TABLE sales.orders ADD CONSTRAINT orders_customer_id_fkey
    FOREIGN KEY (customer_id) REFERENCES public.customers(id) NOT VALID;
  ALTER TABLE public.events OWNER TO pgproof_app_reader;
  REVOKE SELECT ON sales.invoices FROM pgproof_app_reader;
  DROP EXTENSION pgcrypto;
  DROP TRIGGER invoices_audit ON sales.invoices;
`;

describe('drill inventory', () => {
  let source: PgCluster;
  let scratch: PgCluster;
  let s3: S3Server;
  let manifest: Manifest;
  const work = mkdtempSync(join(tmpdir(), 'pgproof-inventory-'));

  beforeAll(async () => {
    [source, scratch, s3] = await Promise.all([
      startPostgres(),
      startPostgres({ superuser: SCRATCH_SUPERUSER }),
      startS3(),
    ]);
    await seedRichDatabase(source, 'shop', 200);
    await source.query(
      'shop',
      `CREATE EXTENSION pgcrypto;
       CREATE MATERIALIZED VIEW public.never_filled AS SELECT 1 AS one WITH NO DATA;
       CREATE TABLE public.notes (id int, customer_id bigint);
       ALTER TABLE public.notes ADD CONSTRAINT notes_customer_fkey
         FOREIGN KEY (customer_id) REFERENCES public.customers(id) NOT VALID;`,
    );
    const backup = await runScript('containers/pg-dump/main.ts', {
      ...source.env('shop'),
      ...s3.env,
      BACKUP_ID: GOOD,
    });
    expect(backup.stderr).toBe('');
    manifest = parseManifest((await s3.get(backupKeys('', 'shop', GOOD).manifest)).toString(), 'manifest');
  });
  afterAll(async () => {
    rmSync(work, { recursive: true, force: true });
    await Promise.all([source?.stop(), scratch?.stop(), s3?.stop()]);
  });

  const drill = async (backupId: string, database: string): Promise<RestoreReport> => {
    const result = await runScript('containers/pg-restore/main.ts', {
      ...scratch.env('postgres'),
      ...s3.env,
      BACKUP_NAME: 'shop',
      BACKUP_ID: backupId,
      PGDATABASE: database,
    });
    return parseRestoreReport(lastLine(result.stdout), 'stdout');
  };
  const inventoryChecks = (report: RestoreReport) =>
    Object.fromEntries(report.checks.filter((c) => c.kind === 'inventory').map((c) => [c.name, c]));

  it('records the inventory in the dump snapshot', () => {
    const inventory = manifest.inventory;
    expect(inventory?.sequences).toContainEqual({
      schema: 'public',
      name: 'customers_id_seq',
      lastValue: '200',
      isCalled: true,
      ascending: true,
    });
    expect(inventory?.largeObjects).toMatchObject({
      count: 1,
      owners: [{ owner: 'postgres', acl: ['postgres=rw/postgres'], count: 1 }],
    });
    expect(inventory?.materializedViews).toEqual([
      { schema: 'public', name: 'never_filled', populated: false, rows: null },
      { schema: 'sales', name: 'revenue_by_month', populated: true, rows: 7 },
    ]);
    expect(inventory?.constraints).toContainEqual({
      schema: 'public',
      table: 'notes',
      name: 'notes_customer_fkey',
      type: 'f',
      validated: false,
    });
    expect(inventory?.owners).toContainEqual({
      kind: 'table',
      schema: 'sales',
      name: 'invoices',
      owner: 'postgres',
      acl: ['pgproof_app_reader=r/postgres', 'postgres=arwdDxt/postgres'],
    });
    expect(inventory?.extensions.map((e) => e.name)).toEqual(['pgcrypto', 'plpgsql']);
    expect(inventory?.objectCounts).toContainEqual({ schema: 'sales', kind: 'trigger', count: 1 });
  });

  it('backs up a table whose index calls a SQL function naming a table unqualified (counting plans it)', async () => {
    await source.createDatabase('lookup');
    await source.query(
      'lookup',
      `CREATE TABLE public.rates (k int, factor numeric);
       INSERT INTO public.rates SELECT g, g / 10.0 FROM generate_series(1, 10) g;
       CREATE FUNCTION public.rate_of(int) RETURNS numeric LANGUAGE sql IMMUTABLE
         AS 'SELECT factor FROM rates WHERE k = $1';
       CREATE TABLE public.items (k int);
       INSERT INTO public.items SELECT g % 10 + 1 FROM generate_series(1, 100) g;
       CREATE INDEX items_rate_idx ON public.items (public.rate_of(k));`,
    );
    const backup = await runScript('containers/pg-dump/main.ts', {
      ...source.env('lookup'),
      ...s3.env,
      BACKUP_ID: GOOD,
      VERIFY: 'checksums',
    });
    expect(backup.stderr).toBe('');
    const stored = parseManifest(
      (await s3.get(backupKeys('', 'lookup', GOOD).manifest)).toString(),
      'manifest',
    );
    expect(stored.tables.map((t) => [t.name, t.rows])).toEqual([
      ['items', 100],
      ['rates', 10],
    ]);
  });

  it('passes every inventory check on a good backup', async () => {
    const report = await drill(GOOD, 'inventory_good');
    const checks = inventoryChecks(report);
    expect(Object.values(checks).filter((c) => !c.passed)).toEqual([]);
    expect(Object.keys(checks)).toEqual([
      'sequences',
      'indexes',
      'large objects',
      'materialized views',
      'constraints',
      'owners and privileges',
      'extensions',
      'object counts',
    ]);
    expect(report.passed).toBe(true);
  });

  it('fails a backup of a damaged copy, each check naming what it lost', async () => {
    await source.query('postgres', 'CREATE DATABASE damaged TEMPLATE shop');
    await source.query('damaged', DAMAGE);
    const dumpFile = join(work, 'damaged.pgdump');
    execFileSync('pg_dump', ['--format=custom', `--file=${dumpFile}`, 'damaged'], {
      env: { ...process.env, ...source.env('damaged') },
    });
    const dump = readFileSync(dumpFile);
    const keys = backupKeys('', 'shop', DAMAGED);
    const copy: Manifest = structuredClone(manifest);
    copy.backupId = DAMAGED;
    copy.dump = {
      ...copy.dump,
      key: keys.dump,
      bytes: dump.length,
      sha256: createHash('sha256').update(dump).digest('hex'),
    };
    delete copy.dump.versionId;
    if (copy.globals) {
      copy.globals = { ...copy.globals, key: keys.globals };
      delete copy.globals.versionId;
    }
    const put = (Key: string, Body: Buffer | string) =>
      s3.client.send(new PutObjectCommand({ Bucket: s3.bucket, Key, Body }));
    await put(keys.dump, dump);
    await put(keys.globals, await s3.get(backupKeys('', 'shop', GOOD).globals));
    await put(keys.manifest, JSON.stringify(copy));

    const report = await drill(DAMAGED, 'inventory_damaged');
    expect(report.passed).toBe(false);
    const checks = inventoryChecks(report);
    const failed = (name: string) => {
      expect(checks[name]?.passed, name).toBe(false);
      return checks[name]?.detail ?? '';
    };
    expect(failed('sequences')).toContain(
      'public.customers_id_seq is at 1 (not yet called), the source was at 200',
    );
    expect(failed('sequences')).toContain(
      'sales.invoices_id_seq is at 1 (not yet called), the source was at 200',
    );
    expect(failed('sequences')).toContain(
      "public.customers_id_seq would next give 1, not beyond public.customers.id's maximum 200: the first insert would collide",
    );
    expect(failed('large objects')).toBe(
      "0 large object(s) restored, 1 in the source; large objects' owners and privileges: none, expected postgres {postgres=rw/postgres} ×1",
    );
    expect(failed('materialized views')).toBe(
      'sales.revenue_by_month is not populated, in the source populated',
    );
    expect(failed('constraints')).toBe(
      'foreign key constraint orders_customer_id_fkey of sales.orders is NOT VALID, validated in the source',
    );
    expect(failed('owners and privileges')).toBe(
      'table public.events is owned by pgproof_app_reader, in the source by postgres; table sales.invoices has privileges {postgres=arwdDxt/postgres}, the source {pgproof_app_reader=r/postgres,postgres=arwdDxt/postgres}',
    );
    expect(failed('extensions')).toMatch(/^extension pgcrypto [\d.]+ is missing$/);
    expect(failed('object counts')).toBe('schema sales: 0 trigger(s) restored, 1 in the source');
    // The rows are all there: only the inventory sees what was lost.
    expect(report.checks.filter((c) => c.kind === 'table').every((c) => c.passed)).toBe(true);
    console.info(`what a person reads:\n${formatReport(report).join('\n')}`);
  });
});
