import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { GetObjectCommand, HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
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
  let size: number;
  let etag: string | undefined;
  const version = versionId ? { VersionId: versionId } : {};
  try {
    const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key, ...version }));
    size = head.ContentLength ?? 0;
    etag = head.ETag;
  } catch (error) {
    throw describeS3Error(error, 'HeadObject', bucket, key);
  }

  const file = await open(path, 'w');
  try {
    await file.truncate(size);
    const ranges: [number, number][] = [];
    for (let start = 0; start < size; start += options.partBytes) {
      ranges.push([start, Math.min(size, start + options.partBytes) - 1]);
    }
    let next = 0;
    let done = 0;
    options.onProgress?.(0, size);
    const worker = async () => {
      while (next < ranges.length) {
        const range = ranges[next++];
        if (!range) continue;
        await downloadRange(
          s3,
          { Bucket: bucket, Key: key, IfMatch: etag, ...version },
          range,
          file,
          options,
        );
        done += range[1] - range[0] + 1;
        options.onProgress?.(done, size);
      }
    };
    await Promise.all(Array.from({ length: Math.min(options.concurrency, ranges.length) }, worker));
  } finally {
    await file.close();
  }
  return { path, bytes: size };
}

async function downloadRange(
  s3: S3Client,
  object: { Bucket: string; Key: string; IfMatch: string | undefined; VersionId?: string },
  [first, last]: [number, number],
  file: Awaited<ReturnType<typeof open>>,
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
        await file.write(buffer, 0, buffer.length, position);
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
  const actual = await sha256File(path);
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
