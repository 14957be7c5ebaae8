import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  downloadObject,
  downloadObjects,
  sha256File,
  verifyChecksum,
} from '../../../engines/restore/download.ts';
import { type S3Server, startS3 } from '../../support/s3.ts';

const KiB = 1024;

describe('downloadObject', () => {
  let s3: S3Server;
  let work: string;
  const body = randomBytes(3 * 1024 * KiB + 123);

  beforeAll(async () => {
    s3 = await startS3();
    work = mkdtempSync(join(tmpdir(), 'pgproof-download-'));
    await s3.client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: 'db/dump.pgdump', Body: body }));
  });
  afterAll(async () => {
    await s3?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  it('downloads an object with parallel ranged GETs that name its ETag, byte for byte', async () => {
    s3.requests.length = 0;
    const path = join(work, 'parts.pgdump');
    const result = await downloadObject(s3.client, s3.bucket, 'db/dump.pgdump', path, {
      partBytes: 256 * KiB,
      concurrency: 4,
    });
    expect(result).toEqual({ path, bytes: body.length });
    expect(readFileSync(path).equals(body)).toBe(true);
    const gets = s3.requests.filter((r) => r.method === 'GET');
    expect(gets).toHaveLength(13);
    expect(gets.map((r) => r.headers.range).sort()).toContain(`bytes=${12 * 256 * KiB}-${body.length - 1}`);
    expect(gets.every((r) => r.headers['if-match'] !== undefined)).toBe(true);
  });

  it('reports progress as ranges complete, ending at the object size', async () => {
    const seen: [number, number][] = [];
    await downloadObject(s3.client, s3.bucket, 'db/dump.pgdump', join(work, 'progress.pgdump'), {
      partBytes: 1024 * KiB,
      concurrency: 2,
      onProgress: (done, total) => seen.push([done, total]),
    });
    expect(seen[0]).toEqual([0, body.length]);
    expect(seen.at(-1)).toEqual([body.length, body.length]);
    expect(seen).toHaveLength(1 + 4);
    expect(seen.every(([done], i) => i === 0 || done > (seen[i - 1]?.[0] ?? 0))).toBe(true);
  });

  it('hashes objects laid end to end as their ranges land, whatever order they land in', async () => {
    await s3.client.send(
      new PutObjectCommand({
        Bucket: s3.bucket,
        Key: 'db/dump.pgdump.00001',
        Body: body.subarray(0, 700 * KiB),
      }),
    );
    // The first range is slow: every later one lands before it, and the hash still follows file order.
    s3.inject({
      when: (r) =>
        r.method === 'GET' &&
        r.path.endsWith('/db/dump.pgdump') &&
        r.headers.range === `bytes=0-${256 * KiB - 1}`,
      status: 503,
      code: 'SlowDown',
      times: 1,
    });
    const path = join(work, 'pieces.pgdump');
    const result = await downloadObjects(
      s3.client,
      s3.bucket,
      [{ key: 'db/dump.pgdump' }, { key: 'db/dump.pgdump.00001' }],
      path,
      { partBytes: 256 * KiB, concurrency: 3 },
    );
    s3.clearFaults();
    const whole = Buffer.concat([body, body.subarray(0, 700 * KiB)]);
    expect(readFileSync(path).equals(whole)).toBe(true);
    expect(result).toEqual({
      path,
      bytes: whole.length,
      pieceBytes: [body.length, 700 * KiB],
      sha256: createHash('sha256').update(whole).digest('hex'),
    });
  });

  it('retries a part whose request failed, and still gets every byte', async () => {
    s3.inject({
      when: (r) => r.method === 'GET' && r.headers.range === 'bytes=0-1048575',
      status: 400,
      code: 'BadRequest',
      times: 1,
    });
    const path = join(work, 'retried.pgdump');
    await downloadObject(s3.client, s3.bucket, 'db/dump.pgdump', path, {
      partBytes: 1024 * KiB,
      concurrency: 2,
    });
    s3.clearFaults();
    expect(readFileSync(path).equals(body)).toBe(true);
  });

  it('fails a download whose object is missing, naming the object', async () => {
    await expect(
      downloadObject(s3.client, s3.bucket, 'db/missing.pgdump', join(work, 'missing'), {
        partBytes: 1024 * KiB,
        concurrency: 2,
      }),
    ).rejects.toThrow(/^S3 HeadObject on s3:\/\/backups\/db\/missing\.pgdump failed \(NotFound 404/);
  });

  it('compares size and SHA-256 with the manifest, naming what differs', async () => {
    const path = join(work, 'parts.pgdump');
    const { sha256 } = await sha256File(path);
    await expect(verifyChecksum(path, { key: 'k', bytes: body.length, sha256 })).resolves.toMatchObject({
      passed: true,
    });
    await expect(verifyChecksum(path, { key: 'k', bytes: body.length + 1, sha256 })).resolves.toEqual({
      passed: false,
      detail: `k is ${body.length} bytes, the manifest says ${body.length + 1}: the object was changed or truncated; restore another backup`,
    });
    await expect(
      verifyChecksum(path, { key: 'k', bytes: body.length, sha256: '0'.repeat(64) }),
    ).resolves.toEqual({
      passed: false,
      detail: `k has SHA-256 ${sha256}, the manifest says ${'0'.repeat(64)}: the object was changed; restore another backup`,
    });
  });
});
