import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backupTagging } from '../../../core/layout.ts';
import { uploadDump, uploadPlan } from '../../../engines/backup/upload.ts';
import { type MotoServer, startMoto } from '../../support/moto.ts';

const MiB = 1024 * 1024;
const sha256 = (body: Buffer) => createHash('sha256').update(body).digest('hex');

/** A stream of `body` in pg_dump's 64 KiB pipe chunks. */
function chunked(body: Buffer, chunk = 64 * 1024): Readable {
  return Readable.from(
    (function* () {
      for (let at = 0; at < body.length; at += chunk) yield body.subarray(at, at + chunk);
    })(),
  );
}

/**
 * The dump's segments on moto's S3 (versioning, conditional writes, Object Lock): a stream larger than one
 * segment continues in the next object, each with the backup's protection, the whole stream hashed once.
 */
describe('uploadDump in segments', () => {
  let s3: MotoServer;
  // 5 MiB parts, 2 to a segment: 10 MiB segments (S3 refuses parts under 5 MiB but the last).
  const plan = uploadPlan({ partMiB: 5, segmentParts: 2 });
  const retainUntil = new Date(Date.now() + 86_400_000);
  const protection = {
    kmsKeyId: undefined,
    retainUntil,
    lockMode: 'GOVERNANCE',
    tagging: backupTagging('weekly', 'orders'),
  } as const;

  /** Every command the client sent, with its input. */
  const sent: { command: string; input: Record<string, unknown> }[] = [];

  beforeAll(async () => {
    s3 = await startMoto();
    s3.client.middlewareStack.add(
      (next, context) => async (args) => {
        sent.push({ command: context.commandName ?? '', input: args.input as Record<string, unknown> });
        return next(args);
      },
      { step: 'initialize', name: 'recordCommands' },
    );
  });
  afterAll(async () => {
    await s3?.stop();
  });

  it('writes a dump larger than a segment as numbered objects that concatenate to it, each tagged and locked', async () => {
    const body = randomBytes(23 * MiB + 12_345);
    const dump = await uploadDump(
      s3.client,
      s3.bucket,
      'orders/1/dump.pgdump',
      chunked(body),
      protection,
      plan,
    );
    expect(dump.bytes).toBe(body.length);
    expect(dump.sha256).toBe(sha256(body));
    expect(dump.segments.map((s) => [s.key, s.bytes])).toEqual([
      ['orders/1/dump.pgdump', 10 * MiB],
      ['orders/1/dump.pgdump.00001', 10 * MiB],
      ['orders/1/dump.pgdump.00002', 3 * MiB + 12_345],
    ]);
    const stored = await Promise.all(dump.segments.map((s) => s3.get(s.key, s.versionId)));
    expect(Buffer.concat(stored).equals(body)).toBe(true);
    for (const segment of dump.segments) {
      expect(segment.versionId).toBe((await s3.versions(segment.key))[0]?.versionId);
      expect(await s3.tags(segment.key)).toMatchObject({
        'pgproof:tier': 'weekly',
        'pgproof:database': 'orders',
      });
      // moto does not lock a multipart object: the write that creates each must ask for the lock, and
      // the one that stores it (CompleteMultipartUpload, or the PutObject of a segment under a part) only
      // where no object is.
      const requests = sent.filter((r) => r.input.Key === segment.key);
      const [create, store] = ['CreateMultipartUploadCommand', 'CompleteMultipartUploadCommand'].map(
        (command) => requests.find((r) => r.command === command || r.command === 'PutObjectCommand')?.input,
      );
      expect(create).toMatchObject({
        ObjectLockMode: 'GOVERNANCE',
        ObjectLockRetainUntilDate: retainUntil,
        Tagging: protection.tagging,
      });
      expect(store).toMatchObject({ IfNoneMatch: '*' });
    }
    expect(await s3.incompleteUploads()).toEqual([]);
  });

  it('ends a dump that fills its last segment exactly there, with no empty segment after it', async () => {
    const body = randomBytes(20 * MiB);
    const dump = await uploadDump(
      s3.client,
      s3.bucket,
      'orders/2/dump.pgdump',
      chunked(body, 3 * MiB),
      protection,
      plan,
    );
    expect(dump.segments.map((s) => s.bytes)).toEqual([10 * MiB, 10 * MiB]);
    expect(await s3.keys('orders/2/')).toEqual(['orders/2/dump.pgdump', 'orders/2/dump.pgdump.00001']);
  });

  it('keeps a dump smaller than a segment the one object it always was', async () => {
    const body = randomBytes(7 * MiB);
    const dump = await uploadDump(
      s3.client,
      s3.bucket,
      'orders/3/dump.pgdump',
      chunked(body),
      protection,
      plan,
    );
    expect(dump.segments).toEqual([
      { key: 'orders/3/dump.pgdump', bytes: body.length, versionId: expect.any(String) },
    ]);
  });

  it("cuts parts under S3's minimum only as whole segments, each one PutObject (the benchmark's regime)", async () => {
    const body = randomBytes(3 * MiB + 5);
    const tiny = uploadPlan({ partMiB: 1, segmentParts: 1 });
    const dump = await uploadDump(
      s3.client,
      s3.bucket,
      'orders/6/dump.pgdump',
      chunked(body),
      protection,
      tiny,
    );
    expect(dump.segments.map((s) => s.bytes)).toEqual([MiB, MiB, MiB, 5]);
    const stored = await Promise.all(dump.segments.map((s) => s3.get(s.key, s.versionId)));
    expect(Buffer.concat(stored).equals(body)).toBe(true);
    const writes = sent.filter((r) => String(r.input.Key).startsWith('orders/6/'));
    expect(new Set(writes.map((r) => r.command))).toEqual(new Set(['PutObjectCommand', 'GetObjectCommand']));
  });

  it('fails when the stream fails in a later segment, aborting its multipart upload', async () => {
    const body = randomBytes(16 * MiB);
    const failing = Readable.from(
      (async function* () {
        yield* chunked(body);
        throw new Error('pg_dump exited with status 1');
      })(),
    );
    await expect(
      uploadDump(s3.client, s3.bucket, 'orders/4/dump.pgdump', failing, protection, plan),
    ).rejects.toThrow('pg_dump exited with status 1');
    // The first segment was complete; the second's multipart upload is gone, and no third was begun.
    expect(await s3.incompleteUploads()).toEqual([]);
    expect(await s3.keys('orders/4/')).toEqual(['orders/4/dump.pgdump']);
  });

  it('rejects a later segment whose key already holds an object (412), writing nothing over it', async () => {
    const taken = 'orders/5/dump.pgdump.00001';
    const earlier = await s3.client.send(
      new PutObjectCommand({ Bucket: s3.bucket, Key: taken, Body: 'earlier' }),
    );
    await expect(
      uploadDump(
        s3.client,
        s3.bucket,
        'orders/5/dump.pgdump',
        chunked(randomBytes(12 * MiB)),
        protection,
        plan,
      ),
    ).rejects.toThrow(
      `a backup object already exists at s3://${s3.bucket}/${taken} (S3 answered 412 PreconditionFailed`,
    );
    expect(await s3.versions(taken)).toEqual([{ versionId: earlier.VersionId, isLatest: true, size: 7 }]);
    expect(await s3.incompleteUploads()).toEqual([]);
  });
});
