import { join } from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import type { RestoreCheck } from '../../core/drill-report.ts';
import { dumpSegments, type Manifest } from '../../core/manifest.ts';
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
  readonly dumpPath: string;
  /** Absent when the backup has no globals or they are not wanted. */
  readonly globalsPath: string | undefined;
  /** One `checksum` check covering the dump and the globals. */
  readonly check: RestoreCheck;
}

/**
 * Downloads the dump (parallel ranged GETs; a dump stored as several segments, each in turn into the one
 * file pg_restore reads) and the globals into `directory` and checks both against the manifest's sizes
 * and SHA-256 before anything is restored. Each object is read in the S3 version the manifest recorded when
 * it has one: a newer version put at the key later is never what is restored.
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
    /** Progress of the dump's download. */
    onProgress?: (doneBytes: number, totalBytes: number) => void;
  },
): Promise<DownloadedBackup> {
  const dumpPath = join(directory, 'dump.pgdump');
  const globals = options.withGlobals ? manifest.globals : null;
  const globalsPath = globals ? join(directory, 'globals.sql') : undefined;
  const segments = dumpSegments(manifest.dump);
  const [dumpResult, globalsResult] = await Promise.all([
    downloadObjects(s3, bucket, segments, dumpPath, options).then(async (downloaded) => {
      // A segment of another size than the manifest's would shift every byte after it: name that segment.
      const wrong = segments.findIndex((segment, i) => downloaded.pieceBytes[i] !== segment.bytes);
      const segment = segments[wrong];
      if (segments.length > 1 && segment) {
        return {
          passed: false,
          detail: `${segment.key} (segment ${wrong + 1} of ${segments.length}) is ${downloaded.pieceBytes[wrong]} bytes, the manifest says ${segment.bytes}: the object was changed or truncated; restore another backup`,
        } satisfies ChecksumResult;
      }
      // Hashed as its ranges landed: compared without reading the file again.
      return compareChecksum(downloaded, {
        ...manifest.dump,
        key:
          segments.length > 1
            ? `${manifest.dump.key} and its ${segments.length - 1} further segments`
            : manifest.dump.key,
      });
    }),
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
  const results = globalsResult ? [dumpResult, globalsResult] : [dumpResult];
  const failed = results.filter((r) => !r.passed);
  const check: RestoreCheck = {
    name: 'checksum',
    kind: 'checksum',
    passed: failed.length === 0,
    detail: (failed.length ? failed : results).map((r) => r.detail).join('; '),
  };
  return { dumpPath, globalsPath, check };
}
