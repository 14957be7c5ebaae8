import type { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import {
  assertStoredSize,
  BackupExistsError,
  choosePartSize,
  protectionParams,
  putObject,
  S3_MAX_PARTS,
} from '../../../engines/backup/upload.ts';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const TiB = 1024 * GiB;

describe('multipart sizing', () => {
  it('uses 8 MiB parts, four in flight, for small and medium databases', () => {
    expect(choosePartSize(0)).toEqual({ partSize: 8 * MiB, queueSize: 4 });
    expect(choosePartSize(20 * GiB)).toEqual({ partSize: 8 * MiB, queueSize: 4 });
  });

  it('grows parts so that twice the database size fits in the part limit', () => {
    for (const size of [100 * GiB, 1 * TiB, 2.5 * TiB]) {
      const { partSize } = choosePartSize(size);
      expect(partSize % MiB).toBe(0);
      expect(Math.ceil((2 * size) / partSize)).toBeLessThanOrEqual(S3_MAX_PARTS);
    }
  });

  it('can store a 5 TB object (the S3 limit) even when the database was estimated far smaller', () => {
    const { partSize } = choosePartSize(2.5 * TiB);
    expect(Math.ceil((5 * TiB) / partSize)).toBeLessThanOrEqual(S3_MAX_PARTS);
  });

  it('keeps fewer large parts in flight, never more than 5 GiB a part', () => {
    expect(choosePartSize(1 * TiB).queueSize).toBe(2);
    expect(choosePartSize(100 * TiB).partSize).toBe(5 * GiB);
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
