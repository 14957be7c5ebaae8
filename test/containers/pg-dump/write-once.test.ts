import { createHash } from 'node:crypto';
import { DeleteObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backupKeys } from '../../../core/layout.ts';
import { type Manifest, parseManifest } from '../../../core/manifest.ts';
import { type MotoServer, startMoto } from '../../support/moto.ts';
import { type PgCluster, startPostgres } from '../../support/postgres.ts';
import { lastLine, runScript } from '../../support/processes.ts';
import { seedLargeTable, seedVariedDatabase } from '../../support/seed.ts';

const RUNNER = 'containers/pg-dump/main.ts';

/**
 * Backups are write-once in fact: against moto's S3 (versioning, conditional writes, Object Lock, none of
 * which s3rver has), every object is written with If-None-Match: *, so S3 itself refuses a second write to
 * a backup's key, and the manifest names the versions written.
 */
describe('backup runner on a versioned, Object-Locked bucket', () => {
  let cluster: PgCluster;
  let s3: MotoServer;
  const FIRST = '20261121T020000Z';
  const keys = backupKeys('', 'shop', FIRST);
  let manifest: Manifest;

  beforeAll(async () => {
    [cluster, s3] = await Promise.all([startPostgres(), startMoto()]);
    await seedVariedDatabase(cluster, 'shop', 500);
    // Incompressible: the dump needs several parts, so its write is a CompleteMultipartUpload.
    await seedLargeTable(cluster, 'shop', 20);
    const result = await backup(FIRST, { RETENTION_DAYS: '1' });
    expect(result.code, result.stderr).toBe(0);
    manifest = parseManifest((await s3.get(keys.manifest)).toString(), keys.manifest);
  });
  afterAll(async () => {
    await Promise.all([cluster?.stop(), s3?.stop()]);
  });

  const backup = (id: string, extra: Record<string, string> = {}) =>
    runScript(RUNNER, { ...cluster.env('shop'), ...s3.env, BACKUP_ID: id, ...extra });

  it('records in the manifest the one version of the dump and of the globals it wrote', async () => {
    for (const object of [manifest.dump, manifest.globals]) {
      const versions = await s3.versions(object?.key ?? '');
      expect(versions).toHaveLength(1);
      expect(object?.versionId).toBe(versions[0]?.versionId);
      const stored = await s3.get(object?.key ?? '', object?.versionId);
      expect(stored.length).toBe(object?.bytes);
      expect(createHash('sha256').update(stored).digest('hex')).toBe(object?.sha256);
    }
    expect(manifest.dump.bytes).toBeGreaterThan(2 * 8 * 1024 * 1024);
  });

  it('locks what it writes: a locked version cannot be deleted', async () => {
    for (const key of [keys.manifest, keys.globals]) {
      const [version] = await s3.versions(key);
      await expect(
        s3.client.send(
          new DeleteObjectCommand({ Bucket: s3.bucket, Key: key, VersionId: version?.versionId }),
        ),
      ).rejects.toMatchObject({ name: 'AccessDenied', $metadata: { httpStatusCode: 403 } });
      expect(await s3.versions(key)).toEqual([version]);
    }
  });

  it('fails a second backup whose dump key holds an object (412), leaving that dump as it was', async () => {
    // The manifest hidden behind a delete marker: the runner's own check finds no backup, so only the
    // conditional write stands between the second backup and the first one's dump.
    await s3.client.send(new DeleteObjectCommand({ Bucket: s3.bucket, Key: keys.manifest }));
    try {
      const second = await backup(FIRST, { DUMP_GLOBALS: 'false' });
      expect(second.code, second.stderr).toBe(1);
      expect(lastLine(second.stderr)).toBe(
        `pgproof backup failed: a backup object already exists at s3://${s3.bucket}/${keys.dump} (S3 answered 412 PreconditionFailed to a write allowed only where no object is); nothing was overwritten: use another BACKUP_ID (or leave it unset)`,
      );
      expect(await s3.versions(keys.dump)).toEqual([
        { versionId: manifest.dump.versionId, isLatest: true, size: manifest.dump.bytes },
      ]);
      expect(await s3.incompleteUploads()).toEqual([]);
      expect(await s3.keys('shop/')).toEqual([keys.dump, keys.globals]);
    } finally {
      // Restore the manifest: remove the delete marker in front of it.
      const [marker] = await s3.deleteMarkers(keys.manifest);
      await s3.client.send(
        new DeleteObjectCommand({ Bucket: s3.bucket, Key: keys.manifest, VersionId: marker }),
      );
    }
    expect(parseManifest((await s3.get(keys.manifest)).toString(), keys.manifest)).toEqual(manifest);
  });

  it('fails a backup whose globals key holds an object (412), leaving it as it was and writing no manifest', async () => {
    const id = '20261122T020000Z';
    const taken = backupKeys('', 'shop', id);
    const written = await s3.client.send(
      new PutObjectCommand({ Bucket: s3.bucket, Key: taken.globals, Body: 'CREATE ROLE earlier;\n' }),
    );
    const result = await backup(id, { INCLUDE_TABLES: 'public.customers' });
    expect(result.code, result.stderr).toBe(1);
    expect(lastLine(result.stderr)).toBe(
      `pgproof backup failed: a backup object already exists at s3://${s3.bucket}/${taken.globals} (S3 answered 412 PreconditionFailed to a write allowed only where no object is); nothing was overwritten: use another BACKUP_ID (or leave it unset)`,
    );
    expect(await s3.versions(taken.globals)).toEqual([
      { versionId: written.VersionId, isLatest: true, size: 21 },
    ]);
    expect((await s3.get(taken.globals)).toString()).toBe('CREATE ROLE earlier;\n');
    expect(await s3.keys(`shop/${id}/`)).not.toContain(taken.manifest);
    expect(await s3.incompleteUploads()).toEqual([]);
  });
});
