import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Manifest, parseManifest } from '../../../core/manifest.ts';
import { applyHashSettings, measureTable } from '../../../core/table-stats.ts';
import { type KmsServer, startKms } from '../../../local/kms-server.ts';
import { pgRestoreInto } from '../../support/pg-restore.ts';
import { type PgCluster, startPostgres } from '../../support/postgres.ts';
import { runScript, startScript } from '../../support/processes.ts';
import { type S3Server, startS3 } from '../../support/s3.ts';
import { requestsFor, s3Operation } from '../../support/s3-requests.ts';
import { seedLargeTable, seedVariedDatabase } from '../../support/seed.ts';

const RUNNER = 'containers/pg-dump/main.ts';

describe('backup runner options', () => {
  let cluster: PgCluster;
  let s3: S3Server;
  let kms: KmsServer;
  let work: string;
  beforeAll(async () => {
    [cluster, s3, kms] = await Promise.all([startPostgres(), startS3(), startKms()]);
    work = mkdtempSync(join(tmpdir(), 'pgproof-opt-'));
    await seedVariedDatabase(cluster, 'shop');
  });
  afterAll(async () => {
    await Promise.all([cluster?.stop(), s3?.stop(), kms?.stop()]);
    rmSync(work, { recursive: true, force: true });
  });

  async function backup(id: string, env: Record<string, string> = {}): Promise<Manifest> {
    const result = await runScript(RUNNER, { ...cluster.env('shop'), ...s3.env, BACKUP_ID: id, ...env });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const name = env.BACKUP_NAME ?? 'shop';
    return parseManifest(
      (await s3.get(`${env.BACKUP_PREFIX ?? ''}${name}/${id}/manifest.json`)).toString(),
      id,
    );
  }

  async function restore(manifest: Manifest, database: string): Promise<void> {
    const file = join(work, `${database}.pgdump`);
    writeFileSync(file, await s3.get(manifest.dump.key));
    await cluster.createDatabase(database);
    await pgRestoreInto(cluster, database, file);
  }

  const tableNames = (m: Manifest) => m.tables.map((t) => `${t.schema}.${t.name}`);

  it('includes only the tables asked for', async () => {
    const m = await backup('20261101T000000Z', { INCLUDE_TABLES: 'public.customers,sales.orders' });
    expect(tableNames(m)).toEqual(['public.customers', 'sales.orders']);
    expect(m.pgDump.args).toEqual(
      expect.arrayContaining(['--table=public.customers', '--table=sales.orders']),
    );
  });

  it('excludes tables by pattern', async () => {
    const m = await backup('20261102T000000Z', { EXCLUDE_TABLES: 'public.e*' });
    expect(tableNames(m)).toEqual(['public.audit_log', 'public.customers', 'sales.Odd Name', 'sales.orders']);
  });

  it('includes and excludes schemas', async () => {
    const only = await backup('20261103T000000Z', { INCLUDE_SCHEMAS: 'sales' });
    expect(tableNames(only)).toEqual(['sales.Odd Name', 'sales.orders']);
    const without = await backup('20261104T000000Z', { EXCLUDE_SCHEMAS: 'sales' });
    expect(tableNames(without)).toEqual([
      'public.audit_log',
      'public.customers',
      'public.empty_table',
      'public.events',
    ]);
  });

  it('skips globals with DUMP_GLOBALS=false', async () => {
    const m = await backup('20261105T000000Z', { DUMP_GLOBALS: 'false' });
    expect(m.globals).toBeNull();
    expect(await s3.keys('shop/20261105T000000Z/')).toEqual([
      'shop/20261105T000000Z/dump.pgdump',
      'shop/20261105T000000Z/manifest.json',
    ]);
  });

  it('records content hashes with VERIFY=checksums that the restored copy reproduces', async () => {
    const m = await backup('20261106T000000Z', { VERIFY: 'checksums' });
    expect(m.verify).toBe('checksums');
    expect(m.hashSettings).toMatchObject({ TimeZone: 'UTC' });
    expect(m.tables.every((t) => /^-?\d+$/.test(t.hash ?? ''))).toBe(true);
    expect(m.tables.find((t) => t.name === 'empty_table')?.hash).toBe('0');

    await restore(m, 'shop_checksums');
    const client = new pg.Client({ connectionString: cluster.url('shop_checksums') });
    await client.connect();
    try {
      await applyHashSettings(client);
      for (const table of m.tables) expect(await measureTable(client, table, 'checksums')).toEqual(table);
    } finally {
      await client.end();
    }
  });

  it('records no tables with VERIFY=none', async () => {
    const m = await backup('20261107T000000Z', { VERIFY: 'none' });
    expect(m.tables).toEqual([]);
  });

  it('keeps the manifest counts of its snapshot while the source is being written to', async () => {
    await cluster.query(
      'shop',
      'CREATE TABLE public.busy (id bigserial PRIMARY KEY, at timestamptz DEFAULT now())',
    );
    await seedLargeTable(cluster, 'shop', 24);
    const writer = new pg.Client({ connectionString: cluster.url('shop') });
    await writer.connect();
    let writing = true;
    let inserted = 0;
    const loop = (async () => {
      while (writing) {
        await writer.query('INSERT INTO public.busy DEFAULT VALUES');
        await writer.query('INSERT INTO public.audit_log (line) VALUES ($1)', ['during the dump']);
        inserted += 1;
      }
    })();
    try {
      const running = startScript(RUNNER, {
        ...cluster.env('shop'),
        ...s3.env,
        BACKUP_ID: '20261108T000000Z',
      });
      await running.waitFor(/snapshot exported/);
      const atSnapshot = inserted;
      const result = await running.result;
      expect(result.code, result.stderr).toBe(0);
      expect(inserted - atSnapshot, 'rows written while the dump ran').toBeGreaterThan(10);
    } finally {
      writing = false;
      await loop;
      await writer.end();
    }
    const m = parseManifest((await s3.get('shop/20261108T000000Z/manifest.json')).toString(), 'busy');
    const [source] = await cluster.query<{ n: string }>('shop', 'SELECT count(*) AS n FROM public.busy');
    const busy = m.tables.find((t) => t.name === 'busy');
    expect(busy?.rows).toBeLessThan(Number(source?.n));

    await restore(m, 'shop_busy');
    for (const table of m.tables) {
      const [row] = await cluster.query<{ n: string }>(
        'shop_busy',
        `SELECT count(*) AS n FROM "${table.schema}"."${table.name}"`,
      );
      expect(Number(row?.n), `${table.schema}.${table.name}`).toBe(table.rows);
    }
  });

  it('sends SSE-KMS, the tier and database tags, Object Lock and If-None-Match on every object, in a multipart dump', async () => {
    s3.requests.length = 0;
    const keyArn = 'arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab';
    kms.setKeyState(keyArn, 'Enabled');
    const m = await backup('20261109T000000Z', {
      ...kms.env,
      BACKUP_NAME: 'shop-eu',
      BACKUP_PREFIX: 'prod/',
      BACKUP_TIER: 'weekly',
      KMS_KEY_ID: 'arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab',
      RETENTION_DAYS: '35',
      OBJECT_LOCK_MODE: 'COMPLIANCE',
    });
    expect(m.tier).toBe('weekly');
    // The key was checked once, before the dump, with exactly this request.
    expect(kms.requests).toEqual([{ target: 'TrentService.DescribeKey', body: { KeyId: keyArn } }]);
    const started = new Date(m.startedAt).getTime();
    const expected = {
      'x-amz-server-side-encryption': 'aws:kms',
      'x-amz-server-side-encryption-aws-kms-key-id':
        'arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab',
      'x-amz-server-side-encryption-bucket-key-enabled': 'true',
      'x-amz-tagging': 'pgproof%3Atier=weekly&pgproof%3Adatabase=shop-eu',
      'x-amz-object-lock-mode': 'COMPLIANCE',
      'x-amz-object-lock-retain-until-date': new Date(started + 35 * 86_400_000)
        .toISOString()
        .replace('.000Z', 'Z'),
    };
    const folder = 'prod/shop-eu/20261109T000000Z';
    const dumpRequests = requestsFor(s3.requests, s3.bucket, `${folder}/dump.pgdump`);
    const create = dumpRequests.filter(s3Operation.createMultipartUpload);
    expect(create).toHaveLength(1);
    expect(create[0]?.headers).toMatchObject(expected);
    expect(dumpRequests.filter(s3Operation.uploadPart).length).toBeGreaterThanOrEqual(3);
    // Every object is written only where none is: the dump's completion, the globals and the manifest.
    const complete = dumpRequests.filter(s3Operation.completeMultipartUpload);
    expect(complete).toHaveLength(1);
    expect(complete[0]?.headers['if-none-match']).toBe('*');

    const [globals] = requestsFor(s3.requests, s3.bucket, `${folder}/globals.sql`).filter(
      s3Operation.putObject,
    );
    expect(globals?.headers).toMatchObject({ ...expected, 'if-none-match': '*' });
    const [manifest] = requestsFor(s3.requests, s3.bucket, `${folder}/manifest.json`).filter(
      s3Operation.putObject,
    );
    expect(manifest?.headers).toMatchObject({ ...expected, 'if-none-match': '*' });
    expect(s3.incompleteUploads()).toEqual([]);
  });
});
