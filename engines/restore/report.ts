import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import {
  type IgnoredRestoreError,
  RESTORE_PHASES,
  type RestoreCheck,
  type RestoreDurations,
  type RestoredTable,
  type RestoreReport,
  RTO_PHASES,
  serializeRestoreReport,
} from '../../core/drill-report.ts';
import { describeS3Error } from '../../core/errors.ts';
import { dumpTotalBytes, type Manifest } from '../../core/manifest.ts';
import type { RestoreMode } from './settings.ts';

/**
 * Building and storing a restore's report (core/drill-report.ts): the one place that decides what
 * "passed" means and how the recovery time is measured.
 */

/** Everything a report is made of. */
export interface ReportInput {
  readonly mode: RestoreMode;
  readonly manifestKey: string;
  readonly manifest: Manifest;
  readonly reportKey: string;
  readonly startedAt: Date;
  readonly finishedAt: Date;
  readonly target: RestoreReport['target'];
  readonly checks: readonly RestoreCheck[];
  readonly tables: readonly RestoredTable[];
  /** Errors benign rules accepted (listed, never hidden). */
  readonly ignoredErrors: readonly IgnoredRestoreError[];
  readonly durations: Omit<RestoreDurations, 'totalSeconds'>;
  /** What the checks before the download reported; absent when they did not finish. */
  readonly preflight?: RestoreReport['preflight'];
  readonly rtoSeconds: number | undefined;
  /** Set when the restore could not run to its end. */
  readonly error: string | undefined;
  /** A DR drill's measurement of the replication; absent in any other restore. */
  readonly dr?: RestoreReport['dr'];
  /** How the drill workflow picked the backup; absent outside it. */
  readonly selection?: RestoreReport['selection'];
  /** The archived backup's retrieval before the drill; absent when it was readable at once. */
  readonly retrieval?: RestoreReport['retrieval'];
}

const round = (seconds: number) => Math.round(seconds * 1000) / 1000;

/**
 * The report. It passes only when every check passed, at least one check ran and nothing failed to
 * run. The measured recovery time is download + restore: the time until the database is usable.
 */
export function buildReport(input: ReportInput): RestoreReport {
  const { manifest } = input;
  const rtoSeconds = round(input.durations.downloadSeconds + input.durations.restoreSeconds);
  const passed = input.error === undefined && input.checks.length > 0 && input.checks.every((c) => c.passed);
  return {
    formatVersion: 1,
    passed,
    mode: input.mode,
    name: manifest.name,
    backupId: manifest.backupId,
    manifestKey: input.manifestKey,
    reportKey: input.reportKey,
    startedAt: input.startedAt.toISOString(),
    finishedAt: input.finishedAt.toISOString(),
    backup: {
      takenAt: manifest.startedAt,
      ageHours: round((input.startedAt.getTime() - Date.parse(manifest.startedAt)) / 3_600_000),
      dumpBytes: dumpTotalBytes(manifest.dump),
      serverVersion: manifest.server.version,
      tier: manifest.tier,
    },
    target: input.target,
    checks: [...input.checks],
    tables: [...input.tables],
    ...(input.preflight ? { preflight: input.preflight } : {}),
    ...(input.ignoredErrors.length ? { ignoredErrors: [...input.ignoredErrors] } : {}),
    durations: {
      // Every phase measured, rounded; the phases that did not run stay absent.
      ...(Object.fromEntries(
        Object.entries(input.durations)
          .filter(([, seconds]) => seconds !== undefined)
          .map(([field, seconds]) => [field, round(seconds)]),
      ) as Omit<RestoreDurations, 'totalSeconds'>),
      totalSeconds: round((input.finishedAt.getTime() - input.startedAt.getTime()) / 1000),
    },
    rto: {
      seconds: rtoSeconds,
      ...(input.rtoSeconds === undefined
        ? {}
        : { targetSeconds: input.rtoSeconds, met: passed && rtoSeconds <= input.rtoSeconds }),
      ...dominantPhase(input.durations),
    },
    ...(input.error === undefined ? {} : { error: input.error }),
    ...(input.dr ? { dr: input.dr } : {}),
    ...(input.selection ? { selection: input.selection } : {}),
    ...(input.retrieval ? { retrieval: input.retrieval } : {}),
  };
}

/**
 * The phase of the recovery time that took longest, when any ran: download, or one of the restore's
 * (globals, pre-data, data, post-data; a report without them has only the download to name).
 */
export function dominantPhase(
  durations: ReportInput['durations'],
): Pick<RestoreReport['rto'], 'dominantPhase' | 'dominantSeconds'> {
  let best: { phase: (typeof RTO_PHASES)[number]; seconds: number } | undefined;
  for (const { phase, field } of RESTORE_PHASES) {
    const seconds = field === 'totalSeconds' ? undefined : durations[field];
    if (!(RTO_PHASES as readonly string[]).includes(phase) || seconds === undefined || seconds <= 0) continue;
    if (!best || seconds > best.seconds) best = { phase: phase as (typeof RTO_PHASES)[number], seconds };
  }
  return best ? { dominantPhase: best.phase, dominantSeconds: round(best.seconds) } : {};
}

/**
 * Stores the report (encrypted with the bucket's default key). Reports live under `drills/`, apart
 * from the backups, so the drill task may write nothing else.
 */
export async function writeReport(s3: S3Client, bucket: string, report: RestoreReport): Promise<void> {
  try {
    await s3.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: report.reportKey,
        Body: `${serializeRestoreReport(report, 2)}\n`,
        ContentType: 'application/json',
      }),
    );
  } catch (error) {
    throw describeS3Error(error, 'PutObject', bucket, report.reportKey);
  }
}

/** The process exit status of the contract: 0 passed, 2 the backup did not verify, 1 it could not run. */
export function exitStatus(report: RestoreReport): 0 | 1 | 2 {
  if (report.passed) return 0;
  return report.error === undefined ? 2 : 1;
}
