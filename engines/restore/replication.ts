import { HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { DrReport } from '../../core/drill-report.ts';
import { describeS3Error, PgproofError } from '../../core/errors.ts';
import { type FoundBackup, latestManifestKey, readManifest } from '../../core/find-backup.ts';

/**
 * What a DR drill measures about the replica bucket it restores from, from the replica alone: the
 * newest replicated backup of the database, how old it is, and how long its manifest took to arrive.
 * The manifest is written last (DESIGN.md "Object layout"), so its arrival is the backup's.
 */

/** The replica holds something a DR drill cannot measure (a manifest without LastModified). */
export class ReplicationMeasureError extends PgproofError {
  constructor(message: string) {
    super(message);
    this.name = 'ReplicationMeasureError';
  }
}

const round = (n: number, digits: number) => Math.round(n * 10 ** digits) / 10 ** digits;

/**
 * Measures the replication of `name` in `bucket` (the replica) when a DR drill starts at `startedAt`.
 * `drilled` is the backup the drill restores: when it is the newest (a scheduled drill), its manifest is
 * not read twice.
 */
export async function measureReplication(
  s3: S3Client,
  options: {
    readonly bucket: string;
    readonly prefix: string;
    readonly name: string;
    readonly region: string;
    readonly drilled: FoundBackup;
    readonly startedAt: Date;
  },
): Promise<DrReport> {
  const { bucket, drilled } = options;
  const newestKey =
    (await latestManifestKey(s3, bucket, options.prefix, options.name)) ?? drilled.manifestKey;
  const newest =
    newestKey === drilled.manifestKey ? drilled.manifest : await readManifest(s3, bucket, newestKey);
  let landedAt: Date | undefined;
  try {
    landedAt = (await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: newestKey }))).LastModified;
  } catch (error) {
    throw describeS3Error(error, 'HeadObject', bucket, newestKey);
  }
  if (!landedAt) {
    throw new ReplicationMeasureError(
      `s3://${bucket}/${newestKey} has no LastModified, so its replication lag cannot be measured; check that BACKUP_BUCKET is an S3 bucket`,
    );
  }
  // LastModified has whole seconds: a manifest that arrived within the second it was finished reads as 0.
  const lagSeconds = Math.max(0, (landedAt.getTime() - Date.parse(newest.finishedAt)) / 1000);
  return {
    region: options.region,
    newestBackupId: newest.backupId,
    newestBackupAgeHours: round((options.startedAt.getTime() - Date.parse(newest.startedAt)) / 3_600_000, 3),
    replicationLagSeconds: round(lagSeconds, 3),
  };
}
