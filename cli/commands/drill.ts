import {
  DescribeExecutionCommand,
  type ExecutionStatus,
  GetExecutionHistoryCommand,
  type HistoryEvent,
  StartExecutionCommand,
} from '@aws-sdk/client-sfn';
import { z } from 'zod';
import { type DrillSample, drillSampleSchema, MAX_SAMPLE_DAYS } from '../../core/drill.ts';
import { ConfigError } from '../../core/errors.ts';
import { TIERS } from '../../core/retention-tiers.ts';
import type { AwsClients } from '../aws.ts';
import { UnexpectedResponseError } from '../aws-response.ts';
import { type Deployment, DeploymentNotFoundError, requireDatabase } from '../deployment.ts';
import type { Output } from '../output.ts';
import { backupIdFlag, defineCommand } from './command.ts';
import { EXIT, type ExitCode } from './exit-codes.ts';

/**
 * `pgproof drill <database> [--backup ID | --sample TIER:DAYS] [--wait]`: starts the restore drill state machine with the
 * same input an operator types in the console; with `--wait`, prints each state as it is entered and
 * exits by the execution's result.
 */

/** Options of {@link drillCommand}. */
export interface DrillOptions {
  readonly database: string;
  readonly backupId: string | undefined;
  /** A random backup of a tier taken within the last days, instead of the latest. */
  readonly sample?: DrillSample | undefined;
  readonly wait: boolean;
  readonly pollMilliseconds?: number;
  readonly now?: () => Date;
}

/** The console input of a drill. */
export function drillInput(database: string, backupId: string | undefined, sample?: DrillSample): string {
  return JSON.stringify({
    database,
    ...(backupId ? { backupId } : {}),
    ...(sample ? { sample } : {}),
    mode: 'drill',
  });
}

/** `--sample monthly:365`: the sample the workflow's ResolveBackup draws from. */
export function sampleFlag(value: string | undefined, backupId: string | undefined): DrillSample | undefined {
  if (value === undefined) return undefined;
  if (backupId !== undefined) {
    throw new ConfigError('--sample and --backup pick the backup two ways; give one of them');
  }
  const [tier, days] = value.split(':');
  const parsed = drillSampleSchema.safeParse({ tier, withinDays: Number(days) });
  if (!parsed.success || !/^\d+$/.test(days ?? '')) {
    throw new ConfigError(
      `--sample must be TIER:DAYS with a tier of ${TIERS.join(', ')} and whole days up to ${MAX_SAMPLE_DAYS}, e.g. monthly:365; got "${value}"`,
    );
  }
  return parsed.data;
}

/** A unique, readable execution name (80 characters at most, Step Functions' limit). */
export function executionName(database: string, backupId: string | undefined, now: Date): string {
  const stamp = now
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}Z$/, 'Z');
  return `cli-${database}-${backupId ?? 'latest'}-${stamp}`.replace(/[^A-Za-z0-9_-]/g, '-').slice(0, 80);
}

/** Starts a drill; with `wait`, follows it to the end. */
export async function drillCommand(
  options: DrillOptions,
  deployment: Deployment,
  clients: AwsClients,
  output: Output,
): Promise<ExitCode> {
  requireDatabase(deployment, options.database);
  if (!deployment.stateMachineArn) {
    throw new DeploymentNotFoundError(
      `stack ${deployment.stack} has no restore drill output; redeploy pgproof`,
    );
  }
  const now = (options.now ?? (() => new Date()))();
  const { executionArn } = await clients.sfn.send(
    new StartExecutionCommand({
      stateMachineArn: deployment.stateMachineArn,
      name: executionName(
        options.database,
        options.backupId ?? (options.sample && `${options.sample.tier}-sample`),
        now,
      ),
      input: drillInput(options.database, options.backupId, options.sample),
    }),
  );
  if (!executionArn)
    throw new UnexpectedResponseError('Step Functions started no execution (no ARN returned); try again');
  if (!output.json) output.err(`drill of ${options.database} started: ${executionArn}`);
  if (!options.wait) {
    output.out(output.json ? JSON.stringify({ executionArn, status: 'RUNNING' }) : executionArn);
    return EXIT.ok;
  }
  const final = await followExecution(clients, executionArn, options.pollMilliseconds ?? 5_000, output);
  if (output.json) {
    output.out(
      JSON.stringify({
        executionArn,
        status: final.status,
        error: final.error,
        cause: final.cause,
        output: final.output,
      }),
    );
  } else if (final.status === 'SUCCEEDED') {
    output.out(`drill of ${options.database} PASSED: ${summarize(final.output)}`);
  } else {
    output.out(
      `drill of ${options.database} ${final.status}: ${final.error ?? ''} ${summarize(final.cause)}`.trim(),
    );
  }
  return final.status === 'SUCCEEDED' ? EXIT.ok : EXIT.failed;
}

/** The fields a drill's output or cause may carry (EvaluateReport's result, a Lambda error). */
const drillMessageSchema = z.object({
  subject: z.string().optional(),
  message: z.string().optional(),
  errorMessage: z.string().optional(),
});

function summarize(text: string | undefined): string {
  if (!text) return '';
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return text;
  }
  const parsed = drillMessageSchema.safeParse(json);
  if (!parsed.success) return text;
  return parsed.data.subject ?? parsed.data.message ?? parsed.data.errorMessage ?? text;
}

/** How an execution ended. */
export interface ExecutionOutcome {
  readonly status: ExecutionStatus;
  readonly error: string | undefined;
  readonly cause: string | undefined;
  readonly output: string | undefined;
}

/** Polls an execution to its end, printing every state it enters. */
export async function followExecution(
  clients: AwsClients,
  executionArn: string,
  pollMilliseconds: number,
  output: Output,
): Promise<ExecutionOutcome> {
  let seen = 0;
  for (;;) {
    const events: HistoryEvent[] = [];
    let token: string | undefined;
    do {
      const page = await clients.sfn.send(new GetExecutionHistoryCommand({ executionArn, nextToken: token }));
      events.push(...(page.events ?? []));
      token = page.nextToken;
    } while (token);
    for (const event of events.slice(seen)) {
      const entered = event.stateEnteredEventDetails?.name;
      if (entered && !output.json)
        output.err(`  ${event.timestamp?.toISOString().slice(11, 19) ?? ''} ${entered}`);
    }
    seen = events.length;
    const {
      status,
      error,
      cause,
      output: result,
    } = await clients.sfn.send(new DescribeExecutionCommand({ executionArn }));
    if (!status)
      throw new UnexpectedResponseError(
        `Step Functions described execution ${executionArn} without a status; try again`,
      );
    if (status !== 'RUNNING' && status !== 'PENDING_REDRIVE') return { status, error, cause, output: result };
    await new Promise((resolve) => setTimeout(resolve, pollMilliseconds));
  }
}

/** `pgproof drill <database> [--backup ID] [--wait]`. */
export const drill = defineCommand({
  name: 'drill',
  synopsis: ['pgproof drill <database> [--backup ID | --sample TIER:DAYS] [--wait]'],
  summary: 'start the restore drill state machine',
  takesDatabase: true,
  options: {
    backup: { type: 'string' },
    sample: { type: 'string' },
    wait: { type: 'boolean', default: false },
  },
  optionHelp: {
    backup: ['--backup ID', 'drill this backup (default: the latest)'],
    sample: [
      '--sample TIER:DAYS',
      'drill a random backup of the tier taken within the days, e.g. monthly:365',
    ],
    wait: ['--wait', 'print each state as it is entered; exit by the drill result'],
  },
  async run({ database, values, output, clients, deployment }) {
    const backupId = backupIdFlag(values.backup);
    const sample = sampleFlag(values.sample, backupId);
    return drillCommand(
      { database, backupId, sample, wait: values.wait },
      await deployment({ stack: true }),
      clients(),
      output,
    );
  },
});
