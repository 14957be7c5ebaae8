import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readManifest } from '../../../core/find-backup.ts';
import { measureReplication } from '../../../engines/restore/replication.ts';
import { fakeManifest, putManifest } from '../../support/manifests.ts';
import { type S3Server, startS3 } from '../../support/s3.ts';

describe('DR drill: the replication measured from the replica bucket alone', () => {
  let s3: S3Server;
  beforeAll(async () => {
    s3 = await startS3({ bucket: 'replica' });
  });
  afterAll(() => s3?.stop());

  it("measures the newest replicated backup's age and its lag: LastModified minus finishedAt", async () => {
    const now = Date.now();
    // The primary finished the newest backup 90 s before it lands here (the put below is its arrival).
    const older = fakeManifest('orders', '20261120T020000Z');
    const newest = fakeManifest('orders', '20261121T020000Z', {
      startedAt: new Date(now - 2 * 3_600_000).toISOString(),
      finishedAt: new Date(now - 90_000).toISOString(),
    });
    const olderKey = await putManifest(s3, older, 'pg/');
    const newestKey = await putManifest(s3, newest, 'pg/');
    const landed = Date.now();

    // An on-demand drill of the older backup still reports on the newest one.
    const dr = await measureReplication(s3.client, {
      bucket: s3.bucket,
      prefix: 'pg/',
      name: 'orders',
      region: 'eu-central-1',
      drilled: { manifestKey: olderKey, manifest: await readManifest(s3.client, s3.bucket, olderKey) },
      startedAt: new Date(landed),
    });
    expect(dr).toMatchObject({ region: 'eu-central-1', newestBackupId: '20261121T020000Z' });
    expect(dr.newestBackupAgeHours).toBeCloseTo((landed - (now - 2 * 3_600_000)) / 3_600_000, 2);
    // LastModified has whole seconds: the measured lag is 90 s, give or take the truncation.
    expect(dr.replicationLagSeconds).toBeGreaterThanOrEqual(89);
    expect(dr.replicationLagSeconds).toBeLessThanOrEqual(90 + (landed - now) / 1000);
    console.info(`measured replication lag: ${dr.replicationLagSeconds} s`);

    // A scheduled drill (the newest) reads no manifest twice.
    const before = s3.requests.length;
    const again = await measureReplication(s3.client, {
      bucket: s3.bucket,
      prefix: 'pg/',
      name: 'orders',
      region: 'eu-central-1',
      drilled: { manifestKey: newestKey, manifest: await readManifest(s3.client, s3.bucket, newestKey) },
      startedAt: new Date(landed),
    });
    expect(again).toEqual(dr);
    const made = s3.requests.slice(before + 1).map((r) => r.method);
    expect(made).toEqual(['GET', 'HEAD']);
  });

  it('reads a lag under the resolution of LastModified as 0, never negative', async () => {
    const manifest = fakeManifest('billing', '20261121T030000Z', {
      finishedAt: new Date(Date.now() + 5_000).toISOString(),
    });
    const key = await putManifest(s3, manifest);
    const dr = await measureReplication(s3.client, {
      bucket: s3.bucket,
      prefix: '',
      name: 'billing',
      region: 'eu-central-1',
      drilled: { manifestKey: key, manifest },
      startedAt: new Date(),
    });
    expect(dr.replicationLagSeconds).toBe(0);
  });
});
