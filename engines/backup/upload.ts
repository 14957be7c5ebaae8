import { createHash } from 'node:crypto';
import { type Readable, Transform } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  type CreateMultipartUploadCommandOutput,
  HeadObjectCommand,
  PutObjectCommand,
  type PutObjectCommandInput,
  type S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { describeS3Error, StorageError } from '../../core/errors.ts';
import { isNotFound } from '../../core/s3-client.ts';

/**
 * Writing a backup's objects: every object gets the same protection (SSE-KMS, tags, Object Lock);
 * the dump streams through SHA-256 into a multipart upload whose memory stays bounded.
 */

/** What every object of a backup carries. */
export interface ObjectProtection {
  /** SSE-KMS with this key when set. */
  readonly kmsKeyId: string | undefined;
  /** Object Lock retain-until when set. */
  readonly retainUntil: Date | undefined;
  readonly lockMode: 'GOVERNANCE' | 'COMPLIANCE';
  /** `pgproof:tier=...&pgproof:database=...` */
  readonly tagging: string;
}

/** The request parameters of a protection. */
export function protectionParams(p: ObjectProtection): Partial<PutObjectCommandInput> {
  return {
    Tagging: p.tagging,
    ...(p.kmsKeyId
      ? { ServerSideEncryption: 'aws:kms', SSEKMSKeyId: p.kmsKeyId, BucketKeyEnabled: true }
      : {}),
    ...(p.retainUntil ? { ObjectLockMode: p.lockMode, ObjectLockRetainUntilDate: p.retainUntil } : {}),
  } as const;
}

const MiB = 1024 * 1024;
/** S3's limits: 10,000 parts, parts of 5 MiB to 5 GiB, objects up to 5 TiB. */
export const S3_MAX_PARTS = 10_000;
const S3_MAX_PART = 5 * 1024 * MiB;
const MIN_PART = 8 * MiB;

/**
 * Part size and concurrency for a dump expected to be at most `expectedBytes` (the database's size
 * on disk; a dump is nearly always smaller). Parts grow so that twice the expected size still fits in
 * 9,000 parts (headroom for growth during the dump); fewer parts are in flight when they are large, so
 * memory, about (queue + 1) × part size, stays bounded.
 */
export function choosePartSize(expectedBytes: number): { partSize: number; queueSize: number } {
  const needed = Math.ceil((2 * Math.max(0, expectedBytes)) / 9_000);
  const partSize = Math.min(S3_MAX_PART, Math.max(MIN_PART, Math.ceil(needed / MiB) * MiB));
  return { partSize, queueSize: partSize <= 16 * MiB ? 4 : 2 };
}

/** A pass-through stream that hashes (SHA-256) and counts what flows. */
export class HashingStream extends Transform {
  private readonly hash = createHash('sha256');
  bytes = 0;

  override _transform(
    chunk: Buffer,
    _encoding: BufferEncoding,
    callback: (e?: Error | null, c?: Buffer) => void,
  ) {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    callback(null, chunk);
  }

  /** The hex digest; call once the stream has ended. */
  digest(): string {
    return this.hash.digest('hex');
  }
}

/** Result of a streamed upload. */
export interface UploadedObject {
  readonly key: string;
  readonly bytes: number;
  readonly sha256: string;
}

/**
 * Streams `body` into `key` as a multipart upload. On any failure (the body erroring included) the
 * multipart upload is aborted, and the abort is awaited, before the error is rethrown: nothing
 * half-written is left behind.
 */
export async function uploadStream(
  s3: S3Client,
  bucket: string,
  key: string,
  body: Readable,
  protection: ObjectProtection,
  sizing: { partSize: number; queueSize: number },
): Promise<UploadedObject> {
  const hashing = new HashingStream();
  body.on('error', (error) => hashing.destroy(error));
  body.pipe(hashing);
  const upload = new Upload({
    client: s3,
    params: {
      Bucket: bucket,
      Key: key,
      Body: hashing,
      ContentType: 'application/octet-stream',
      ...protectionParams(protection),
    },
    partSize: sizing.partSize,
    queueSize: sizing.queueSize,
    leavePartsOnError: false,
  });
  try {
    await upload.done();
  } catch (error) {
    hashing.destroy();
    await abortUpload(s3, upload, bucket, key);
    throw describeS3Error(error, 'multipart upload', bucket, key);
  }
  return { key, bytes: hashing.bytes, sha256: hashing.digest() };
}

/**
 * Aborts the multipart upload behind `upload`, if one was created. lib-storage aborts on its own
 * only once its readers wind down, after `done()` has already rejected; the runner would exit before.
 */
async function abortUpload(s3: S3Client, upload: Upload, bucket: string, key: string): Promise<void> {
  const internals = upload as unknown as {
    createMultiPartPromise?: Promise<CreateMultipartUploadCommandOutput>;
  };
  const created = await internals.createMultiPartPromise?.catch(() => undefined);
  if (!created?.UploadId) return;
  for (let attempt = 1; attempt <= 3; attempt++) {
    try {
      await s3.send(
        new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: created.UploadId }),
      );
      return;
    } catch (error) {
      if (isNotFound(error) || (error as { name?: string }).name === 'NoSuchUpload') return;
      if (attempt === 3) return; // the bucket's lifecycle rule aborts it after a day
    }
  }
}

/** Writes a small object (globals, manifest) with the backup's protection. */
export async function putObject(
  s3: S3Client,
  bucket: string,
  key: string,
  body: Buffer | string,
  protection: ObjectProtection,
  extra: Partial<PutObjectCommandInput> = {},
): Promise<void> {
  try {
    await s3.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: key,
        Body: body,
        ...protectionParams(protection),
        ...extra,
      }),
    );
  } catch (error) {
    throw describeS3Error(error, 'PutObject', bucket, key);
  }
}

/** True when `key` exists. */
export async function objectExists(s3: S3Client, bucket: string, key: string): Promise<boolean> {
  try {
    await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    return true;
  } catch (error) {
    if (isNotFound(error)) return false;
    throw describeS3Error(error, 'HeadObject', bucket, key);
  }
}

/** Checks that S3 holds `expectedBytes` at `key` (the upload was not silently truncated). */
export async function assertStoredSize(
  s3: S3Client,
  bucket: string,
  key: string,
  expectedBytes: number,
): Promise<void> {
  let stored: number | undefined;
  try {
    stored = (await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }))).ContentLength;
  } catch (error) {
    throw describeS3Error(error, 'HeadObject', bucket, key);
  }
  if (stored !== expectedBytes) {
    throw new StorageError(
      `s3://${bucket}/${key} holds ${stored} bytes but ${expectedBytes} were sent; nothing was kept, run the backup again`,
    );
  }
}
