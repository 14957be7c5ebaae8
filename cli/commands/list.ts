import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { restoreReportSchema } from '../../core/drill-report.ts';
import { listBackupIds, readManifest } from '../../core/find-backup.ts';
import { backupKeys, databasePrefix, drillReportsPrefix, parseBackupId } from '../../core/layout.ts';
import { dumpTotalBytes } from '../../core/manifest.ts';
import { listKeys } from '../../core/s3-client.ts';
import { parseJsonResponse, UnexpectedResponseError } from '../aws-response.ts';
import type { Deployment } from '../deployment.ts';
import { formatAge, formatBytes, formatTable, type Output } from '../output.ts';
import { defineCommand, positiveInteger } from './command.ts';
import { EXIT, type ExitCode } from './exit-codes.ts';

/** `pgproof list <database>`: backups, newest first, with their last drill's result. */

/** One listed backup. */
export interface ListedBackup {
  readonly backupId: string;
  readonly tier: string;
  readonly bytes: number;
  readonly finishedAt: string;
  /**
   * The newest drill report of this backup, if any. `passed` is null when that report cannot be read:
   * `problem` says why. One damaged object never stops the listing of the backups themselves.
   */
  readonly lastDrill: {
    readonly passed: boolean | null;
    readonly at: string;
    readonly key: string;
    readonly problem?: string;
  } | null;
}

/** The backups of a database (those with a manifest), newest first, at most `limit`. */
export async function listBackups(
  s3: S3Client,
  deployment: Pick<Deployment, 'bucket' | 'prefix'>,
  database: string,
  limit: number,
): Promise<ListedBackup[]> {
  const reports = `${drillReportsPrefix(deployment.prefix)}${database}/`;
  const [allIds, reportKeys] = await Promise.all([
    listBackupIds(s3, deployment.bucket, deployment.prefix, database),
    listKeys(s3, deployment.bucket, reports),
  ]);
  const ids = allIds.reverse().slice(0, limit);
  return Promise.all(
    ids.map(async (backupId) => {
      const manifest = await readManifest(
        s3,
        deployment.bucket,
        backupKeys(deployment.prefix, database, backupId).manifest,
      );
      // Report keys end in their UTC time, so the last one of a backup is its newest drill.
      const newest = reportKeys.filter((k) => k.startsWith(`${reports}${backupId}/`)).at(-1);
      let lastDrill: ListedBackup['lastDrill'] = null;
      if (newest) {
        const response = await s3.send(new GetObjectCommand({ Bucket: deployment.bucket, Key: newest }));
        const at = newest.slice(newest.lastIndexOf('/') + 1, -'.json'.length);
        const drill = { at: parseBackupId(at)?.toISOString() ?? at, key: newest };
        try {
          // Only the verdict is shown, so only the verdict must be readable.
          const report = parseJsonResponse(
            restoreReportSchema.pick({ passed: true }),
            (await response.Body?.transformToString()) ?? '',
            `drill report s3://${deployment.bucket}/${newest}`,
            'it was not written by a pgproof drill; remove or replace it',
          );
          lastDrill = { ...drill, passed: report.passed };
        } catch (error) {
          if (!(error instanceof UnexpectedResponseError)) throw error;
          lastDrill = { ...drill, passed: null, problem: error.message };
        }
      }
      return {
        backupId,
        tier: manifest.tier,
        bytes: dumpTotalBytes(manifest.dump),
        finishedAt: manifest.finishedAt,
        lastDrill,
      };
    }),
  );
}

/** The LAST DRILL column's verdict. */
function drillVerdict(passed: boolean | null): string {
  if (passed === null) return 'UNREADABLE report';
  return passed ? 'passed' : 'FAILED';
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
      ? `${drillVerdict(b.lastDrill.passed)} ${formatAge(now - new Date(b.lastDrill.at).getTime())} ago`
      : 'never drilled',
  ]);
  for (const line of formatTable(['BACKUP', 'TIER', 'SIZE', 'AGE', 'LAST DRILL'], rows)) output.out(line);
  for (const b of backups) if (b.lastDrill?.problem) output.err(`pgproof: ${b.lastDrill.problem}`);
  return EXIT.ok;
}

/** `pgproof list <database> [--limit N]`. */
export const list = defineCommand({
  name: 'list',
  synopsis: ['pgproof list <database> [--limit N]'],
  summary: 'backups with tier, size, age and last drill',
  takesDatabase: true,
  options: { limit: { type: 'string', default: '20' } },
  optionHelp: { limit: ['--limit N', 'the newest N backups (default 20)'] },
  async run({ database, values, output, clients, deployment }) {
    const limit = positiveInteger(values.limit, '--limit') ?? 20;
    return listCommand({ database, limit }, await deployment({ stack: false }), clients().s3, output);
  },
});
