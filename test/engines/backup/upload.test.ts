import type { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import {
  assertStoredSize,
  BackupExistsError,
  layoutUpload,
  peakBufferedBytes,
  protectionParams,
  putObject,
  S3_MAX_PARTS,
  segmentCapacity,
  sharedUploadPlan,
  uploadPlan,
} from '../../../engines/backup/upload.ts';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const TiB = 1024 * GiB;

describe('the upload plan', () => {
  const MB = 1e6;
  const TB = 1e12;
  /** 1 MB to S3's 5 TB object limit, and past it: a backup of several objects has no such limit. */
  const sizes = [
    1 * MB,
    100 * MB,
    1e9,
    36 * GiB,
    78 * GiB,
    100 * GiB,
    1 * TB,
    1 * TiB,
    5 * TB,
    5 * TiB,
    50 * TiB,
  ];
  /** What the runner may hold of the dump at once, at any size: well inside its 200 MB. */
  const BOUND = 64 * MiB;

  it('holds the same bounded bytes at every size from 1 MB to 5 TB (and beyond): what grows is the segments', () => {
    const plan = uploadPlan();
    expect(plan).toEqual({ partSize: 8 * MiB, queueSize: 4, partsPerSegment: 10_000 });
    expect(segmentCapacity(plan)).toBe(10_000 * 8 * MiB);
    const rows = sizes.map((bytes) => ({ bytes, ...layoutUpload(plan, bytes) }));
    for (const row of rows) {
      expect(row.peakBufferedBytes, `${row.bytes} bytes`).toBe(48 * MiB);
      expect(row.peakBufferedBytes).toBeLessThanOrEqual(BOUND);
      expect(row.maxPartsPerSegment).toBeLessThanOrEqual(S3_MAX_PARTS);
      // Every segment fits in one object: at most 10,000 parts and S3's 5 TiB.
      expect(row.segments * segmentCapacity(plan)).toBeGreaterThanOrEqual(row.bytes);
      expect(segmentCapacity(plan)).toBeLessThanOrEqual(5 * TiB);
    }
    expect(rows.map((r) => [r.bytes, r.segments, r.maxPartsPerSegment])).toEqual([
      [1 * MB, 1, 1],
      [100 * MB, 1, 12],
      [1e9, 1, 120],
      [36 * GiB, 1, 4608],
      [78 * GiB, 1, 9984],
      [100 * GiB, 2, 10_000],
      [1 * TB, 12, 10_000],
      [1 * TiB, 14, 10_000],
      [5 * TB, 60, 10_000],
      [5 * TiB, 66, 10_000],
      [50 * TiB, 656, 10_000],
    ]);
  });

  it('keeps a dump of up to 78.1 GiB in the one object it always was', () => {
    expect(layoutUpload(uploadPlan(), 10_000 * 8 * MiB).segments).toBe(1);
    expect(layoutUpload(uploadPlan(), 10_000 * 8 * MiB + 1).segments).toBe(2);
    expect(layoutUpload(uploadPlan(), 0)).toEqual({
      segments: 1,
      maxPartsPerSegment: 1,
      peakBufferedBytes: 48 * MiB,
    });
  });

  it('shrinks parts and segments for tests and the benchmark, never below what S3 takes', () => {
    const small = uploadPlan({ partMiB: 5, segmentParts: 2 });
    expect(small).toEqual({ partSize: 5 * MiB, queueSize: 4, partsPerSegment: 2 });
    expect(layoutUpload(small, 30 * MB).segments).toBe(3);
    expect(peakBufferedBytes(small)).toBeLessThan(peakBufferedBytes(uploadPlan()));
    expect(() => uploadPlan({ partMiB: 4 })).toThrow(
      "a part under 5 MiB (4 MiB) must be its segment's only part, got 10000 parts: S3 refuses such parts but an object's last",
    );
    expect(uploadPlan({ partMiB: 1, segmentParts: 1 })).toEqual({
      partSize: MiB,
      queueSize: 4,
      partsPerSegment: 1,
    });
    expect(() => uploadPlan({ partMiB: 64 })).toThrow('a part is 1 to 8 MiB, got 64 MiB');
    expect(() => uploadPlan({ segmentParts: 10_001 })).toThrow('a segment has 1 to 10000 parts, got 10001');
  });

  it("keeps a parallel dump's uploads within one stream's memory, down to S3's 5 MiB parts", () => {
    const one = uploadPlan();
    expect(sharedUploadPlan(one, 1)).toBe(one);
    const two = sharedUploadPlan(one, 2);
    expect(two).toEqual({ partSize: 6 * MiB, queueSize: 2, partsPerSegment: S3_MAX_PARTS });
    expect(2 * peakBufferedBytes(two)).toBe(peakBufferedBytes(one));
    // Then at S3's minimum: 20 MiB a stream, whatever the dump's size.
    for (const archives of [3, 4, 16]) {
      expect(sharedUploadPlan(one, archives)).toEqual({
        partSize: 5 * MiB,
        queueSize: 2,
        partsPerSegment: S3_MAX_PARTS,
      });
    }
    expect(16 * peakBufferedBytes(sharedUploadPlan(one, 16))).toBe(320 * MiB);
    // A test's or the benchmark's smaller parts stay as small.
    expect(sharedUploadPlan(uploadPlan({ partMiB: 1, segmentParts: 1 }), 2).partSize).toBe(MiB);
  });
});

describe('object protection', () => {
  it('asks for SSE-KMS with a bucket key, tags, and Object Lock when configured', () => {
    const until = new Date('2027-01-01T00:00:00Z');
    expect(
      protectionParams({
        kmsKeyId: 'k',
        retainUntil: until,
        lockMode: 'GOVERNANCE',
        tagging: 'pgproof%3Atier=daily',
      }),
    ).toEqual({
      Tagging: 'pgproof%3Atier=daily',
      ServerSideEncryption: 'aws:kms',
      SSEKMSKeyId: 'k',
      BucketKeyEnabled: true,
      ObjectLockMode: 'GOVERNANCE',
      ObjectLockRetainUntilDate: until,
    });
  });

  it('asks for neither when not configured (the bucket defaults apply)', () => {
    expect(
      protectionParams({ kmsKeyId: undefined, retainUntil: undefined, lockMode: 'GOVERNANCE', tagging: 't' }),
    ).toEqual({
      Tagging: 't',
    });
  });
});

describe('write-once puts', () => {
  const protection = {
    kmsKeyId: undefined,
    retainUntil: undefined,
    lockMode: 'GOVERNANCE',
    tagging: 't',
  } as const;
  /** A client that records each command's input and answers with `answer`. */
  function client(answer: () => Promise<unknown>) {
    const sent: PutObjectCommand['input'][] = [];
    const s3 = {
      send: (command: PutObjectCommand) => {
        sent.push(command.input);
        return answer();
      },
    } as unknown as S3Client;
    return { s3, sent };
  }
  const s3Error = (name: string, status: number) =>
    Object.assign(new Error(name), { name, $metadata: { httpStatusCode: status } });

  it('writes only where no object is, and returns the version written', async () => {
    const { s3, sent } = client(async () => ({ VersionId: 'v1' }));
    expect(
      await putObject(s3, 'b', 'db/1/globals.sql', 'x', protection, { ContentType: 'application/sql' }),
    ).toBe('v1');
    expect(sent).toEqual([
      {
        Bucket: 'b',
        Key: 'db/1/globals.sql',
        Body: 'x',
        Tagging: 't',
        ContentType: 'application/sql',
        IfNoneMatch: '*',
      },
    ]);
  });

  it('rejects a key that holds an object (412) naming it and saying nothing was overwritten', async () => {
    const { s3 } = client(() => Promise.reject(s3Error('PreconditionFailed', 412)));
    const refused = putObject(s3, 'b', 'db/1/manifest.json', 'x', protection);
    await expect(refused).rejects.toBeInstanceOf(BackupExistsError);
    await expect(refused).rejects.toThrow(
      'a backup object already exists at s3://b/db/1/manifest.json (S3 answered 412 PreconditionFailed to a write allowed only where no object is); nothing was overwritten: use another BACKUP_ID (or leave it unset)',
    );
  });

  it('rejects a write racing another to the same key (409) saying nothing was overwritten', async () => {
    const { s3 } = client(() => Promise.reject(s3Error('ConditionalRequestConflict', 409)));
    await expect(putObject(s3, 'b', 'db/1/manifest.json', 'x', protection)).rejects.toThrow(
      'another write to s3://b/db/1/manifest.json was under way at the same moment (409 ConditionalRequestConflict); nothing was overwritten: make sure only one backup runs with this BACKUP_ID',
    );
  });
});

describe('the stored dump', () => {
  const head = (answer: object) => ({ send: async () => answer }) as unknown as S3Client;

  it('accepts the version written, at the size sent', async () => {
    await expect(
      assertStoredSize(head({ ContentLength: 10, VersionId: 'v1' }), 'b', 'k', 10, 'v1'),
    ).resolves.toBeUndefined();
    // No versions (an unversioned bucket): the size alone.
    await expect(
      assertStoredSize(head({ ContentLength: 10 }), 'b', 'k', 10, undefined),
    ).resolves.toBeUndefined();
  });

  it('rejects a dump whose current version is not the one written, writing no manifest', async () => {
    await expect(
      assertStoredSize(head({ ContentLength: 10, VersionId: 'v2' }), 'b', 'k', 10, 'v1'),
    ).rejects.toThrow(
      's3://b/k was replaced right after it was written (its current version is v2, not v1); no manifest was written: find out what writes there, then run the backup again',
    );
  });

  it('rejects a dump stored shorter than sent', async () => {
    await expect(
      assertStoredSize(head({ ContentLength: 9, VersionId: 'v1' }), 'b', 'k', 10, 'v1'),
    ).rejects.toThrow('s3://b/k holds 9 bytes but 10 were sent; nothing was kept, run the backup again');
  });
});
