import { GetObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import type { RestoreReport } from '../../core/drill-report.ts';
import { describeS3Error } from '../../core/errors.ts';
import { readManifest } from '../../core/find-backup.ts';
import {
  BACKUP_ID_PATTERN,
  backupKeys,
  databasePrefix,
  MANIFEST_FILE,
  parseBackupId,
} from '../../core/layout.ts';
import type { Deployment } from '../deployment.ts';
import { formatAge, formatBytes, formatTable, type Output } from '../output.ts';
import { EXIT, type ExitCode } from './exit-codes.ts';

/** `pgproof list <database>`: backups, newest first, with their last drill's result. */

/** One listed backup. */
export interface ListedBackup {
  readonly backupId: string;
  readonly tier: string;
  readonly bytes: number;
  readonly finishedAt: string;
  /** The newest drill report of this backup, if any. */
  readonly lastDrill: { readonly passed: boolean; readonly at: string; readonly key: string } | null;
}

async function listKeys(s3: S3Client, bucket: string, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    try {
      const page = await s3.send(
        new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
      );
      for (const o of page.Contents ?? []) if (o.Key) keys.push(o.Key);
      token = page.NextContinuationToken;
    } catch (error) {
      throw describeS3Error(error, 'ListObjectsV2', bucket, prefix);
    }
  } while (token);
  return keys;
}

/** The backups of a database (those with a manifest), newest first, at most `limit`. */
export async function listBackups(
  s3: S3Client,
  deployment: Pick<Deployment, 'bucket' | 'prefix'>,
  database: string,
  limit: number,
): Promise<ListedBackup[]> {
  const folder = databasePrefix(deployment.prefix, database);
  const [backupKeysFound, reportKeys] = await Promise.all([
    listKeys(s3, deployment.bucket, folder),
    listKeys(s3, deployment.bucket, `${deployment.prefix}drills/${database}/`),
  ]);
  const ids = backupKeysFound
    .filter((k) => k.endsWith(`/${MANIFEST_FILE}`))
    .map((k) => k.slice(folder.length, -(MANIFEST_FILE.length + 1)))
    .filter((id) => BACKUP_ID_PATTERN.test(id))
    .sort()
    .reverse()
    .slice(0, limit);
  return Promise.all(
    ids.map(async (backupId) => {
      const manifest = await readManifest(
        s3,
        deployment.bucket,
        backupKeys(deployment.prefix, database, backupId).manifest,
      );
      const reports = reportKeys
        .filter((k) => k.startsWith(`${deployment.prefix}drills/${database}/${backupId}/`))
        .sort();
      const newest = reports.at(-1);
      let lastDrill: ListedBackup['lastDrill'] = null;
      if (newest) {
        const response = await s3.send(new GetObjectCommand({ Bucket: deployment.bucket, Key: newest }));
        const report = JSON.parse(
          (await response.Body?.transformToString()) ?? '{}',
        ) as Partial<RestoreReport>;
        const at = newest.slice(newest.lastIndexOf('/') + 1, -'.json'.length);
        lastDrill = {
          passed: report.passed === true,
          at: parseBackupId(at)?.toISOString() ?? at,
          key: newest,
        };
      }
      return {
        backupId,
        tier: manifest.tier,
        bytes: manifest.dump.bytes,
        finishedAt: manifest.finishedAt,
        lastDrill,
      };
    }),
  );
}

/** Prints the backups of a database. */
export async function listCommand(
  options: { database: string; limit: number; now?: () => Date },
  deployment: Deployment,
  s3: S3Client,
  output: Output,
): Promise<ExitCode> {
  const backups = await listBackups(s3, deployment, options.database, options.limit);
  if (output.json) {
    output.out(JSON.stringify(backups));
    return EXIT.ok;
  }
  if (backups.length === 0) {
    output.err(
      `no backup of ${options.database} yet under s3://${deployment.bucket}/${databasePrefix(deployment.prefix, options.database)}: take one with \`pgproof backup ${options.database}\``,
    );
    return EXIT.ok;
  }
  const now = (options.now ?? (() => new Date()))().getTime();
  const rows = backups.map((b) => [
    b.backupId,
    b.tier,
    formatBytes(b.bytes),
    formatAge(now - new Date(b.finishedAt).getTime()),
    b.lastDrill
      ? `${b.lastDrill.passed ? 'passed' : 'FAILED'} ${formatAge(now - new Date(b.lastDrill.at).getTime())} ago`
      : 'never drilled',
  ]);
  for (const line of formatTable(['BACKUP', 'TIER', 'SIZE', 'AGE', 'LAST DRILL'], rows)) output.out(line);
  return EXIT.ok;
}
