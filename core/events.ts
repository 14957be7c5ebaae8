import { z } from 'zod';
import { formatDuration } from './drill-evaluation.ts';
import { failedChecks, type RestoreReport } from './drill-report.ts';
import { formatBinaryBytes } from './format.ts';
import { dumpTotalBytes, type Manifest } from './manifest.ts';
import { tierSchema } from './retention-tiers.ts';

/**
 * The events pgproof puts on the account's default EventBridge bus, one per backup and drill outcome
 * (functions/publish-events.ts): their source, detail types and detail schemas. A consumer matches
 * `source: ["pgproof"]` and a detail type, and reads `detail.schemaVersion` before anything else:
 * fields are only ever added within a version; a rename or a removal makes version 2.
 * Every detail says what happened (`summary`) and what to do (`action`) in words a person acts on,
 * and carries no row values and no secrets: keys, sizes, durations, names and links only.
 */

/** `source` of every pgproof event. */
export const EVENT_SOURCE = 'pgproof';

/** The `detail-type` of each pgproof event. */
export const DETAIL_TYPES = {
  backupSucceeded: 'Backup Succeeded',
  backupFailed: 'Backup Failed',
  drillPassed: 'Drill Passed',
  drillFailed: 'Drill Failed',
  backupOverdue: 'Backup Overdue',
  drillOverdue: 'Drill Overdue',
} as const;

/** A pgproof event's `detail-type`. */
export type DetailType = (typeof DETAIL_TYPES)[keyof typeof DETAIL_TYPES];

/** The detail types that need a person: chat and webhooks get these by default. */
export const PROBLEM_DETAIL_TYPES: readonly DetailType[] = [
  DETAIL_TYPES.backupFailed,
  DETAIL_TYPES.drillFailed,
  DETAIL_TYPES.backupOverdue,
  DETAIL_TYPES.drillOverdue,
];

/** The detail schema version this code writes. */
export const EVENT_SCHEMA_VERSION = 1;

/** One line, at most `max` characters: chat clients and input transformers show it as it is. */
const line = (max: number) => z.string().min(1).max(max);

/** The fields every detail carries. */
const commonDetail = {
  schemaVersion: z.literal(EVENT_SCHEMA_VERSION),
  /** The database's name in the key layout (`BACKUP_NAME`); `unknown` when a drill's input named none. */
  database: z.string().min(1),
  /** What happened, in one sentence. */
  summary: line(1000),
  /** What a person should do next. */
  action: line(1000),
  /** Where a person looks first: the AWS console page of the task, execution or alarm, or the S3 object. */
  consoleUrl: z.url(),
};

export const backupSucceededDetailSchema = z.strictObject({
  ...commonDetail,
  backupId: z.string(),
  tier: tierSchema,
  bucket: z.string(),
  manifestKey: z.string(),
  /** The dump's size and SHA-256, as the manifest records them. */
  bytes: z.number().int().nonnegative(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  startedAt: z.string(),
  finishedAt: z.string(),
  durationSeconds: z.number().nonnegative(),
  /** The source server's PostgreSQL version. */
  serverVersion: z.string(),
  /** How many tables the manifest counted (names and counts are in the manifest). */
  tables: z.number().int().nonnegative(),
  verify: z.enum(['counts', 'checksums', 'none']),
});

export const backupFailedDetailSchema = z.strictObject({
  ...commonDetail,
  /** The backup the task was started for; absent when its overrides did not say. */
  backupId: z.string().optional(),
  tier: tierSchema.optional(),
  taskArn: z.string(),
  /** The runner's exit code; null when the task stopped before the runner exited (or never started). */
  exitCode: z.number().int().nullable(),
  /** ECS's `stopCode`, e.g. `EssentialContainerExited`, `TaskFailedToStart`. */
  stopCode: z.string().optional(),
  /** Why the task stopped, as ECS (and the container) said it. */
  reason: line(1000),
});

const drillDurationsSchema = z.strictObject({
  downloadSeconds: z.number().nonnegative(),
  restoreSeconds: z.number().nonnegative(),
  verifySeconds: z.number().nonnegative(),
  totalSeconds: z.number().nonnegative(),
});

const drillRtoSchema = z.strictObject({
  /** The measured recovery time: download + restore. */
  seconds: z.number().nonnegative(),
  /** The database's RTO; absent when it has none. */
  targetSeconds: z.number().positive().optional(),
  met: z.boolean().optional(),
});

/** What both drill outcomes carry about the execution and, when there is one, its report. */
const drillDetail = {
  ...commonDetail,
  executionArn: z.string(),
  bucket: z.string(),
};

export const drillPassedDetailSchema = z.strictObject({
  ...drillDetail,
  backupId: z.string(),
  tier: z.string(),
  manifestKey: z.string(),
  reportKey: z.string(),
  /** Hours between the backup's snapshot and the drill. */
  backupAgeHours: z.number(),
  durations: drillDurationsSchema,
  rto: drillRtoSchema,
  checksPassed: z.number().int().nonnegative(),
});

export const drillFailedDetailSchema = z.strictObject({
  ...drillDetail,
  /** How the execution ended: `SUCCEEDED` only when it ended without a passing verdict. */
  status: z.enum(['SUCCEEDED', 'FAILED', 'TIMED_OUT', 'ABORTED']),
  /** Absent when the drill failed before it found a backup. */
  backupId: z.string().optional(),
  manifestKey: z.string().optional(),
  /** Present only when the restore runner wrote its report. */
  reportKey: z.string().optional(),
  reason: line(1000),
  /** `name: detail` of each failed check (at most 10), from the report. */
  failedChecks: z.array(z.string()).max(10),
  durations: drillDurationsSchema.optional(),
  rto: drillRtoSchema.optional(),
  /** The execution's error and cause, when it failed with one. */
  error: z.string().optional(),
  cause: z.string().max(2000).optional(),
});

/** Both overdue events: an alarm that watches a success that stopped coming went into ALARM. */
const overdueDetailSchema = z.strictObject({
  ...commonDetail,
  alarmName: z.string(),
  alarmArn: z.string(),
  /** CloudWatch's reason for the state change. */
  reason: z.string(),
  /** When the alarm went into ALARM. */
  since: z.string(),
});
export const backupOverdueDetailSchema = overdueDetailSchema;
export const drillOverdueDetailSchema = overdueDetailSchema;

export type BackupSucceededDetail = z.infer<typeof backupSucceededDetailSchema>;
export type BackupFailedDetail = z.infer<typeof backupFailedDetailSchema>;
export type DrillPassedDetail = z.infer<typeof drillPassedDetailSchema>;
export type DrillFailedDetail = z.infer<typeof drillFailedDetailSchema>;
export type OverdueDetail = z.infer<typeof overdueDetailSchema>;

/** The detail schema of each detail type: the writer serializes through it, consumers may parse with it. */
export const DETAIL_SCHEMAS = {
  [DETAIL_TYPES.backupSucceeded]: backupSucceededDetailSchema,
  [DETAIL_TYPES.backupFailed]: backupFailedDetailSchema,
  [DETAIL_TYPES.drillPassed]: drillPassedDetailSchema,
  [DETAIL_TYPES.drillFailed]: drillFailedDetailSchema,
  [DETAIL_TYPES.backupOverdue]: backupOverdueDetailSchema,
  [DETAIL_TYPES.drillOverdue]: drillOverdueDetailSchema,
} as const satisfies Record<DetailType, z.ZodType>;

/** One pgproof event, before it is put on the bus. */
export type PgproofEvent =
  | { readonly detailType: 'Backup Succeeded'; readonly detail: BackupSucceededDetail }
  | { readonly detailType: 'Backup Failed'; readonly detail: BackupFailedDetail }
  | { readonly detailType: 'Drill Passed'; readonly detail: DrillPassedDetail }
  | { readonly detailType: 'Drill Failed'; readonly detail: DrillFailedDetail }
  | { readonly detailType: 'Backup Overdue' | 'Drill Overdue'; readonly detail: OverdueDetail };

/** The event's detail as JSON text, through its schema: an event the schema refuses is never put. */
export function serializeEventDetail(event: PgproofEvent): string {
  return JSON.stringify(DETAIL_SCHEMAS[event.detailType].parse(event.detail));
}

/** `text` on one line of at most `max` characters (error causes can be long, multi-line JSON). */
export function oneLineOf(text: string, max = 1000): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length <= max ? flat : `${flat.slice(0, max - 3)}...`;
}

/** Where an AWS console page is, in the partition of `arn` (any ARN of the account). */
export function consoleUrl(arn: string, region: string, path: string): string {
  const partition = arn.split(':')[1] ?? 'aws';
  const host =
    partition === 'aws-cn'
      ? 'console.amazonaws.cn'
      : partition === 'aws-us-gov'
        ? 'console.amazonaws-us-gov.com'
        : 'console.aws.amazon.com';
  return `https://${region}.${host}/${path}`;
}

/** The S3 console page of one object. */
function objectUrl(bucket: string, key: string, region: string, bucketArn: string): string {
  return consoleUrl(
    bucketArn,
    region,
    `s3/object/${encodeURIComponent(bucket)}?region=${region}&prefix=${encodeURIComponent(key)}`,
  );
}

/** Backup Succeeded, from the manifest that was just written at `manifestKey`. */
export function backupSucceeded(
  manifest: Manifest,
  where: {
    readonly bucket: string;
    /** The bucket's ARN (its partition picks the console's domain). */
    readonly bucketArn: string;
    readonly manifestKey: string;
    readonly region: string;
  },
): PgproofEvent {
  const seconds = Math.max(0, (Date.parse(manifest.finishedAt) - Date.parse(manifest.startedAt)) / 1000);
  return {
    detailType: DETAIL_TYPES.backupSucceeded,
    detail: {
      schemaVersion: EVENT_SCHEMA_VERSION,
      database: manifest.name,
      summary: `Backup ${manifest.backupId} of ${manifest.name} succeeded: ${manifest.tier}, ${formatBinaryBytes(dumpTotalBytes(manifest.dump))}, ${manifest.tables.length} tables, in ${formatDuration(seconds)}.`,
      action: `No action needed; the next restore drill of ${manifest.name} proves it restores.`,
      consoleUrl: objectUrl(where.bucket, where.manifestKey, where.region, where.bucketArn),
      backupId: manifest.backupId,
      tier: manifest.tier,
      bucket: where.bucket,
      manifestKey: where.manifestKey,
      bytes: dumpTotalBytes(manifest.dump),
      sha256: manifest.dump.sha256,
      startedAt: manifest.startedAt,
      finishedAt: manifest.finishedAt,
      durationSeconds: seconds,
      serverVersion: manifest.server.version,
      tables: manifest.tables.length,
      verify: manifest.verify,
    },
  };
}

/** What a stopped backup task tells about itself (from ECS's Task State Change). */
export interface StoppedBackupTask {
  readonly database: string;
  readonly backupId?: string;
  readonly tier?: z.infer<typeof tierSchema>;
  readonly taskArn: string;
  readonly clusterArn: string;
  readonly region: string;
  readonly exitCode: number | null;
  readonly stopCode?: string;
  /** ECS's stoppedReason and the container's reason, joined. */
  readonly reason: string;
}

/** Backup Failed, from a backup task that stopped without a manifest. */
export function backupFailed(task: StoppedBackupTask): PgproofEvent {
  const cluster = task.clusterArn.split('/').at(-1) ?? '';
  const taskId = task.taskArn.split('/').at(-1) ?? '';
  const which = task.backupId
    ? `Backup ${task.backupId} of ${task.database}`
    : `A backup of ${task.database}`;
  const how = task.exitCode === null ? 'stopped without an exit code' : `exited with ${task.exitCode}`;
  return {
    detailType: DETAIL_TYPES.backupFailed,
    detail: {
      schemaVersion: EVENT_SCHEMA_VERSION,
      database: task.database,
      summary: oneLineOf(
        `${which} FAILED: the task ${how} (${task.reason}); no backup was kept for this run.`,
      ),
      action: `Read the last line of the task's log: it says what went wrong and what to do. Then run \`pgproof backup ${task.database}\`, or let the next scheduled backup run.`,
      consoleUrl: consoleUrl(
        task.taskArn,
        task.region,
        `ecs/v2/clusters/${encodeURIComponent(cluster)}/tasks/${encodeURIComponent(taskId)}/logs?region=${task.region}`,
      ),
      ...(task.backupId ? { backupId: task.backupId } : {}),
      ...(task.tier ? { tier: task.tier } : {}),
      taskArn: task.taskArn,
      exitCode: task.exitCode,
      ...(task.stopCode ? { stopCode: task.stopCode } : {}),
      reason: oneLineOf(task.reason),
    },
  };
}

/** How a drill execution ended, and what it left behind. */
export interface DrillOutcome {
  readonly executionArn: string;
  readonly region: string;
  readonly bucket: string;
  readonly status: 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT' | 'ABORTED';
  /** From the plan ResolveBackup made, or the execution's input when there is no plan. */
  readonly database: string;
  readonly plan?: { readonly backupId: string; readonly manifestKey: string; readonly reportKey: string };
  /** EvaluateReport's verdict, when it ran. */
  readonly verdict?: { readonly passed: boolean; readonly subject: string };
  readonly report?: RestoreReport;
  readonly error?: string;
  readonly cause?: string;
}

const durationsOf = (report: RestoreReport) => ({
  downloadSeconds: report.durations.downloadSeconds,
  restoreSeconds: report.durations.restoreSeconds,
  verifySeconds: report.durations.verifySeconds,
  totalSeconds: report.durations.totalSeconds,
});
const rtoOf = (report: RestoreReport) => ({
  seconds: report.rto.seconds,
  ...(report.rto.targetSeconds === undefined ? {} : { targetSeconds: report.rto.targetSeconds }),
  ...(report.rto.met === undefined ? {} : { met: report.rto.met }),
});

/** Why a drill failed, in one line: the report's own error or failed checks first, the execution's last. */
function drillFailureReason(outcome: DrillOutcome): string {
  const { report } = outcome;
  if (report?.error) return report.error;
  const failed = report ? failedChecks(report) : [];
  if (failed.length) return `${failed.length} check(s) failed: ${failed.slice(0, 3).join('; ')}`;
  if (report?.rto.met === false && report.rto.targetSeconds !== undefined) {
    return `the restore took ${formatDuration(report.rto.seconds)}, more than the RTO of ${formatDuration(report.rto.targetSeconds)}`;
  }
  if (outcome.verdict && !outcome.verdict.passed) return outcome.verdict.subject;
  if (outcome.verdict?.passed && !report) {
    return `the drill passed, but its report s3://${outcome.bucket}/${outcome.plan?.reportKey} is missing: nothing proves it`;
  }
  if (outcome.status === 'TIMED_OUT')
    return 'the drill ran longer than its state machine allows and was stopped';
  if (outcome.status === 'ABORTED') return 'the execution was stopped before the drill ended';
  if (outcome.error || outcome.cause) return [outcome.error, outcome.cause].filter(Boolean).join(': ');
  return `the execution ended ${outcome.status} without a verdict`;
}

/** Drill Passed or Drill Failed: exactly one of them per drill execution. */
export function drillOutcome(outcome: DrillOutcome): PgproofEvent {
  const { plan, report } = outcome;
  const common = {
    schemaVersion: EVENT_SCHEMA_VERSION,
    database: outcome.database,
    consoleUrl: consoleUrl(
      outcome.executionArn,
      outcome.region,
      `states/home?region=${outcome.region}#/v2/executions/details/${outcome.executionArn}`,
    ),
    executionArn: outcome.executionArn,
    bucket: outcome.bucket,
  } as const;
  if (outcome.status === 'SUCCEEDED' && outcome.verdict?.passed && plan && report?.passed) {
    const rto =
      report.rto.targetSeconds === undefined
        ? 'no RTO set'
        : `RTO ${formatDuration(report.rto.targetSeconds)} met`;
    return {
      detailType: DETAIL_TYPES.drillPassed,
      detail: {
        ...common,
        summary: `Restore drill of backup ${plan.backupId} of ${outcome.database} PASSED: restored and verified in ${formatDuration(report.rto.seconds)} (${rto}).`,
        action: 'No action needed; the report is kept as evidence.',
        backupId: plan.backupId,
        tier: report.backup.tier,
        manifestKey: plan.manifestKey,
        reportKey: plan.reportKey,
        backupAgeHours: report.backup.ageHours,
        durations: durationsOf(report),
        rto: rtoOf(report),
        checksPassed: report.checks.filter((check) => check.passed).length,
      },
    };
  }
  const which = plan ? `backup ${plan.backupId} of ${outcome.database}` : outcome.database;
  const reason = oneLineOf(drillFailureReason(outcome));
  const action = report
    ? `Read the report s3://${outcome.bucket}/${plan?.reportKey}: it names what failed. Fix it, then run \`pgproof drill ${outcome.database}\`.`
    : `Open the execution in the Step Functions console: the failed step and the restore task's log say why. Fix it, then run \`pgproof drill ${outcome.database}\`.`;
  return {
    detailType: DETAIL_TYPES.drillFailed,
    detail: {
      ...common,
      summary: oneLineOf(`Restore drill of ${which} FAILED: ${reason}`),
      action: oneLineOf(action),
      status: outcome.status,
      ...(plan ? { backupId: plan.backupId, manifestKey: plan.manifestKey } : {}),
      ...(plan && report ? { reportKey: plan.reportKey } : {}),
      reason,
      failedChecks: report
        ? failedChecks(report)
            .slice(0, 10)
            .map((text) => oneLineOf(text, 300))
        : [],
      ...(report ? { durations: durationsOf(report), rto: rtoOf(report) } : {}),
      ...(outcome.error ? { error: oneLineOf(outcome.error, 200) } : {}),
      ...(outcome.cause ? { cause: oneLineOf(outcome.cause, 2000) } : {}),
    },
  };
}

/** What an alarm that went into ALARM tells about itself (from CloudWatch's Alarm State Change). */
export interface OverdueAlarm {
  readonly kind: 'backup' | 'drill';
  readonly database: string;
  readonly alarmName: string;
  readonly alarmArn: string;
  readonly region: string;
  readonly reason: string;
  readonly since: string;
}

/** Backup Overdue or Drill Overdue. */
export function overdue(alarm: OverdueAlarm): PgproofEvent {
  const db = alarm.database;
  const text =
    alarm.kind === 'backup'
      ? {
          summary: `No backup of ${db} succeeded within its RPO (alarm ${alarm.alarmName}).`,
          action: `Look for Backup Failed events of ${db} and its backup task logs, and check its schedule; run \`pgproof backup ${db}\` once the cause is fixed.`,
        }
      : {
          summary: `No restore drill of ${db} passed within its allowed interval, so nothing proves its backups restore (alarm ${alarm.alarmName}).`,
          action: `Run \`pgproof drill ${db}\` (or start the drill state machine with {"database": "${db}"}), and look for Drill Failed events of ${db}.`,
        };
  return {
    detailType: alarm.kind === 'backup' ? DETAIL_TYPES.backupOverdue : DETAIL_TYPES.drillOverdue,
    detail: {
      schemaVersion: EVENT_SCHEMA_VERSION,
      database: db,
      ...text,
      consoleUrl: consoleUrl(
        alarm.alarmArn,
        alarm.region,
        `cloudwatch/home?region=${alarm.region}#alarmsV2:alarm/${encodeURIComponent(alarm.alarmName)}`,
      ),
      alarmName: alarm.alarmName,
      alarmArn: alarm.alarmArn,
      reason: oneLineOf(alarm.reason),
      since: alarm.since,
    },
  };
}
