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
import { describeS3Error, PgproofError, StorageError } from '../../core/errors.ts';
import { isNotFound } from '../../core/s3-client.ts';

/**
 * Writing a backup's objects: every object gets the same protection (SSE-KMS, tags, Object Lock);
 * the dump streams through SHA-256 into a multipart upload whose memory stays bounded. Every write is
 * conditional (`If-None-Match: *`): S3 stores it only where no object is, so a backup is never
 * overwritten, whatever wrote first.
 */

/** A backup object already exists at the key: the runner never overwrites one. */
export class BackupExistsError extends PgproofError {
  constructor(bucket: string, key: string, how: 'manifest found' | 'write refused' = 'manifest found') {
    super(
      how === 'manifest found'
        ? `a backup already exists at s3://${bucket}/${key}; backups are never overwritten: use another BACKUP_ID (or leave it unset)`
        : `a backup object already exists at s3://${bucket}/${key} (S3 answered 412 PreconditionFailed to a write allowed only where no object is); nothing was overwritten: use another BACKUP_ID (or leave it unset)`,
    );
    this.name = 'BackupExistsError';
  }
}

/** Only-if-absent, on every write of a backup object (PutObject and CompleteMultipartUpload). */
const WRITE_ONCE = { IfNoneMatch: '*' } as const;

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
  /** The S3 version written; undefined when the bucket keeps no versions. */
  readonly versionId: string | undefined;
}

/**
 * The error of a failed conditional write: 412 means an object is already at the key (nothing was
 * written); 409 that another conditional write to it was under way at the same moment.
 */
function describeWriteError(error: unknown, operation: string, bucket: string, key: string): PgproofError {
  const e = error as { name?: string; $metadata?: { httpStatusCode?: number } };
  if (e?.$metadata?.httpStatusCode === 412 || e?.name === 'PreconditionFailed') {
    return new BackupExistsError(bucket, key, 'write refused');
  }
  if (e?.name === 'ConditionalRequestConflict') {
    return new StorageError(
      `another write to s3://${bucket}/${key} was under way at the same moment (409 ConditionalRequestConflict); nothing was overwritten: make sure only one backup runs with this BACKUP_ID`,
      { cause: error },
    );
  }
  return describeS3Error(error, operation, bucket, key);
}

/**
 * Streams `body` into `key` as a multipart upload, completed only if no object is at `key` (lib-storage
 * passes its params, `IfNoneMatch` included, to CompleteMultipartUpload, and to the single PutObject of a
 * body smaller than one part). On any failure (the body erroring included) the multipart upload is
 * aborted, and the abort is awaited, before the error is rethrown: nothing half-written is left behind.
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
      ...WRITE_ONCE,
    },
    partSize: sizing.partSize,
    queueSize: sizing.queueSize,
    leavePartsOnError: false,
  });
  let versionId: string | undefined;
  try {
    const done = await upload.done();
    versionId = 'VersionId' in done ? done.VersionId : undefined;
  } catch (error) {
    hashing.destroy();
    await abortUpload(s3, upload, bucket, key);
    throw describeWriteError(error, 'multipart upload', bucket, key);
  }
  return { key, bytes: hashing.bytes, sha256: hashing.digest(), versionId };
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

/**
 * Writes a small object (globals, manifest) with the backup's protection, only if no object is at `key`,
 * and returns the S3 version written (undefined when the bucket keeps no versions).
 */
export async function putObject(
  s3: S3Client,
  bucket: string,
  key: string,
  body: Buffer | string,
  protection: ObjectProtection,
  extra: Pick<PutObjectCommandInput, 'ContentType'> = {},
): Promise<string | undefined> {
  try {
    const written = await s3.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: key,
        Body: body,
        ...protectionParams(protection),
        ...extra,
        ...WRITE_ONCE,
      }),
    );
    return written.VersionId;
  } catch (error) {
    throw describeWriteError(error, 'PutObject', bucket, key);
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

/**
 * Checks that S3 holds `expectedBytes` at `key` (the upload was not silently truncated) and, when the
 * bucket keeps versions, that the current version is the one written. The current version is asked for,
 * not the version by id: that would need s3:GetObjectVersion, which the backup role does not have.
 */
export async function assertStoredSize(
  s3: S3Client,
  bucket: string,
  key: string,
  expectedBytes: number,
  versionId?: string,
): Promise<void> {
  let stored: { bytes: number | undefined; versionId: string | undefined };
  try {
    const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    stored = { bytes: head.ContentLength, versionId: head.VersionId };
  } catch (error) {
    throw describeS3Error(error, 'HeadObject', bucket, key);
  }
  if (versionId !== undefined && stored.versionId !== versionId) {
    throw new StorageError(
      `s3://${bucket}/${key} was replaced right after it was written (its current version is ${stored.versionId}, not ${versionId}); no manifest was written: find out what writes there, then run the backup again`,
    );
  }
  if (stored.bytes !== expectedBytes) {
    throw new StorageError(
      `s3://${bucket}/${key} holds ${stored.bytes} bytes but ${expectedBytes} were sent; nothing was kept, run the backup again`,
    );
  }
}
