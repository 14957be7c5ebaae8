import { join } from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import type { RestoreCheck } from '../../core/drill-report.ts';
import type { Manifest } from '../../core/manifest.ts';
import { type DownloadOptions, downloadObject, verifyChecksum } from './download.ts';

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
 * Downloads the dump (parallel ranged GETs) and the globals into `directory` and checks both against
 * the manifest's sizes and SHA-256 before anything is restored. Each is read in the S3 version the
 * manifest recorded when it has one: a newer version put at the key later is never what is restored.
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
  const files: { object: NonNullable<Manifest['globals']>; path: string; options: DownloadOptions }[] = [
    { object: manifest.dump, path: dumpPath, options },
    // The globals are small: one GET, and the progress shown is the dump's.
    ...(globals && globalsPath
      ? [
          {
            object: globals,
            path: globalsPath,
            options: { ...options, concurrency: 1, onProgress: undefined },
          },
        ]
      : []),
  ];
  await Promise.all(
    files.map((file) =>
      downloadObject(s3, bucket, file.object.key, file.path, file.options, file.object.versionId),
    ),
  );
  const results = await Promise.all(files.map((file) => verifyChecksum(file.path, file.object)));
  const failed = results.filter((r) => !r.passed);
  const check: RestoreCheck = {
    name: 'checksum',
    kind: 'checksum',
    passed: failed.length === 0,
    detail: (failed.length ? failed : results).map((r) => r.detail).join('; '),
  };
  return { dumpPath, globalsPath, check };
}
