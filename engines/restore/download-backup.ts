import { join } from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import type { RestoreCheck } from '../../core/drill-report.ts';
import {
  type DumpArchive,
  dumpArchives,
  dumpSegments,
  dumpTotalBytes,
  type Manifest,
} from '../../core/manifest.ts';
import {
  type ChecksumResult,
  compareChecksum,
  downloadObject,
  downloadObjects,
  verifyChecksum,
} from './download.ts';

/**
 * The download phase of a restore: a backup's dump and globals onto local disk, checked against the
 * manifest before anything is restored.
 */

/** A backup's files on local disk, and whether they match the manifest. */
export interface DownloadedBackup {
  /** The dump's archive (of a dump taken in parallel, the one with every definition). */
  readonly dumpPath: string;
  /** The data streams' archives of a dump taken in parallel, in the manifest's order; none otherwise. */
  readonly dataPaths: readonly string[];
  /** Absent when the backup has no globals or they are not wanted. */
  readonly globalsPath: string | undefined;
  /** One `checksum` check covering every archive and the globals. */
  readonly check: RestoreCheck;
}

/**
 * Downloads the dump (parallel ranged GETs; a dump stored as several segments, each in turn into the one
 * file pg_restore reads; a dump taken in parallel, each of its archives in turn into a file of its own) and
 * the globals into `directory` and checks all against the manifest's sizes and SHA-256 before anything is
 * restored. Each object is read in the S3 version the manifest recorded when it has one: a newer version
 * put at the key later is never what is restored.
 */
export async function downloadBackup(
  s3: S3Client,
  bucket: string,
  manifest: Manifest,
  directory: string,
  options: {
    partBytes: number;
    concurrency: number;
    withGlobals: boolean;
    signal?: AbortSignal;
    /** Progress of the dump's download, over all its archives. */
    onProgress?: (doneBytes: number, totalBytes: number) => void;
  },
): Promise<DownloadedBackup> {
  const archives = dumpArchives(manifest.dump);
  const dumpPath = join(directory, 'dump.pgdump');
  const dataPaths = (manifest.dump.streams ?? []).map((_, index) =>
    join(directory, `data-${index + 1}.pgdump`),
  );
  const paths = [dumpPath, ...dataPaths];
  const globals = options.withGlobals ? manifest.globals : null;
  const globalsPath = globals ? join(directory, 'globals.sql') : undefined;
  const totalBytes = dumpTotalBytes(manifest.dump);
  const [dumpResults, globalsResult] = await Promise.all([
    // One archive after another, each with every range in flight: the bandwidth is the same.
    (async () => {
      const results: ChecksumResult[] = [];
      let before = 0;
      for (const [index, archive] of archives.entries()) {
        const onProgress = options.onProgress;
        const done = before;
        results.push(
          await downloadArchive(s3, bucket, archive, paths[index] as string, {
            ...options,
            onProgress: onProgress && ((doneBytes) => onProgress(done + doneBytes, totalBytes)),
          }),
        );
        before += archive.bytes;
      }
      return results;
    })(),
    // The globals are small: one GET, and the progress shown is the dump's.
    globals && globalsPath
      ? downloadObject(
          s3,
          bucket,
          globals.key,
          globalsPath,
          { ...options, concurrency: 1, onProgress: undefined },
          globals.versionId,
        ).then(() => verifyChecksum(globalsPath, globals))
      : undefined,
  ]);
  const results = globalsResult ? [...dumpResults, globalsResult] : dumpResults;
  const failed = results.filter((r) => !r.passed);
  const check: RestoreCheck = {
    name: 'checksum',
    kind: 'checksum',
    passed: failed.length === 0,
    detail: (failed.length ? failed : results).map((r) => r.detail).join('; '),
  };
  return { dumpPath, dataPaths, globalsPath, check };
}

/** One archive into `path`, hashed as its ranges land, compared with the manifest's size and SHA-256. */
async function downloadArchive(
  s3: S3Client,
  bucket: string,
  archive: DumpArchive,
  path: string,
  options: Parameters<typeof downloadObjects>[4],
): Promise<ChecksumResult> {
  const segments = dumpSegments(archive);
  const downloaded = await downloadObjects(s3, bucket, segments, path, options);
  // A segment of another size than the manifest's would shift every byte after it: name that segment.
  const wrong = segments.findIndex((segment, i) => downloaded.pieceBytes[i] !== segment.bytes);
  const segment = segments[wrong];
  if (segments.length > 1 && segment) {
    return {
      passed: false,
      detail: `${segment.key} (segment ${wrong + 1} of ${segments.length}) is ${downloaded.pieceBytes[wrong]} bytes, the manifest says ${segment.bytes}: the object was changed or truncated; restore another backup`,
    };
  }
  return compareChecksum(downloaded, {
    ...archive,
    key: segments.length > 1 ? `${archive.key} and its ${segments.length - 1} further segments` : archive.key,
  });
}
