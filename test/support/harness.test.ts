import { chmodSync, cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { DeleteObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMoto } from './moto.ts';
import { embeddedBinDir, type PgCluster, startPostgres } from './postgres.ts';
import { type S3Server, startS3 } from './s3.ts';

describe('test harness', () => {
  let pg: PgCluster;
  let s3: S3Server;
  beforeAll(async () => {
    [pg, s3] = await Promise.all([startPostgres(), startS3()]);
  });
  afterAll(async () => {
    await Promise.all([pg?.stop(), s3?.stop()]);
  });

  it('starts a PostgreSQL cluster that takes password logins', async () => {
    const [row] = await pg.query<{ one: number }>('postgres', 'select 1 as one');
    expect(row?.one).toBe(1);
    expect(pg.major).toBeGreaterThanOrEqual(15);
  });

  it('starts a server whose programs lie in a folder only its owner may enter (a home folder of mode 700)', async () => {
    // As root the servers run as `postgres`, who cannot reach such a folder: the harness runs a copy.
    const hidden = mkdtempSync(join(tmpdir(), 'pgproof-private-'));
    try {
      chmodSync(hidden, 0o700);
      cpSync(dirname(embeddedBinDir(17)), join(hidden, 'server'), {
        recursive: true,
        verbatimSymlinks: true,
      });
      const cluster = await startPostgres({ binDir: join(hidden, 'server', 'bin') });
      try {
        const [row] = await cluster.query<{ v: string }>(
          'postgres',
          "SELECT current_setting('server_version') AS v",
        );
        expect(row?.v).toMatch(/^17\./);
      } finally {
        await cluster.stop();
      }
    } finally {
      rmSync(hidden, { recursive: true, force: true });
    }
  });

  it('starts an S3 server that stores objects byte for byte and records requests', async () => {
    await s3.client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: 'a/b.txt', Body: 'hello' }));
    expect((await s3.get('a/b.txt')).toString()).toBe('hello');
    expect(await s3.keys('a/')).toEqual(['a/b.txt']);
    expect(s3.requests.some((r) => r.method === 'PUT' && r.path === `/${s3.bucket}/a/b.txt`)).toBe(true);
  });
});

describe("test harness: moto's S3 server", () => {
  it('starts a versioned, Object-Locked bucket: version ids, 412 on If-None-Match, locked versions kept', async () => {
    const moto = await startMoto({ bucket: 'vault' });
    try {
      const put = (body: string, extra = {}) =>
        moto.client.send(new PutObjectCommand({ Bucket: 'vault', Key: 'a.txt', Body: body, ...extra }));
      const first = await put('one', {
        ObjectLockMode: 'GOVERNANCE',
        ObjectLockRetainUntilDate: new Date(Date.now() + 86_400_000),
      });
      await expect(put('two', { IfNoneMatch: '*' })).rejects.toMatchObject({
        name: 'PreconditionFailed',
        $metadata: { httpStatusCode: 412 },
      });
      const second = await put('three');
      expect(await moto.versions('a.txt')).toEqual([
        { versionId: second.VersionId, isLatest: true, size: 5 },
        { versionId: first.VersionId, isLatest: false, size: 3 },
      ]);
      expect((await moto.get('a.txt', first.VersionId)).toString()).toBe('one');
      await expect(
        moto.client.send(
          new DeleteObjectCommand({ Bucket: 'vault', Key: 'a.txt', VersionId: first.VersionId }),
        ),
      ).rejects.toMatchObject({ name: 'AccessDenied' });
      await moto.client.send(new DeleteObjectCommand({ Bucket: 'vault', Key: 'a.txt' }));
      expect(await moto.keys()).toEqual([]);
      expect(await moto.deleteMarkers('a.txt')).toHaveLength(1);
    } finally {
      await moto.stop();
    }
  });
});
