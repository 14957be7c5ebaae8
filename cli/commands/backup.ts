import { DescribeTasksCommand, type Task } from '@aws-sdk/client-ecs';
import { InvokeCommand } from '@aws-sdk/client-lambda';
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { GetScheduleCommand } from '@aws-sdk/client-scheduler';
import { z } from 'zod';
import { PgproofError } from '../../core/errors.ts';
import { launchResultSchema, startBackupEventSchema } from '../../core/launch.ts';
import { backupKeys } from '../../core/layout.ts';
import type { AwsClients } from '../aws.ts';
import { parseJsonResponse, UnexpectedResponseError } from '../aws-response.ts';
import { type Deployment, DeploymentNotFoundError, requireDatabase } from '../deployment.ts';
import type { Output } from '../output.ts';
import { defineCommand } from './command.ts';
import { EXIT, type ExitCode } from './exit-codes.ts';

/**
 * `pgproof backup <database> [--wait]`: an on-demand backup, as the schedule would take it now (the
 * pre-migration backup of a CI pipeline). It invokes the launcher with the database's schedule
 * payload, so tier, retention and task are exactly the scheduled ones.
 */

/** The launcher refused or failed. */
export class LaunchFailedError extends PgproofError {
  constructor(message: string) {
    super(message);
    this.name = 'LaunchFailedError';
  }
}

const functionErrorSchema = z.object({ errorMessage: z.string() });

/** Options of {@link backupCommand}. */
export interface BackupOptions {
  readonly database: string;
  readonly wait: boolean;
  /** Polling interval while waiting (tests shorten it). */
  readonly pollMilliseconds?: number;
  readonly now?: () => Date;
}

/** Starts a backup; with `wait`, follows its task to the end. */
export async function backupCommand(
  options: BackupOptions,
  deployment: Deployment,
  clients: AwsClients,
  output: Output,
): Promise<ExitCode> {
  const schedule = requireDatabase(deployment, options.database);
  if (!deployment.launcherFunction) {
    throw new DeploymentNotFoundError(`stack ${deployment.stack} has no launcher output; redeploy pgproof`);
  }
  const { Target } = await clients.scheduler.send(
    new GetScheduleCommand({ Name: schedule.schedule, GroupName: schedule.group }),
  );
  const what = `schedule ${schedule.schedule} (group ${schedule.group})`;
  if (!Target?.Input) throw new UnexpectedResponseError(`${what} has no target input; redeploy pgproof`);
  const now = (options.now ?? (() => new Date()))();
  // The payload the schedule would send now: the launcher parses it with the same schema.
  const event = parseJsonResponse(
    startBackupEventSchema,
    Target.Input.replaceAll('<aws.scheduler.scheduled-time>', now.toISOString().replace(/\.\d{3}Z$/, 'Z')),
    `the target input of ${what}`,
    'redeploy pgproof',
  );
  const payload = JSON.stringify(event);

  const response = await clients.lambda.send(
    new InvokeCommand({
      FunctionName: deployment.launcherFunction,
      InvocationType: 'RequestResponse',
      Payload: new TextEncoder().encode(payload),
    }),
  );
  const body = new TextDecoder().decode(response.Payload ?? new Uint8Array());
  if (response.FunctionError) {
    const message = errorMessageOf(body) ?? body;
    throw new LaunchFailedError(`the launcher refused the backup of ${options.database}: ${message}`);
  }
  const result = parseJsonResponse(
    launchResultSchema,
    body,
    `the launcher's answer (${deployment.launcherFunction})`,
    'redeploy pgproof so the CLI and the launcher match',
  );
  if (result.status === 'already-done') {
    report(
      output,
      { ...result, database: options.database },
      `backup ${result.backupId} of ${options.database} already exists`,
    );
    return EXIT.ok;
  }
  const tier = 'tier' in result ? result.tier : undefined;
  report(
    output,
    { ...result, database: options.database },
    `backup ${result.backupId} of ${options.database} ${result.status === 'started' ? 'started' : 'is already running'}` +
      `${tier ? ` (tier ${tier})` : ''}: task ${result.taskArn}`,
  );
  if (!options.wait) return EXIT.ok;

  const task = await waitForTask(clients, result.taskArn, options.pollMilliseconds ?? 10_000, output);
  const runner = task.containers?.find((c) => c.exitCode !== undefined) ?? task.containers?.[0];
  const manifestKey = backupKeys(deployment.prefix, options.database, result.backupId).manifest;
  if (runner?.exitCode === 0 && (await exists(clients, deployment.bucket, manifestKey))) {
    report(
      output,
      {
        status: 'succeeded',
        backupId: result.backupId,
        manifest: `s3://${deployment.bucket}/${manifestKey}`,
      },
      `backup ${result.backupId} of ${options.database} succeeded: s3://${deployment.bucket}/${manifestKey}`,
    );
    return EXIT.ok;
  }
  const why = runner?.reason ?? task.stoppedReason ?? 'no reason given';
  report(
    output,
    { status: 'failed', backupId: result.backupId, exitCode: runner?.exitCode ?? null, reason: why },
    `backup ${result.backupId} of ${options.database} FAILED (exit ${runner?.exitCode ?? 'none'}): ${why}; the task's log has the runner's one-line error`,
  );
  return EXIT.failed;
}

/** The `errorMessage` of a Lambda error payload, if it has one. */
function errorMessageOf(body: string): string | undefined {
  try {
    const parsed = functionErrorSchema.safeParse(JSON.parse(body));
    return parsed.success ? parsed.data.errorMessage : undefined;
  } catch {
    return undefined;
  }
}

function report(output: Output, data: object, text: string): void {
  output.out(output.json ? JSON.stringify(data) : text);
}

async function exists(clients: AwsClients, bucket: string, key: string): Promise<boolean> {
  try {
    await clients.s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    return true;
  } catch {
    return false;
  }
}

/** The cluster of a task ARN `arn:aws:ecs:<region>:<account>:task/<cluster>/<id>`. */
export function clusterOfTask(taskArn: string): string {
  const cluster = /:task\/([^/]+)\/[^/]+$/.exec(taskArn)?.[1];
  if (!cluster) throw new LaunchFailedError(`cannot tell the cluster of task ${taskArn}`);
  return cluster;
}

/** Polls a task until it stops, printing its status changes. */
export async function waitForTask(
  clients: AwsClients,
  taskArn: string,
  pollMilliseconds: number,
  output: Output,
): Promise<Task> {
  const cluster = clusterOfTask(taskArn);
  let lastStatus: string | undefined;
  for (;;) {
    const { tasks, failures } = await clients.ecs.send(
      new DescribeTasksCommand({ cluster, tasks: [taskArn] }),
    );
    const task = tasks?.[0];
    if (!task) {
      throw new LaunchFailedError(
        `task ${taskArn} not found (${failures?.[0]?.reason ?? 'no detail'}); it may have stopped over an hour ago`,
      );
    }
    if (!task.lastStatus)
      throw new UnexpectedResponseError(`ECS described task ${taskArn} without a lastStatus; try again`);
    if (task.lastStatus !== lastStatus) {
      lastStatus = task.lastStatus;
      if (!output.json) output.err(`task ${task.lastStatus.toLowerCase()}`);
    }
    if (task.lastStatus === 'STOPPED') return task;
    await new Promise((resolve) => setTimeout(resolve, pollMilliseconds));
  }
}

/** `pgproof backup <database> [--wait]`. */
export const backup = defineCommand({
  name: 'backup',
  synopsis: ['pgproof backup <database> [--wait]'],
  summary: 'on-demand backup (e.g. before a migration)',
  takesDatabase: true,
  options: { wait: { type: 'boolean', default: false } },
  optionHelp: { wait: ['--wait', 'follow the task to its end; exit 2 if the backup failed'] },
  async run({ database, values, output, clients, deployment }) {
    return backupCommand(
      { database, wait: values.wait },
      await deployment({ stack: true }),
      clients(),
      output,
    );
  },
});
