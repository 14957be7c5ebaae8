import {
  DeleteObjectCommand,
  GetObjectLegalHoldCommand,
  PutObjectCommand,
  type PutObjectCommandInput,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { DrillEvaluation } from '../../core/drill-evaluation.ts';
import { backupKeys, dumpSegmentKey } from '../../core/layout.ts';
import { type Manifest, serializeManifest } from '../../core/manifest.ts';
import { heldBackups, parseProvenIndex, provenIndexKey } from '../../core/proven-backups.ts';
import type { Tier } from '../../core/retention-tiers.ts';
import { fakeManifest } from '../support/manifests.ts';
import { type MotoServer, startMoto } from '../support/moto.ts';

let moto: MotoServer;
let handler: (event: unknown) => Promise<DrillEvaluation>;

const sha = 'a'.repeat(64);

async function put(input: Omit<PutObjectCommandInput, 'Bucket'>): Promise<string> {
  const response = await moto.client.send(new PutObjectCommand({ Bucket: moto.bucket, ...input }));
  return response.VersionId ?? '';
}

/** Writes a backup of `orders` as the runner does (dump, or its segments; globals; manifest last), returns its object versions. */
async function backup(
  backupId: string,
  tier: Tier,
  options: { segments?: number; recordVersions?: boolean } = {},
): Promise<{ key: string; versionId: string }[]> {
  const keys = backupKeys('', 'orders', backupId);
  const count = options.segments ?? 1;
  const segments = [];
  for (let i = 0; i < count; i++) {
    const key = dumpSegmentKey(keys.dump, i);
    segments.push({ key, bytes: 4, versionId: await put({ Key: key, Body: 'dump' }) });
  }
  const globalsVersion = await put({ Key: keys.globals, Body: 'globals' });
  const record = options.recordVersions ?? true;
  const [first] = segments;
  const manifest: Manifest = fakeManifest('orders', backupId, {
    tier,
    dump: {
      key: keys.dump,
      bytes: 4 * count,
      sha256: sha,
      format: 'custom',
      compression: 'zstd:1',
      ...(record ? { versionId: first?.versionId } : {}),
      ...(count > 1 ? { segments } : {}),
    },
    globals: { key: keys.globals, bytes: 7, sha256: sha, ...(record ? { versionId: globalsVersion } : {}) },
  });
  const manifestVersion = await put({ Key: keys.manifest, Body: serializeManifest(manifest) });
  return [
    ...segments.map((s) => ({ key: s.key, versionId: s.versionId })),
    { key: keys.globals, versionId: globalsVersion },
    { key: keys.manifest, versionId: manifestVersion },
  ];
}

/** The state KeepProvenBackup gets after EvaluateReport. */
function state(backupId: string, passed = true, mode: 'drill' | 'restore' = 'drill') {
  const message = `Restore drill of backup ${backupId} of "orders" ${passed ? 'PASSED' : 'FAILED'}.`;
  return {
    database: 'orders',
    drill: {
      database: 'orders',
      backupId,
      manifestKey: backupKeys('', 'orders', backupId).manifest,
      reportKey: `drills/orders/${backupId}/20261201T030000Z.json`,
      cpu: '1024',
    },
    evaluation: {
      passed,
      database: 'orders',
      backupId,
      subject: `pgproof drill ${passed ? 'passed' : 'FAILED'}: orders ${backupId}`,
      message,
      drillPassed: passed ? 1 : 0,
      mode,
    },
  };
}

async function hold(object: { key: string; versionId: string }): Promise<string | undefined> {
  const response = await moto.client.send(
    new GetObjectLegalHoldCommand({ Bucket: moto.bucket, Key: object.key, VersionId: object.versionId }),
  );
  return response.LegalHold?.Status;
}
const holds = (objects: { key: string; versionId: string }[]) => Promise.all(objects.map(hold));

async function index() {
  const key = provenIndexKey('', 'orders');
  return parseProvenIndex((await moto.get(key)).toString('utf8'), key);
}

beforeAll(async () => {
  moto = await startMoto();
  for (const [name, value] of Object.entries(moto.env)) vi.stubEnv(name, value);
  vi.stubEnv('BACKUP_PREFIX', '');
  vi.stubEnv('POWERTOOLS_LOG_LEVEL', 'SILENT');
  ({ handler } = await import('../../functions/keep-proven-backup.ts'));
});
afterAll(async () => {
  vi.unstubAllEnvs();
  await moto?.stop();
});

describe('keep-proven-backup handler on an Object Lock bucket', () => {
  let first: { key: string; versionId: string }[];
  let second: { key: string; versionId: string }[];

  it('holds every object version of a passing backup, lists it in the index and says so', async () => {
    first = await backup('20261124T020000Z', 'daily');
    // A later version at the dump's key (the bucket policy forbids it in AWS): the hold is on the backup's own.
    const later = await put({ Key: first[0]?.key ?? '', Body: 'other' });
    const evaluation = await handler(state('20261124T020000Z'));
    expect(await holds(first)).toEqual(['ON', 'ON', 'ON']);
    expect(await hold({ key: first[0]?.key ?? '', versionId: later })).toBeUndefined();
    expect(evaluation.message).toBe(
      'Restore drill of backup 20261124T020000Z of "orders" PASSED.\nKept: 20261124T020000Z is now the last proven daily backup of "orders": a legal hold on each of its 3 object versions keeps it past its daily expiry until a newer daily backup passes a drill.',
    );
    const written = await index();
    expect(heldBackups(written)).toEqual({ daily: ['20261124T020000Z'] });
    expect(written.tiers.daily?.[0]?.objects).toEqual(first);
  });

  it('keeps a held version from deletion, as lifecycle expiration would try', async () => {
    const [dump] = first;
    await expect(
      moto.client.send(
        new DeleteObjectCommand({ Bucket: moto.bucket, Key: dump?.key, VersionId: dump?.versionId }),
      ),
    ).rejects.toMatchObject({ name: 'AccessDenied' });
  });

  it('holds a newer passing backup of the tier, then releases the older one to its expiry', async () => {
    second = await backup('20261125T020000Z', 'daily');
    const evaluation = await handler(state('20261125T020000Z'));
    expect(await holds(second)).toEqual(['ON', 'ON', 'ON']);
    expect(await holds(first)).toEqual(['OFF', 'OFF', 'OFF']);
    expect(evaluation.message).toContain(
      '; released 20261124T020000Z (no longer the newest proven daily backup) to its normal expiry.',
    );
    expect(heldBackups(await index())).toEqual({ daily: ['20261125T020000Z'] });
    // Released, the old version can go as rotation would take it.
    const [dump] = first;
    await moto.client.send(
      new DeleteObjectCommand({ Bucket: moto.bucket, Key: dump?.key, VersionId: dump?.versionId }),
    );
  });

  it('leaves the newer proven backup held when an older one passes, and does nothing for a failed drill or a restore', async () => {
    const older = await handler(state('20261124T020000Z'));
    expect(older.message).toContain(
      'Not kept: the newer 20261125T020000Z stays the last proven daily backup of "orders".',
    );
    const third = await backup('20261126T020000Z', 'daily');
    for (const [passed, mode] of [
      [false, 'drill'],
      [true, 'restore'],
    ] as const) {
      const input = state('20261126T020000Z', passed, mode);
      expect(await handler(input)).toEqual(input.evaluation);
    }
    expect(await holds(second)).toEqual(['ON', 'ON', 'ON']);
    expect(await holds(third)).toEqual([undefined, undefined, undefined]);
    expect(heldBackups(await index())).toEqual({ daily: ['20261125T020000Z'] });
  });

  it('holds each segment of a dump stored as several objects, and the versions of a manifest that names none', async () => {
    const segmented = await backup('20261201T020000Z', 'monthly', { segments: 3 });
    const unrecorded = await backup('20261207T020000Z', 'weekly', { recordVersions: false });
    await handler(state('20261201T020000Z'));
    await handler(state('20261207T020000Z'));
    expect(await holds(segmented)).toEqual(['ON', 'ON', 'ON', 'ON', 'ON']);
    expect(await holds(unrecorded)).toEqual(['ON', 'ON', 'ON']);
    expect(heldBackups(await index())).toEqual({
      daily: ['20261125T020000Z'],
      weekly: ['20261207T020000Z'],
      monthly: ['20261201T020000Z'],
    });
  });

  it('ends with only the newest held when two drills of a tier pass at once', async () => {
    const a = await backup('20261208T020000Z', 'daily');
    const b = await backup('20261209T020000Z', 'daily');
    await Promise.all([handler(state('20261208T020000Z')), handler(state('20261209T020000Z'))]);
    expect(await holds(b)).toEqual(['ON', 'ON', 'ON']);
    expect(await holds(a)).not.toContain('ON');
    expect(await holds(second)).toEqual(['OFF', 'OFF', 'OFF']);
    expect(heldBackups(await index()).daily).toEqual(['20261209T020000Z']);
  });

  it('rejects a manifest of another backup than the one drilled, naming both', async () => {
    const input = state('20261209T020000Z');
    input.drill.backupId = '20261208T020000Z';
    await expect(handler(input)).rejects.toThrow(
      'the manifest orders/20261209T020000Z/manifest.json is of backup 20261209T020000Z of "orders", not of the drilled 20261208T020000Z of "orders"',
    );
  });
});
