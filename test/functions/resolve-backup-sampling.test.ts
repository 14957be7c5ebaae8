import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, type StorageClass } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { type DrillPlan, drillInputSchema } from '../../core/drill.ts';
import { pickUniformly, sampleWindowStart } from '../../core/drill-selection.ts';
import { backupKeys } from '../../core/layout.ts';
import type { Manifest } from '../../core/manifest.ts';
import { downloadBackup } from '../../engines/restore/restore.ts';
import type { planRequestedDrill, readResolveSettings } from '../../functions/resolve-backup.ts';
import type { advanceRetrieval } from '../../functions/retrieve-backup.ts';
import { fakeManifest } from '../support/manifests.ts';
import { type MotoServer, startMoto } from '../support/moto.ts';

const TASK_15 = 'arn:aws:ecs:eu-west-1:123456789012:task-definition/PgproofDrill15:1';
const ROLE = 'arn:aws:iam::123456789012:role/PgproofDrillOrders';
/** The drills' clock: backups are sampled within windows ending now. */
const NOW = new Date('2026-11-28T12:00:00.000Z');
const sha256 = (body: Buffer) => createHash('sha256').update(body).digest('hex');

/**
 * Sampled drills and archived backups, on moto's S3: it keeps storage classes, refuses a GET of a
 * Deep Archive object until it is restored, and models RestoreObject and `x-amz-restore` (its state
 * manager makes the restore finish only after a number of requests, as S3's takes hours).
 */
let moto: MotoServer;
let plan: typeof planRequestedDrill;
let settings: typeof readResolveSettings;
let advance: typeof advanceRetrieval;

/** Stores a backup: its manifest (STANDARD, as S3 keeps objects under 128 KiB) and its dump in `dumpClass`. */
async function putBackup(
  name: string,
  backupId: string,
  tier: Manifest['tier'],
  dumpClass: StorageClass = 'STANDARD',
  dump: Buffer = Buffer.from(`dump of ${backupId}`),
): Promise<Manifest> {
  const keys = backupKeys('pg/', name, backupId);
  const manifest = fakeManifest(name, backupId, {
    tier,
    dump: {
      key: keys.dump,
      bytes: dump.length,
      sha256: sha256(dump),
      format: 'custom',
      compression: 'zstd:1',
    },
  });
  const put = (Key: string, Body: Buffer | string, StorageClass: StorageClass = 'STANDARD') =>
    moto.client.send(new PutObjectCommand({ Bucket: moto.bucket, Key, Body, StorageClass }));
  await put(keys.dump, dump, dumpClass);
  await put(keys.manifest, JSON.stringify(manifest));
  return manifest;
}

/** Makes moto finish a restore after `requests` requests of the object (HEAD, GET or restore). */
async function restoresAfter(requests: number): Promise<void> {
  const response = await fetch(`${moto.endpoint}/moto-api/state-manager/set-transition`, {
    method: 'POST',
    body: JSON.stringify({
      model_name: 's3::keyrestore',
      transition: { progression: 'manual', times: requests },
    }),
  });
  expect(response.status).toBe(201);
}

/** A random source returning `values` in turn. */
const sequence = (...values: number[]) => {
  let next = 0;
  return () => values[next++ % values.length] ?? 0;
};

beforeAll(async () => {
  moto = await startMoto();
  for (const [name, value] of Object.entries(moto.env)) vi.stubEnv(name, value);
  vi.stubEnv('POWERTOOLS_LOG_LEVEL', 'SILENT');
  ({ planRequestedDrill: plan, readResolveSettings: settings } = await import(
    '../../functions/resolve-backup.ts'
  ));
  ({ advanceRetrieval: advance } = await import('../../functions/retrieve-backup.ts'));
  // orders: monthlies at the window's very start, one second before it, and inside it; other tiers.
  await putBackup('orders', '20251128T115959Z', 'monthly');
  await putBackup('orders', '20251128T120000Z', 'monthly');
  await putBackup('orders', '20260601T020000Z', 'monthly');
  await putBackup('orders', '20261101T020000Z', 'monthly');
  await putBackup('orders', '20261122T020000Z', 'weekly');
  await putBackup('orders', '20261127T020000Z', 'daily');
});
afterAll(async () => {
  vi.unstubAllEnvs();
  await moto?.stop();
});
beforeEach(() => {
  vi.stubEnv('BACKUP_PREFIX', 'pg/');
  vi.stubEnv(
    'DRILL_DATABASES',
    JSON.stringify({ orders: { rtoMinutes: 60 }, archive: { retrievalTier: 'Bulk' } }),
  );
  vi.stubEnv('DRILL_TASKS', JSON.stringify({ 15: TASK_15 }));
  vi.stubEnv('DRILL_TASK_ROLES', JSON.stringify({ orders: ROLE, archive: ROLE }));
});

/** Plans the drill `input` asks for at {@link NOW}, with `random` as the sample's chance. */
const planFor = (input: unknown, random = sequence(0)): Promise<DrillPlan> =>
  plan(settings(process.env), drillInputSchema.parse(input), { s3: moto.client, now: NOW, random });

describe('sampled drills', () => {
  const monthly = { database: 'orders', sample: { tier: 'monthly', withinDays: 365 } };

  it('draws among the backups of the tier within the window, its first second included, its edge excluded', async () => {
    const picked = async (value: number) => (await planFor(monthly, sequence(value))).backupId;
    // Three monthlies are in the window: 20251128T120000Z is exactly 365 days old, 20251128T115959Z a second older.
    expect(await picked(0)).toBe('20251128T120000Z');
    expect(await picked(0.34)).toBe('20260601T020000Z');
    expect(await picked(0.999_999)).toBe('20261101T020000Z');
    const drill = await planFor(monthly, sequence(0.5));
    expect(drill.selection).toEqual({ kind: 'sample', tier: 'monthly', withinDays: 365, candidates: 3 });
    expect(drill.environment).toContainEqual({
      Name: 'DRILL_SELECTION',
      Value: '{"kind":"sample","tier":"monthly","withinDays":365,"candidates":3}',
    });
    expect(drill.manifestKey).toBe('pg/orders/20260601T020000Z/manifest.json');
  });

  it('draws only backups of the tier: the daily and weekly are left out', async () => {
    const weekly = await planFor({ database: 'orders', sample: { tier: 'weekly', withinDays: 30 } });
    expect(weekly).toMatchObject({ backupId: '20261122T020000Z', selection: { candidates: 1 } });
  });

  it('fails a sample with no backup of the tier in the window, naming database, tier and window', async () => {
    await expect(
      planFor({ database: 'orders', sample: { tier: 'yearly', withinDays: 400 } }),
    ).rejects.toMatchObject({
      name: 'BackupNotFoundError',
      message:
        'database "orders" has no yearly backup taken within the last 400 days (since 2025-10-24T12:00:00.000Z) in s3://backups/pg/orders/; sample another tier or a longer window, or drill the latest backup',
    });
    // The monthly of 2026-11-01 is 27 days old: a 26-day window holds none.
    await expect(
      planFor({ database: 'orders', sample: { tier: 'monthly', withinDays: 26 } }),
    ).rejects.toThrow(
      'database "orders" has no monthly backup taken within the last 26 days (since 2026-11-02T12:00:00.000Z)',
    );
  });

  it('records how the latest and a named backup were picked', async () => {
    expect((await planFor({ database: 'orders' })).selection).toEqual({ kind: 'latest' });
    const named = await planFor({ database: 'orders', backupId: '20260601T020000Z' });
    expect(named.selection).toEqual({ kind: 'explicit' });
  });

  it('rejects a sample with a backup id, a tier that is not one, or a window out of range', () => {
    const problems = (input: unknown) =>
      drillInputSchema.safeParse(input).error?.issues.map((i) => `${i.path.join('.')} ${i.message}`);
    expect(problems({ database: 'orders', backupId: '20260601T020000Z', sample: monthly.sample })).toEqual([
      'sample cannot go with "backupId": name one backup, or sample one, not both',
    ]);
    expect(problems({ database: 'orders', sample: { tier: 'hourly', withinDays: 0 } })).toEqual([
      'sample.tier must be one of daily, weekly, monthly, yearly',
      'sample.withinDays must be at least 1 day',
    ]);
    expect(problems({ database: 'orders', sample: { tier: 'daily', withinDays: 7.5 } })).toEqual([
      'sample.withinDays must be whole days, e.g. 365',
    ]);
  });

  it('picks uniformly: each candidate for an equal share of [0, 1)', () => {
    const candidates = ['a', 'b', 'c', 'd'];
    expect([0, 0.24, 0.25, 0.5, 0.74, 0.75, 0.999].map((r) => pickUniformly(candidates, () => r))).toEqual([
      'a',
      'a',
      'b',
      'c',
      'c',
      'd',
      'd',
    ]);
    expect(sampleWindowStart(new Date('2026-11-28T12:00:00.750Z'), 1).toISOString()).toBe(
      '2026-11-27T12:00:00.000Z',
    );
  });
});

describe('archived backups', () => {
  let work: string;
  beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), 'pgproof-archived-'));
  });
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('drills a backup in Glacier Instant Retrieval like one in Standard: readable at once, no retrieval', async () => {
    const dump = randomBytes(300 * 1024);
    const manifest = await putBackup('instant', '20261001T020000Z', 'monthly', 'GLACIER_IR', dump);
    vi.stubEnv('DRILL_DATABASES', JSON.stringify({ instant: {} }));
    vi.stubEnv('DRILL_TASK_ROLES', JSON.stringify({ instant: ROLE }));
    const drill = await planFor({ database: 'instant' });
    expect(drill.storageClass).toBe('GLACIER_IR');
    expect(drill).not.toHaveProperty('retrieval');
    // The restore runner's own download reads it as it is, checksum and all.
    const head = await moto.client.send(
      new HeadObjectCommand({ Bucket: moto.bucket, Key: manifest.dump.key }),
    );
    expect(head.StorageClass).toBe('GLACIER_IR');
    const files = await downloadBackup(moto.client, moto.bucket, manifest, work, {
      partBytes: 128 * 1024,
      concurrency: 2,
      withGlobals: false,
    });
    expect(readFileSync(files.dumpPath).equals(dump)).toBe(true);
  });

  it('plans a Deep Archive backup with a retrieval of its archived objects, in the tier asked for', async () => {
    const manifest = await putBackup('archive', '20251201T020000Z', 'yearly', 'DEEP_ARCHIVE');
    // S3 refuses to read it before it is restored.
    await expect(
      moto.client.send(new GetObjectCommand({ Bucket: moto.bucket, Key: manifest.dump.key })),
    ).rejects.toMatchObject({ name: 'InvalidObjectState' });
    const drill = await planFor({ database: 'archive', sample: { tier: 'yearly', withinDays: 366 } });
    expect(drill).toMatchObject({
      backupId: '20251201T020000Z',
      storageClass: 'DEEP_ARCHIVE',
      // The database's settings say Bulk.
      retrieval: {
        status: 'required',
        storageClass: 'DEEP_ARCHIVE',
        tier: 'Bulk',
        keys: [manifest.dump.key],
      },
    });
    const asked = await planFor({ database: 'archive', retrievalTier: 'Standard' });
    expect(asked.retrieval?.tier).toBe('Standard');
  });

  it('restores a Deep Archive backup, polls until S3 says it is readable, and records the retrieval', async () => {
    const manifest = await putBackup('deep', '20251101T020000Z', 'yearly', 'DEEP_ARCHIVE');
    vi.stubEnv('DRILL_DATABASES', JSON.stringify({ deep: {} }));
    vi.stubEnv('DRILL_TASK_ROLES', JSON.stringify({ deep: ROLE }));
    const planned = await planFor({ database: 'deep' });
    // The restore takes a few requests of the object to finish: at least one poll finds it in progress.
    await restoresAfter(3);
    const t0 = new Date('2026-11-28T12:00:05.000Z');
    const first = await advance(moto.client, moto.bucket, planned, t0);
    expect(first.retrieval).toMatchObject({ status: 'pending', requestedAt: t0.toISOString() });
    const head = await moto.client.send(
      new HeadObjectCommand({ Bucket: moto.bucket, Key: manifest.dump.key }),
    );
    expect(head.Restore).toBe('ongoing-request="true"');

    let current = first;
    const polls: string[] = [];
    for (let hour = 1; hour <= 6 && current.retrieval?.status !== 'available'; hour++) {
      current = await advance(moto.client, moto.bucket, current, new Date(t0.getTime() + hour * 3_600_000));
      polls.push(current.retrieval?.status ?? '');
    }
    expect(polls.at(-1)).toBe('available');
    const hours = polls.length;
    const retrieval = {
      storageClass: 'DEEP_ARCHIVE',
      tier: 'Standard',
      requestedAt: t0.toISOString(),
      availableAt: new Date(t0.getTime() + hours * 3_600_000).toISOString(),
      seconds: hours * 3600,
    };
    expect(current.retrieval).toEqual({ ...retrieval, status: 'available', keys: [manifest.dump.key] });
    // The runner is told, so that the report records it.
    expect(current.environment).toContainEqual({ Name: 'DRILL_RETRIEVAL', Value: JSON.stringify(retrieval) });
    // Now the drill can read it.
    const body = await moto.client.send(
      new GetObjectCommand({ Bucket: moto.bucket, Key: manifest.dump.key }),
    );
    expect(await body.Body?.transformToString()).toBe('dump of 20251101T020000Z');
    // Polled again (a retried state), it stays available without asking S3 for another restore.
    const again = await advance(moto.client, moto.bucket, current, new Date(t0.getTime() + 7 * 3_600_000));
    expect(again.retrieval?.requestedAt).toBe(t0.toISOString());
  });
});
