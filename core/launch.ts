import { createHash } from 'node:crypto';
import { DescribeTasksCommand, type ECSClient, ListTasksCommand, RunTaskCommand } from '@aws-sdk/client-ecs';
import type { S3Client } from '@aws-sdk/client-s3';
import { z } from 'zod';
import { classifyTier } from './classify-tier.ts';
import { isTimeZone } from './environment.ts';
import { PgproofError } from './errors.ts';
import { listBackupIds } from './find-backup.ts';
import { DATABASE_NAME_PATTERN, formatBackupId, parseBackupId } from './layout.ts';
import { TIERS, type Tier, tierSchema } from './retention-tiers.ts';

/**
 * Starting one scheduled backup: decide its tier from the backups already in the bucket, refuse
 * while an earlier backup of the database still runs, and start the ECS task exactly once even when
 * the invocation is retried.
 */

/** The `startedBy` of every backup task of a database; the task-failure rule matches its prefix. */
export const STARTED_BY_PREFIX = 'pgproof-';

/** The `startedBy` of a database's backup tasks. */
export function backupStartedBy(database: string): string {
  return `${STARTED_BY_PREFIX}${database}`;
}

/**
 * The RunTask idempotency token of one scheduled backup: the same database and scheduled time give
 * the same token, so a retried invocation cannot start a second task (ECS allows 64 characters).
 */
export function backupClientToken(database: string, backupId: string): string {
  return createHash('sha256').update(`${database}/${backupId}`).digest('hex');
}

const retentionDaysSchema = z.strictObject(
  Object.fromEntries(
    TIERS.map((tier) => [tier, z.number().int().min(1, 'must be at least 1 day')]),
  ) as Record<Tier, z.ZodNumber>,
);

/** The payload each database's schedule sends (built by the stack; `scheduledTime` filled in by the Scheduler). */
export const startBackupEventSchema = z.strictObject({
  /** The database's name in the key layout (`BACKUP_NAME`). */
  database: z.string().regex(DATABASE_NAME_PATTERN, 'must be a backup name like "orders"'),
  /** `<aws.scheduler.scheduled-time>`: ISO 8601 UTC. */
  scheduledTime: z.iso.datetime({
    offset: true,
    error: 'must be an ISO 8601 time, e.g. "2026-03-10T01:00:00Z"',
  }),
  /** The schedule's IANA time zone: tiers follow its calendar. */
  timeZone: z.string().refine(isTimeZone, 'must be an IANA time zone like "Europe/Berlin"'),
  taskDefinitionArn: z.string().regex(/^arn:aws[a-z-]*:ecs:/, 'must be an ECS task definition ARN'),
  containerName: z.string().min(1, 'must name the runner container'),
  securityGroupIds: z
    .array(z.string().regex(/^sg-/, 'must hold security group ids'))
    .min(1, 'must hold at least one security group id'),
  /** Object Lock retention of each tier (the chosen tier's goes to the runner as RETENTION_DAYS). */
  retentionDays: retentionDaysSchema,
});

/** A validated schedule payload. */
export type StartBackupEvent = z.infer<typeof startBackupEventSchema>;

/** Where tasks run and backups live: the launcher's environment. */
export interface LaunchSettings {
  readonly cluster: string;
  readonly subnetIds: readonly string[];
  readonly bucket: string;
  readonly prefix: string;
}

/** The SDK clients the launch uses. */
export interface LaunchClients {
  readonly ecs: ECSClient;
  readonly s3: S3Client;
}

/**
 * What became of a scheduled backup: the launcher's answer, which `pgproof backup` reads back.
 * `already-running`: a retried invocation whose backup's task already runs; `already-done`: a retried
 * invocation after the backup finished (its manifest exists).
 */
export const launchResultSchema = z.discriminatedUnion('status', [
  z.object({ status: z.literal('started'), backupId: z.string(), tier: tierSchema, taskArn: z.string() }),
  z.object({ status: z.literal('already-running'), backupId: z.string(), taskArn: z.string() }),
  z.object({ status: z.literal('already-done'), backupId: z.string() }),
]);

/** What became of a scheduled backup. */
export type LaunchResult = z.infer<typeof launchResultSchema>;

/** The previous backup of the database still runs, so this one was not started. */
export class BackupAlreadyRunningError extends PgproofError {
  constructor(
    readonly database: string,
    readonly backupId: string,
    readonly runningTaskArn: string,
  ) {
    super(
      `backup ${backupId} of ${database} not started: an earlier backup still runs (task ${runningTaskArn}); ` +
        'if it hangs, stop that task, then start this backup again',
    );
    this.name = 'BackupAlreadyRunningError';
  }
}

/** ECS refused to start the task. */
export class TaskNotStartedError extends PgproofError {
  constructor(database: string, backupId: string, reason: string) {
    super(
      `backup ${backupId} of ${database} not started: ECS said ${reason}; check the cluster and task definition`,
    );
    this.name = 'TaskNotStartedError';
  }
}

/** How far back backups matter: a local calendar year plus a day either side for time zones. */
const LOOKBACK_MS = 368 * 86_400_000;

/** Backup ids (times) of the database's backups that have a manifest, from a year before `until`. */
async function successfulBackups(
  s3: S3Client,
  settings: LaunchSettings,
  database: string,
  until: Date,
): Promise<Map<string, Date>> {
  // Keys sort by backup id, so older backups can be skipped without listing them.
  const since = formatBackupId(new Date(until.getTime() - LOOKBACK_MS));
  const ids = await listBackupIds(s3, settings.bucket, settings.prefix, database, since);
  const found = new Map<string, Date>();
  for (const id of ids) {
    const at = parseBackupId(id);
    if (at) found.set(id, at);
  }
  return found;
}

/** The running task of this database's backups, if any, and the backup id it was started for. */
async function runningBackup(
  ecs: ECSClient,
  cluster: string,
  database: string,
  containerName: string,
): Promise<{ taskArn: string; backupId: string | undefined } | undefined> {
  const listed = await ecs.send(
    // desiredStatus RUNNING covers tasks still PROVISIONING or PENDING as well as RUNNING.
    new ListTasksCommand({ cluster, startedBy: backupStartedBy(database), desiredStatus: 'RUNNING' }),
  );
  const taskArns = listed.taskArns ?? [];
  if (taskArns.length === 0) return undefined;
  const described = await ecs.send(new DescribeTasksCommand({ cluster, tasks: taskArns }));
  const task = described.tasks?.[0];
  const override = task?.overrides?.containerOverrides?.find((c) => c.name === containerName);
  const backupId = override?.environment?.find((e) => e.name === 'BACKUP_ID')?.value;
  return { taskArn: task?.taskArn ?? taskArns[0] ?? 'unknown', backupId };
}

/**
 * Starts the backup scheduled by `event`, once. Throws {@link BackupAlreadyRunningError} when an
 * earlier backup of the database still runs and {@link TaskNotStartedError} when ECS refuses.
 */
export async function startBackup(
  event: StartBackupEvent,
  settings: LaunchSettings,
  clients: LaunchClients,
): Promise<LaunchResult> {
  const scheduledAt = new Date(event.scheduledTime);
  const backupId = formatBackupId(scheduledAt);

  const running = await runningBackup(clients.ecs, settings.cluster, event.database, event.containerName);
  if (running?.backupId === backupId)
    return { status: 'already-running', backupId, taskArn: running.taskArn };
  if (running) throw new BackupAlreadyRunningError(event.database, backupId, running.taskArn);

  const backups = await successfulBackups(clients.s3, settings, event.database, scheduledAt);
  if (backups.has(backupId)) return { status: 'already-done', backupId };
  const tier = classifyTier(scheduledAt, event.timeZone, [...backups.values()]);

  const response = await clients.ecs.send(
    new RunTaskCommand({
      cluster: settings.cluster,
      taskDefinition: event.taskDefinitionArn,
      launchType: 'FARGATE',
      count: 1,
      startedBy: backupStartedBy(event.database),
      clientToken: backupClientToken(event.database, backupId),
      networkConfiguration: {
        awsvpcConfiguration: {
          subnets: [...settings.subnetIds],
          securityGroups: [...event.securityGroupIds],
          assignPublicIp: 'DISABLED',
        },
      },
      overrides: {
        containerOverrides: [
          {
            name: event.containerName,
            environment: [
              { name: 'BACKUP_ID', value: backupId },
              { name: 'BACKUP_TIER', value: tier },
              { name: 'RETENTION_DAYS', value: String(event.retentionDays[tier]) },
            ],
          },
        ],
      },
    }),
  );
  const taskArn = response.tasks?.[0]?.taskArn;
  if (!taskArn) {
    const failure = response.failures?.[0];
    throw new TaskNotStartedError(
      event.database,
      backupId,
      failure
        ? `${failure.reason ?? 'no reason'}${failure.detail ? ` (${failure.detail})` : ''}`
        : 'no task and no reason',
    );
  }
  return { status: 'started', backupId, tier, taskArn };
}
