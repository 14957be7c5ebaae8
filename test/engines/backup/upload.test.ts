import { describe, expect, it } from 'vitest';
import { choosePartSize, protectionParams, S3_MAX_PARTS } from '../../../engines/backup/upload.ts';

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
