import { z } from 'zod';
import type { DrillPlan } from './drill.ts';
import { failedChecks, type RestoreReport } from './drill-report.ts';
import { formatBinaryBytes } from './format.ts';

/**
 * Judging a drill from its report: passed only when the backup verified and the measured restore
 * time met the database's RTO; and the notification a person reads, saying what happened and what
 * to do. Pure: the EvaluateReport Lambda reads the report and publishes what this returns.
 */

/** How a Step Functions state failed (a Catch's `ResultPath` value). */
export interface StateError {
  readonly Error?: string;
  readonly Cause?: string;
}

/** A drill's verdict, its metrics and its notification. */
export interface DrillEvaluation {
  readonly passed: boolean;
  readonly database: string;
  readonly backupId: string;
  /** SNS subject: one line, at most 100 characters. */
  readonly subject: string;
  readonly message: string;
  /** 1 passed, 0 failed. */
  readonly drillPassed: 0 | 1;
  /** The measured recovery time (download + restore); absent when the restore did not run. */
  readonly restoreSeconds?: number;
  readonly backupAgeHours?: number;
  /** The report's mode (`drill`, or `restore` into a real database); absent when there is no report. */
  readonly mode?: 'drill' | 'restore';
}

/**
 * The evaluation as the workflow passes it on (`$.evaluation`): written by EvaluateReport, read by
 * KeepProvenBackup (which adds what it kept to the message) and by Notify.
 */
export const drillEvaluationSchema: z.ZodType<DrillEvaluation> = z.object({
  passed: z.boolean(),
  database: z.string(),
  backupId: z.string(),
  subject: z.string(),
  message: z.string(),
  drillPassed: z.union([z.literal(0), z.literal(1)]),
  restoreSeconds: z.number().optional(),
  backupAgeHours: z.number().optional(),
  mode: z.enum(['drill', 'restore']).optional(),
});

/** A short human duration: `42 s`, `12.5 min`, `1.2 h`. */
export function formatDuration(seconds: number): string {
  if (seconds < 120) return `${Math.round(seconds * 10) / 10} s`;
  if (seconds < 7200) return `${Math.round(seconds / 6) / 10} min`;
  return `${Math.round(seconds / 360) / 10} h`;
}

/**
 * The readable part of a failed state's cause. ECS (runTask.sync) puts the task's description there
 * as JSON; Lambda its error as JSON; anything else is shown as it is.
 */
export function describeStateError(error: StateError): string {
  const cause = error.Cause ?? '';
  let json: unknown;
  try {
    json = JSON.parse(cause);
  } catch {
    return [error.Error, cause].filter(Boolean).join(': ');
  }
  const task = json as {
    errorMessage?: string;
    StoppedReason?: string;
    Containers?: { Name?: string; ExitCode?: number; Reason?: string }[];
  };
  if (task.errorMessage) return `${error.Error ?? 'Error'}: ${task.errorMessage}`;
  const containers = (task.Containers ?? [])
    .map((c) => `${c.Name} exit ${c.ExitCode ?? 'none'}${c.Reason ? ` (${c.Reason})` : ''}`)
    .join(', ');
  return [error.Error, task.StoppedReason, containers].filter(Boolean).join(': ');
}

const subjectOf = (text: string) => (text.length <= 100 ? text : `${text.slice(0, 97)}...`);

/**
 * Evaluates a drill. `report` is undefined when the runner wrote none (the task did not start, or
 * failed before it found the backup); `runError` is how RunRestore failed, if it did (a verification
 * failure ends the task with exit 2, which fails the state although the report says everything).
 */
export function evaluateDrill(options: {
  readonly plan: Pick<DrillPlan, 'database' | 'backupId' | 'reportKey' | 'rtoSeconds'>;
  readonly report: RestoreReport | undefined;
  readonly runError: StateError | undefined;
  readonly bucket: string;
}): DrillEvaluation {
  const { plan, report, runError, bucket } = options;
  const where = `s3://${bucket}/${plan.reportKey}`;
  const backup = `backup ${plan.backupId} of "${plan.database}"`;

  if (!report) {
    const why = runError ? describeStateError(runError) : 'the task ended without writing it';
    return {
      passed: false,
      database: plan.database,
      backupId: plan.backupId,
      drillPassed: 0,
      subject: subjectOf(`pgproof drill FAILED: ${plan.database} (no report)`),
      message: [
        `Restore drill of ${backup} FAILED: the restore task produced no report (expected at ${where}).`,
        `Why: ${why}.`,
        'What to do: read the restore-runner container log of the drill task in CloudWatch Logs; if the task did not start, check the image, the subnets and the cluster capacity, then start the drill again.',
      ].join('\n'),
    };
  }

  // Without an RTO (a database drilled only on demand) the restore time is reported, not judged.
  const rtoMet = plan.rtoSeconds === undefined || report.rto.seconds <= plan.rtoSeconds;
  const rtoVerdict =
    plan.rtoSeconds === undefined
      ? 'no RTO configured'
      : `RTO ${formatDuration(plan.rtoSeconds)}: ${rtoMet ? 'met' : 'MISSED'}`;
  const passed = report.passed && rtoMet;
  const failures = failedChecks(report);
  const lines = [
    `Restore drill of ${backup} ${passed ? 'PASSED' : 'FAILED'}.`,
    `Backup: ${report.backup.tier}, ${formatBinaryBytes(report.backup.dumpBytes)}, taken ${report.backup.takenAt} from PostgreSQL ${report.backup.serverVersion}, ${report.backup.ageHours.toFixed(1)} hours old.`,
    `Restored into PostgreSQL ${report.target.serverVersion ?? 'unknown'}: ${report.checks.filter((c) => c.passed).length} checks passed, ${failures.length} failed; ${report.tables.length} tables compared with the manifest.`,
    `Recovery time: ${formatDuration(report.rto.seconds)} (${rtoVerdict}). Download ${formatDuration(report.durations.downloadSeconds)}, restore ${formatDuration(report.durations.restoreSeconds)}, verify ${formatDuration(report.durations.verifySeconds)}.`,
  ];
  if (report.error) lines.push(`The restore could not run to its end: ${report.error}`);
  if (failures.length) lines.push('Failed checks:', ...failures.map((f) => `  - ${f}`));
  if (!report.passed && !report.error) {
    lines.push(
      'What to do: this backup does not restore to what its manifest promised. Do not rely on it: run a new backup now, and investigate the failed checks (a changed checksum means the object was altered after the backup).',
    );
  } else if (report.error) {
    lines.push('What to do: fix the cause above (the runner log has details) and start the drill again.');
  } else if (!rtoMet) {
    lines.push(
      'What to do: the backup restores, but slower than the RTO promises: give the drill task more CPUs, split the database, or revisit the RTO.',
    );
  }
  lines.push(`Report: ${where}`);

  const verdict = passed
    ? `passed in ${formatDuration(report.rto.seconds)}`
    : report.error
      ? 'could not run'
      : !report.passed
        ? `${failures.length} check(s) failed`
        : `RTO missed (${formatDuration(report.rto.seconds)})`;
  return {
    passed,
    database: plan.database,
    backupId: plan.backupId,
    drillPassed: passed ? 1 : 0,
    // Only a restore that ran measured a recovery time.
    restoreSeconds:
      report.error === undefined && report.durations.restoreSeconds > 0 ? report.rto.seconds : undefined,
    backupAgeHours: report.backup.ageHours,
    mode: report.mode,
    subject: subjectOf(
      `pgproof drill ${passed ? 'passed' : 'FAILED'}: ${plan.database} ${plan.backupId}, ${verdict}`,
    ),
    message: lines.join('\n'),
  };
}
