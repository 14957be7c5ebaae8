import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { PassThrough, type Readable } from 'node:stream';
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
import { dumpSegmentKey } from '../../core/layout.ts';
import { isNotFound } from '../../core/s3-client.ts';

/**
 * Writing a backup's objects: every object gets the same protection (SSE-KMS, tags, Object Lock);
 * the dump streams through SHA-256 into multipart uploads of fixed parts, as many segment objects as its
 * size needs, so memory stays the same whatever the size ({@link UploadPlan}). Every write is
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
/** S3's limits: at most 10,000 parts of at least 5 MiB (but the last) to an object. */
export const S3_MAX_PARTS = 10_000;
export const S3_MIN_PART_BYTES = 5 * MiB;

/**
 * How a dump is cut for S3: parts of `partSize` bytes, `queueSize` of them in flight, at most
 * `partsPerSegment` parts to an object (a segment); a dump larger than one segment continues in the next.
 *
 * Why segments, and why this is the only sound way to keep memory flat:
 * - A part must be held in memory until S3 has acknowledged it. A failed UploadPart is retried by sending
 *   the same bytes again, and the source is pg_dump's stdout, a pipe that cannot be read twice. Unbuffered
 *   parts (each request streamed straight from the pipe) would make one dropped connection in a day-long
 *   dump fail the whole backup; staging parts on disk would break "nothing is staged on disk" and needs a
 *   task disk as large as a part queue of the biggest dump.
 * - One object has at most 10,000 parts, so a single 5 TB object needs parts of at least 525 MiB, and with
 *   a few in flight the runner holds gigabytes; parts that grow with the database make memory grow with it.
 * - So the part size is fixed and the object is not: a dump larger than 10,000 parts continues in further
 *   objects (`dump.pgdump`, `dump.pgdump.00001`, ..., core/layout.ts), uploaded one after the other from
 *   the same stream. Memory is that of one multipart upload of fixed parts ({@link peakBufferedBytes}:
 *   48 MiB with the defaults) for a dump of any size; what grows is the number of segments (a 5 TiB dump is
 *   66 of at most 78.1 GiB). A dump of one segment (up to 78.1 GiB with the defaults) is the one object
 *   at `dump.pgdump` it always was, so readers of existing backups see no change.
 * The price: pg_dump waits on its pipe for one CompleteMultipartUpload every 78 GiB, and readers
 * concatenate the segments the manifest lists (engines/restore/download.ts; README "Restoring without
 * pgproof" for stock tools).
 */
export interface UploadPlan {
  /** Bytes per part: every part but a segment's last has exactly this size. */
  readonly partSize: number;
  /** Parts uploaded at once. */
  readonly queueSize: number;
  /** Parts per segment object, at most S3's 10,000. */
  readonly partsPerSegment: number;
}

/** 8 MiB parts (S3's guidance for throughput), four in flight, 10,000 to a segment: 78.1 GiB segments. */
export const DEFAULT_UPLOAD_PLAN: UploadPlan = {
  partSize: 8 * MiB,
  queueSize: 4,
  partsPerSegment: S3_MAX_PARTS,
};

/**
 * The plan with a test or benchmark's smaller sizes (`UPLOAD_PART_MIB`, `UPLOAD_SEGMENT_PARTS`): they only
 * make segments smaller, so a small database goes through the segment boundaries a 5 TB one does. A part
 * under S3's 5 MiB must be its segment's only part (S3 takes a part that small only as an object's last).
 */
export function uploadPlan(overrides: { partMiB?: number; segmentParts?: number } = {}): UploadPlan {
  const partSize = (overrides.partMiB ?? DEFAULT_UPLOAD_PLAN.partSize / MiB) * MiB;
  const partsPerSegment = overrides.segmentParts ?? DEFAULT_UPLOAD_PLAN.partsPerSegment;
  if (!Number.isInteger(partSize) || partSize < MiB || partSize > DEFAULT_UPLOAD_PLAN.partSize) {
    throw new RangeError(`a part is 1 to 8 MiB, got ${partSize / MiB} MiB`);
  }
  if (!Number.isInteger(partsPerSegment) || partsPerSegment < 1 || partsPerSegment > S3_MAX_PARTS) {
    throw new RangeError(`a segment has 1 to ${S3_MAX_PARTS} parts, got ${partsPerSegment}`);
  }
  if (partSize < S3_MIN_PART_BYTES && partsPerSegment > 1) {
    throw new RangeError(
      `a part under 5 MiB (${partSize / MiB} MiB) must be its segment's only part, got ${partsPerSegment} parts: S3 refuses such parts but an object's last`,
    );
  }
  return { ...DEFAULT_UPLOAD_PLAN, partSize, partsPerSegment };
}

/**
 * The plan of each of `archives` uploads running at once (a dump taken in parallel, streams.ts): as few
 * parts in flight as keeps each busy (two: one uploading while the next fills), and parts as small as
 * keeps all of them within one upload's {@link peakBufferedBytes} down to S3's 5 MiB minimum: 6 MiB parts
 * for 2 archives (48 MiB in all, as one stream), 5 MiB for more (20 MiB each). A segment then holds
 * 10,000 of the smaller parts (48.8 GiB at 5 MiB); never larger parts than `plan`'s.
 */
export function sharedUploadPlan(plan: UploadPlan, archives: number): UploadPlan {
  if (archives <= 1) return plan;
  const queueSize = Math.min(plan.queueSize, 2);
  const fitting = Math.floor(peakBufferedBytes(plan) / (archives * (queueSize + 2)) / MiB) * MiB;
  const partSize = Math.min(plan.partSize, Math.max(S3_MIN_PART_BYTES, fitting));
  return { ...plan, queueSize, partSize };
}

/** The most bytes one segment holds. */
export function segmentCapacity(plan: UploadPlan): number {
  return plan.partSize * plan.partsPerSegment;
}

/**
 * The most dump bytes the runner holds at once, whatever the dump's size: the parts in flight, the part
 * lib-storage is filling, and its copy when it joins the chunks of a part (`Buffer.concat`). Segments are
 * uploaded one after the other, never two at once.
 */
export function peakBufferedBytes(plan: UploadPlan): number {
  return (plan.queueSize + 2) * plan.partSize;
}

/** What a dump of `bytes` becomes under a plan. */
export interface UploadLayout {
  readonly segments: number;
  /** Parts of the fullest segment. */
  readonly maxPartsPerSegment: number;
  readonly peakBufferedBytes: number;
}

/** How a dump of `bytes` is stored under `plan` (an empty dump is one empty object). */
export function layoutUpload(plan: UploadPlan, bytes: number): UploadLayout {
  const capacity = segmentCapacity(plan);
  const segments = Math.max(1, Math.ceil(bytes / capacity));
  return {
    segments,
    maxPartsPerSegment: Math.max(1, Math.ceil(Math.min(bytes, capacity) / plan.partSize)),
    peakBufferedBytes: peakBufferedBytes(plan),
  };
}

/** One object of a stored dump. */
export interface UploadedSegment {
  readonly key: string;
  readonly bytes: number;
  /** The S3 version written; undefined when the bucket keeps no versions. */
  readonly versionId: string | undefined;
}

/** A stored dump: the whole stream's size and SHA-256, and the objects it is in, in order. */
export interface UploadedDump {
  readonly bytes: number;
  readonly sha256: string;
  readonly segments: readonly UploadedSegment[];
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

/** A segment being written: the stream its upload reads, and what was written to it. */
interface OpenSegment {
  readonly key: string;
  readonly body: PassThrough;
  bytes: number;
  readonly versionId: Promise<string | undefined>;
}

/**
 * Streams `source` through SHA-256 into the segments of a dump whose first object is `dumpKey`
 * ({@link UploadPlan}): each segment a multipart upload (a single PutObject when it is smaller than a part)
 * with the backup's protection, completed only if no object is at its key. A segment is started only when
 * a byte for it arrives, so a dump never ends in an empty segment. On any failure (the source erroring
 * included) the open segment's multipart upload is aborted, and the abort awaited, before the error is
 * rethrown: nothing half-written is left behind. Segments already completed stay, as a completed dump
 * does when a later step fails: no manifest names them, and their tier tag expires them.
 */
export async function uploadDump(
  s3: S3Client,
  bucket: string,
  dumpKey: string,
  source: Readable,
  protection: ObjectProtection,
  plan: UploadPlan = DEFAULT_UPLOAD_PLAN,
): Promise<UploadedDump> {
  const hash = createHash('sha256');
  const capacity = segmentCapacity(plan);
  const segments: UploadedSegment[] = [];
  let open: OpenSegment | undefined;
  let bytes = 0;
  const start = (): OpenSegment => {
    const key = dumpSegmentKey(dumpKey, segments.length);
    const body = new PassThrough();
    const versionId = uploadSegment(s3, bucket, key, body, protection, plan);
    versionId.catch(() => {});
    return { key, body, bytes: 0, versionId };
  };
  const complete = async (segment: OpenSegment): Promise<void> => {
    open = undefined;
    segment.body.end();
    segments.push({ key: segment.key, bytes: segment.bytes, versionId: await segment.versionId });
  };
  try {
    for await (const chunk of source as AsyncIterable<Buffer>) {
      hash.update(chunk);
      bytes += chunk.length;
      let rest = chunk;
      while (rest.length > 0) {
        open ??= start();
        const piece = rest.subarray(0, capacity - open.bytes);
        rest = rest.subarray(piece.length);
        open.bytes += piece.length;
        if (!open.body.write(piece)) await drained(open);
        if (open.bytes === capacity) await complete(open);
      }
    }
    if (open || segments.length === 0) await complete(open ?? start());
  } catch (error) {
    source.destroy();
    const failed = open as OpenSegment | undefined;
    if (failed) {
      failed.body.destroy(error instanceof Error ? error : new Error(String(error)));
      await failed.versionId.catch(() => {});
    }
    throw error;
  }
  return { bytes, sha256: hash.digest('hex'), segments };
}

/**
 * Waits until the segment's upload wants more, or fails with its upload. A body that fails first was
 * destroyed by the upload giving up (lib-storage ends its reader with an AbortError when a part's request
 * fails): the upload's own failure is the one that says why.
 */
async function drained(segment: OpenSegment): Promise<void> {
  const drain = once(segment.body, 'drain');
  drain.catch(() => {});
  await Promise.race([
    drain.catch(async (error: unknown) => {
      await segment.versionId;
      throw error;
    }),
    segment.versionId.then(() => {
      throw new Error(`the upload of ${segment.key} ended before its data did`);
    }),
  ]);
}

/**
 * Uploads one segment from `body` (lib-storage passes its params, `IfNoneMatch` included, to
 * CreateMultipartUpload and CompleteMultipartUpload, and to the single PutObject of a body smaller than
 * one part) and returns the version written. On failure, aborts the multipart upload and awaits it.
 */
async function uploadSegment(
  s3: S3Client,
  bucket: string,
  key: string,
  body: PassThrough,
  protection: ObjectProtection,
  plan: UploadPlan,
): Promise<string | undefined> {
  const upload = new Upload({
    client: s3,
    params: {
      Bucket: bucket,
      Key: key,
      Body: body,
      ContentType: 'application/octet-stream',
      ...protectionParams(protection),
      ...WRITE_ONCE,
    },
    // lib-storage refuses a part size under S3's minimum even for a body it sends in one PutObject; a
    // plan's part is under it only when the part is the whole segment (uploadPlan), which is then that.
    partSize: Math.max(plan.partSize, S3_MIN_PART_BYTES),
    queueSize: plan.queueSize,
    leavePartsOnError: false,
  });
  try {
    const done = await upload.done();
    return 'VersionId' in done ? done.VersionId : undefined;
  } catch (error) {
    body.destroy();
    await abortUpload(s3, upload, bucket, key);
    throw describeWriteError(error, 'multipart upload', bucket, key);
  }
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
