import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { GetObjectCommand, HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { mapLimited } from '../../core/concurrency.ts';
import { describeS3Error, InterruptedError, StorageError } from '../../core/errors.ts';

/**
 * Getting a backup's objects onto local disk. pg_restore needs a seekable file for `-j N` (an
 * archive read from stdin restores serially), so the dump is downloaded first: parallel ranged GETs,
 * each streamed straight to its offset in the file, so memory stays at a few chunks per request
 * whatever the dump's size.
 */

/** How a download is split. */
export interface DownloadOptions {
  /** Bytes per ranged GET. */
  readonly partBytes: number;
  /** Ranged GETs in flight. */
  readonly concurrency: number;
  /** Attempts per part (a dropped connection restarts only its part). */
  readonly attempts?: number;
  readonly signal?: AbortSignal;
  /** Called as ranges complete with the bytes downloaded so far and the object's size (progress bars). */
  readonly onProgress?: (doneBytes: number, totalBytes: number) => void;
}

/** What was downloaded. */
export interface Downloaded {
  readonly path: string;
  readonly bytes: number;
}

/**
 * Downloads `s3://bucket/key` to `path`: the version `versionId` when given (a backup's manifest names the
 * versions it was written as), else the current one. Every ranged GET names the object's ETag (and the
 * version), so an object replaced mid-download fails the download instead of mixing two versions.
 */
export async function downloadObject(
  s3: S3Client,
  bucket: string,
  key: string,
  path: string,
  options: DownloadOptions,
  versionId?: string,
): Promise<Downloaded> {
  const { bytes } = await downloadObjects(s3, bucket, [{ key, versionId }], path, options);
  return { path, bytes };
}

/** One object of a file stored as several (a dump's segments), in the S3 version given, if any. */
export interface ObjectPiece {
  readonly key: string;
  readonly versionId?: string | undefined;
}

/** What was downloaded of a file stored as several objects. */
export interface DownloadedPieces extends Downloaded {
  /** Each object's size as S3 holds it, in order. */
  readonly pieceBytes: readonly number[];
  /** SHA-256 (hex) of the whole file, taken as its ranges landed. */
  readonly sha256: string;
}

/**
 * Downloads the objects `pieces` one after the other into the one file `path` (a dump stored as several
 * segments becomes the one archive pg_restore reads), each as {@link downloadObject} would: its ranges
 * fetched in parallel (`concurrency` in flight over all of them) and written at their offset in the file.
 * The file is hashed in order as its ranges land (each read back once, from the page cache, while later
 * ranges download), so its SHA-256 is known when the last range lands, with no second pass over the file.
 * Progress counts the whole file.
 */
export async function downloadObjects(
  s3: S3Client,
  bucket: string,
  pieces: readonly ObjectPiece[],
  path: string,
  options: DownloadOptions,
): Promise<DownloadedPieces> {
  const heads = await mapLimited(pieces, options.concurrency, async (piece) => {
    const version = piece.versionId ? { VersionId: piece.versionId } : {};
    try {
      const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: piece.key, ...version }));
      return { ...piece, version, size: head.ContentLength ?? 0, etag: head.ETag };
    } catch (error) {
      throw describeS3Error(error, 'HeadObject', bucket, piece.key);
    }
  });
  const ranges: {
    object: (typeof heads)[number];
    range: [number, number];
    offset: number;
    landed: boolean;
  }[] = [];
  let size = 0;
  for (const object of heads) {
    for (let start = 0; start < object.size; start += options.partBytes) {
      ranges.push({
        object,
        range: [start, Math.min(object.size, start + options.partBytes) - 1],
        offset: size,
        landed: false,
      });
    }
    size += object.size;
  }

  // Read back as well: the hashing follows the landed ranges.
  const file = await open(path, 'w+');
  try {
    await file.truncate(size);
    let next = 0;
    let done = 0;
    // Hashing follows the landed ranges in file order, one range at a time, in one buffer.
    const hash = createHash('sha256');
    const buffer = Buffer.allocUnsafe(Math.max(0, Math.min(options.partBytes, size)));
    let hashed = 0;
    let hashing = Promise.resolve();
    const hashLanded = async () => {
      for (let item = ranges[hashed]; item?.landed; item = ranges[++hashed]) {
        const length = item.range[1] - item.range[0] + 1;
        for (let read = 0; read < length; ) {
          const { bytesRead } = await file.read(
            buffer,
            read,
            length - read,
            item.offset + item.range[0] + read,
          );
          if (bytesRead === 0)
            throw new StorageError(`${path} ended before byte ${item.offset + item.range[0] + read}`);
          read += bytesRead;
        }
        hash.update(buffer.subarray(0, length));
      }
    };
    options.onProgress?.(0, size);
    const worker = async () => {
      while (next < ranges.length) {
        const item = ranges[next++];
        if (!item) continue;
        const { object, range, offset } = item;
        await downloadRange(
          s3,
          { Bucket: bucket, Key: object.key, IfMatch: object.etag, ...object.version },
          range,
          file,
          offset,
          options,
        );
        item.landed = true;
        hashing = hashing.then(hashLanded);
        hashing.catch(() => {}); // awaited, and its error thrown, once the workers are done
        done += range[1] - range[0] + 1;
        options.onProgress?.(done, size);
      }
    };
    // The file is closed only once no read of the hashing is in flight: wait for both, whichever failed.
    const failures: unknown[] = [];
    await Promise.all(Array.from({ length: Math.min(options.concurrency, ranges.length) }, worker)).catch(
      (error: unknown) => failures.push(error),
    );
    await hashing.catch((error: unknown) => failures.push(error));
    if (failures.length) throw failures[0];
    return { path, bytes: size, pieceBytes: heads.map((head) => head.size), sha256: hash.digest('hex') };
  } finally {
    await file.close();
  }
}

async function downloadRange(
  s3: S3Client,
  object: { Bucket: string; Key: string; IfMatch: string | undefined; VersionId?: string },
  [first, last]: [number, number],
  file: Awaited<ReturnType<typeof open>>,
  /** Where the object starts in the file. */
  offset: number,
  options: DownloadOptions,
): Promise<void> {
  const { Bucket: bucket, Key: key } = object;
  const attempts = options.attempts ?? 3;
  for (let attempt = 1; ; attempt++) {
    if (options.signal?.aborted) throw new InterruptedError(String(options.signal.reason ?? 'a signal'));
    let position = first;
    try {
      const response = await s3.send(new GetObjectCommand({ ...object, Range: `bytes=${first}-${last}` }), {
        abortSignal: options.signal,
      });
      for await (const chunk of response.Body as Readable) {
        const buffer = chunk as Buffer;
        await file.write(buffer, 0, buffer.length, offset + position);
        position += buffer.length;
      }
      if (position !== last + 1) {
        throw new StorageError(
          `s3://${bucket}/${key} ended at byte ${position} of the range ${first}-${last}; try again`,
        );
      }
      return;
    } catch (error) {
      if (options.signal?.aborted) throw new InterruptedError(String(options.signal.reason ?? 'a signal'));
      const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
      if (status === 412) {
        throw new StorageError(
          `s3://${bucket}/${key} changed while it was downloaded (its ETag no longer matches); run the restore again`,
          { cause: error },
        );
      }
      if (attempt >= attempts) throw describeS3Error(error, 'GetObject', bucket, key);
    }
  }
}

/** The SHA-256 (hex) and size of a file, read as a stream. */
export async function sha256File(path: string): Promise<{ sha256: string; bytes: number }> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: 1024 * 1024 })) {
    hash.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
  }
  return { sha256: hash.digest('hex'), bytes };
}

/** The outcome of comparing a file with its manifest entry. */
export interface ChecksumResult {
  readonly passed: boolean;
  readonly detail: string;
}

/** Compares a downloaded file's size and SHA-256 with what the manifest recorded. */
export async function verifyChecksum(
  path: string,
  expected: { readonly key: string; readonly bytes: number; readonly sha256: string },
): Promise<ChecksumResult> {
  return compareChecksum(await sha256File(path), expected);
}

/** Compares a size and SHA-256 taken of a download with what the manifest recorded. */
export function compareChecksum(
  actual: { readonly bytes: number; readonly sha256: string },
  expected: { readonly key: string; readonly bytes: number; readonly sha256: string },
): ChecksumResult {
  if (actual.bytes !== expected.bytes) {
    return {
      passed: false,
      detail: `${expected.key} is ${actual.bytes} bytes, the manifest says ${expected.bytes}: the object was changed or truncated; restore another backup`,
    };
  }
  if (actual.sha256 !== expected.sha256) {
    return {
      passed: false,
      detail: `${expected.key} has SHA-256 ${actual.sha256}, the manifest says ${expected.sha256}: the object was changed; restore another backup`,
    };
  }
  return {
    passed: true,
    detail: `${expected.key}: ${actual.bytes} bytes, SHA-256 ${actual.sha256} as in the manifest`,
  };
}
