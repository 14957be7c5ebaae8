import { describe, expect, it } from 'vitest';
import { s3OperationOf, timeOperations } from '../../bench/s3-requests.ts';

describe('bench S3 request timing', () => {
  it('names the S3 operation of a path-style request', () => {
    expect(s3OperationOf('POST', '/b/k/dump.pgdump?uploads')).toBe('CreateMultipartUpload');
    expect(s3OperationOf('PUT', '/b/k/dump.pgdump?partNumber=2&uploadId=abc')).toBe('UploadPart');
    expect(s3OperationOf('POST', '/b/k/dump.pgdump?uploadId=abc')).toBe('CompleteMultipartUpload');
    expect(s3OperationOf('GET', '/b?list-type=2&prefix=x')).toBe('ListObjects');
    expect(s3OperationOf('GET', '/b/k/dump.pgdump')).toBe('GetObject');
    expect(s3OperationOf('HEAD', '/b/k/manifest.json')).toBe('HeadObject');
    expect(s3OperationOf('PUT', '/b/k/manifest.json')).toBe('PutObject');
  });

  it('groups the requests of a variant by operation, relative to its start', () => {
    const timing = timeOperations(
      [
        { method: 'PUT', url: '/b/k?partNumber=1&uploadId=u', startMs: 1_000, endMs: 1_500 },
        { method: 'PUT', url: '/b/k?partNumber=2&uploadId=u', startMs: 1_200, endMs: 2_000 },
        { method: 'POST', url: '/b/k?uploadId=u', startMs: 3_000, endMs: 3_800 },
        { method: 'HEAD', url: '/b/other', startMs: 9_000, endMs: 9_001 },
      ],
      1_000,
      5_000,
    );
    expect(timing).toEqual({
      UploadPart: { count: 2, serverSeconds: 1.3, firstStartSeconds: 0, lastEndSeconds: 1 },
      CompleteMultipartUpload: { count: 1, serverSeconds: 0.8, firstStartSeconds: 2, lastEndSeconds: 2.8 },
    });
  });
});
