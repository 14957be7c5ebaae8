import 'aws-sdk-client-mock-vitest/extend';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { DescribeTasksCommand, ECSClient } from '@aws-sdk/client-ecs';
import { InvokeCommand, type InvokeCommandOutput, LambdaClient } from '@aws-sdk/client-lambda';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { GetScheduleCommand, SchedulerClient } from '@aws-sdk/client-scheduler';
import {
  DescribeExecutionCommand,
  GetExecutionHistoryCommand,
  SFNClient,
  StartExecutionCommand,
} from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { AwsClients } from '../../cli/aws.ts';
import { backupCommand } from '../../cli/commands/backup.ts';
import { drillCommand } from '../../cli/commands/drill.ts';
import { resolveDeployment } from '../../cli/deployment.ts';
import { runCli } from '../../cli/main.ts';
import { recordOutput } from '../support/cli-output.ts';
import { type S3Server, startS3 } from '../support/s3.ts';

/** `backup` and `drill` against mocked ECS, Lambda, Scheduler, Step Functions and CloudFormation; S3 is real. */

const cloudFormation = mockClient(CloudFormationClient);
const lambda = mockClient(LambdaClient);
const scheduler = mockClient(SchedulerClient);
const ecs = mockClient(ECSClient);
const sfn = mockClient(SFNClient);

const STACK = 'Pgproof-Primary';
const STATE_MACHINE = 'arn:aws:states:eu-west-1:123456789012:stateMachine:PgproofRestoreDrill';
const EXECUTION = 'arn:aws:states:eu-west-1:123456789012:execution:PgproofRestoreDrill:cli-orders';
const TASK = 'arn:aws:ecs:eu-west-1:123456789012:task/pgproof-cluster/0123456789abcdef';
const NOW = new Date('2026-11-21T09:15:30.250Z');
const SCHEDULE_INPUT = JSON.stringify({
  database: 'orders',
  scheduledTime: '<aws.scheduler.scheduled-time>',
  timeZone: 'Europe/Berlin',
  taskDefinitionArn: 'arn:aws:ecs:eu-west-1:123456789012:task-definition/PgproofOrders:3',
  containerName: 'pg-dump',
  securityGroupIds: ['sg-0123456789abcdef0'],
  retentionDays: { daily: 7, weekly: 35, monthly: 372, yearly: 2562 },
});

let s3: S3Server;
let clients: AwsClients;

beforeAll(async () => {
  s3 = await startS3();
  clients = {
    cloudFormation: new CloudFormationClient({ region: 'eu-west-1' }),
    lambda: new LambdaClient({ region: 'eu-west-1' }),
    scheduler: new SchedulerClient({ region: 'eu-west-1' }),
    ecs: new ECSClient({ region: 'eu-west-1' }),
    sfn: new SFNClient({ region: 'eu-west-1' }),
    s3: s3.client,
  };
});
afterAll(async () => {
  await s3?.stop();
});

beforeEach(() => {
  for (const mock of [cloudFormation, lambda, scheduler, ecs, sfn]) mock.reset();
  cloudFormation.on(DescribeStacksCommand, { StackName: STACK }).resolves({
    Stacks: [
      {
        StackName: STACK,
        CreationTime: NOW,
        StackStatus: 'UPDATE_COMPLETE',
        Outputs: [
          { OutputKey: 'BackupBucketName', OutputValue: 'backups' },
          { OutputKey: 'BackupPrefix', OutputValue: '' },
          { OutputKey: 'LauncherFunctionName', OutputValue: 'Pgproof-Primary-LauncherFunction' },
          { OutputKey: 'RestoreDrillStateMachineArn', OutputValue: STATE_MACHINE },
          {
            OutputKey: 'BackupSchedules',
            OutputValue: JSON.stringify({
              orders: { schedule: 'Pgproof-Orders-Schedule', group: 'default' },
            }),
          },
        ],
      },
    ],
  });
  scheduler.on(GetScheduleCommand, { Name: 'Pgproof-Orders-Schedule', GroupName: 'default' }).resolves({
    Target: { Arn: 'arn:aws:lambda:launcher', RoleArn: 'arn:aws:iam::role', Input: SCHEDULE_INPUT },
  });
});

/** A Lambda response payload (the SDK wraps the bytes in a blob adapter; the CLI reads them as bytes). */
const encode = (value: unknown) =>
  new TextEncoder().encode(JSON.stringify(value)) as unknown as InvokeCommandOutput['Payload'];

async function deployment() {
  return resolveDeployment({ stack: STACK }, clients, { stack: true });
}

describe('pgproof backup', () => {
  it('invokes the launcher with the schedule payload at the current time', async () => {
    lambda.on(InvokeCommand).resolves({
      StatusCode: 200,
      Payload: encode({ status: 'started', backupId: '20261121T091530Z', tier: 'weekly', taskArn: TASK }),
    });
    const output = recordOutput();
    const code = await backupCommand(
      { database: 'orders', wait: false, now: () => NOW },
      await deployment(),
      clients,
      output,
    );
    expect(code).toBe(0);
    expect(lambda).toHaveReceivedCommandTimes(InvokeCommand, 1);
    const invoke = lambda.commandCalls(InvokeCommand)[0]?.args[0].input;
    expect(invoke?.FunctionName).toBe('Pgproof-Primary-LauncherFunction');
    expect(invoke?.InvocationType).toBe('RequestResponse');
    expect(JSON.parse(new TextDecoder().decode(invoke?.Payload as Uint8Array))).toEqual({
      ...JSON.parse(SCHEDULE_INPUT),
      scheduledTime: '2026-11-21T09:15:30Z',
    });
    expect(output.stdout).toEqual([`backup 20261121T091530Z of orders started (tier weekly): task ${TASK}`]);
  });

  it('with --wait, follows the task to a written manifest', async () => {
    lambda.on(InvokeCommand).resolves({
      Payload: encode({ status: 'started', backupId: '20261121T091530Z', tier: 'daily', taskArn: TASK }),
    });
    ecs
      .on(DescribeTasksCommand, { cluster: 'pgproof-cluster', tasks: [TASK] })
      .resolvesOnce({ tasks: [{ taskArn: TASK, lastStatus: 'PROVISIONING' }] })
      .resolvesOnce({ tasks: [{ taskArn: TASK, lastStatus: 'RUNNING' }] })
      .resolves({
        tasks: [{ taskArn: TASK, lastStatus: 'STOPPED', containers: [{ name: 'pg-dump', exitCode: 0 }] }],
      });
    await s3.client.send(
      new PutObjectCommand({ Bucket: 'backups', Key: 'orders/20261121T091530Z/manifest.json', Body: '{}' }),
    );
    const output = recordOutput();
    const code = await backupCommand(
      { database: 'orders', wait: true, pollMilliseconds: 1, now: () => NOW },
      await deployment(),
      clients,
      output,
    );
    expect(code).toBe(0);
    expect(ecs).toHaveReceivedCommandTimes(DescribeTasksCommand, 3);
    expect(output.stderr).toEqual(['task provisioning', 'task running', 'task stopped']);
    expect(output.stdout.at(-1)).toBe(
      'backup 20261121T091530Z of orders succeeded: s3://backups/orders/20261121T091530Z/manifest.json',
    );
  });

  it('with --wait, exits 2 when the runner failed, with its reason', async () => {
    lambda.on(InvokeCommand).resolves({
      Payload: encode({ status: 'started', backupId: '20261121T091531Z', tier: 'daily', taskArn: TASK }),
    });
    ecs.on(DescribeTasksCommand).resolves({
      tasks: [
        {
          taskArn: TASK,
          lastStatus: 'STOPPED',
          stoppedReason: 'Essential container in task exited',
          containers: [{ name: 'pg-dump', exitCode: 1 }],
        },
      ],
    });
    const output = recordOutput();
    const code = await backupCommand(
      { database: 'orders', wait: true, pollMilliseconds: 1, now: () => NOW },
      await deployment(),
      clients,
      output,
    );
    expect(code).toBe(2);
    expect(output.stdout.at(-1)).toBe(
      "backup 20261121T091531Z of orders FAILED (exit 1): Essential container in task exited; the task's log has the runner's one-line error",
    );
  });

  it('fails with the launcher’s own message when it refuses', async () => {
    lambda.on(InvokeCommand).resolves({
      FunctionError: 'Unhandled',
      Payload: encode({
        errorType: 'BackupAlreadyRunningError',
        errorMessage: 'an earlier backup still runs',
      }),
    });
    const output = recordOutput();
    const code = await runCli(['backup', 'orders'], { output, clients: () => clients });
    expect(code).toBe(1);
    expect(output.stderr).toEqual([
      'pgproof: the launcher refused the backup of orders: an earlier backup still runs',
    ]);
  });

  it('rejects a database the deployment does not back up, naming the ones it does', async () => {
    const output = recordOutput();
    const code = await runCli(['backup', 'ledger'], { output, clients: () => clients });
    expect(code).toBe(1);
    expect(output.stderr).toEqual([
      'pgproof: database "ledger" is not in the deployment Pgproof-Primary (it backs up: orders); add it to pgproof.config.json and deploy, or check the name',
    ]);
    expect(lambda).not.toHaveReceivedCommand(InvokeCommand);
  });

  it('says how to deploy when the stack does not exist', async () => {
    cloudFormation
      .on(DescribeStacksCommand)
      .rejects(
        Object.assign(new Error('Stack with id Pgproof-Primary does not exist'), { name: 'ValidationError' }),
      );
    const output = recordOutput();
    const code = await runCli(['backup', 'orders'], { output, clients: () => clients });
    expect(code).toBe(1);
    expect(output.stderr).toEqual([
      'pgproof: stack Pgproof-Primary is not deployed in eu-west-1: deploy it with `npx cdk deploy --all`, or pass --region/--stack (or --bucket for S3-only commands)',
    ]);
  });

  it('says how to get credentials when there are none', async () => {
    cloudFormation.on(DescribeStacksCommand).rejects(
      Object.assign(new Error('Could not load credentials from any providers'), {
        name: 'CredentialsProviderError',
      }),
    );
    const output = recordOutput();
    expect(await runCli(['drill', 'orders'], { output, clients: () => clients })).toBe(1);
    expect(output.stderr[0]).toMatch(
      /^pgproof: no AWS credentials found: set AWS_PROFILE \(or pass --profile\)/,
    );
  });
});

describe('pgproof drill', () => {
  beforeEach(() => {
    sfn.on(StartExecutionCommand).resolves({ executionArn: EXECUTION, startDate: NOW });
  });

  it('starts the state machine with the console input', async () => {
    const output = recordOutput();
    const code = await drillCommand(
      { database: 'orders', backupId: '20261120T020000Z', wait: false, now: () => NOW },
      await deployment(),
      clients,
      output,
    );
    expect(code).toBe(0);
    expect(sfn).toHaveReceivedCommandExactlyOnceWith(StartExecutionCommand, {
      stateMachineArn: STATE_MACHINE,
      name: 'cli-orders-20261120T020000Z-20261121T091530Z',
      input: '{"database":"orders","backupId":"20261120T020000Z","mode":"drill"}',
    });
    expect(output.stdout).toEqual([EXECUTION]);
  });

  it('with --wait, shows each state and exits 0 when the drill succeeds', async () => {
    sfn
      .on(GetExecutionHistoryCommand)
      .resolvesOnce({
        events: [
          { id: 1, timestamp: NOW, type: 'ExecutionStarted' },
          {
            id: 2,
            timestamp: NOW,
            type: 'TaskStateEntered',
            stateEnteredEventDetails: { name: 'ResolveBackup' },
          },
        ],
      })
      .resolves({
        events: [
          { id: 1, timestamp: NOW, type: 'ExecutionStarted' },
          {
            id: 2,
            timestamp: NOW,
            type: 'TaskStateEntered',
            stateEnteredEventDetails: { name: 'ResolveBackup' },
          },
          {
            id: 3,
            timestamp: NOW,
            type: 'TaskStateEntered',
            stateEnteredEventDetails: { name: 'RunRestore' },
          },
          {
            id: 4,
            timestamp: NOW,
            type: 'TaskStateEntered',
            stateEnteredEventDetails: { name: 'EvaluateReport' },
          },
          { id: 5, timestamp: NOW, type: 'TaskStateEntered', stateEnteredEventDetails: { name: 'Notify' } },
          {
            id: 6,
            timestamp: NOW,
            type: 'SucceedStateEntered',
            stateEnteredEventDetails: { name: 'DrillPassed' },
          },
        ],
      });
    sfn
      .on(DescribeExecutionCommand, { executionArn: EXECUTION })
      .resolvesOnce({
        executionArn: EXECUTION,
        stateMachineArn: STATE_MACHINE,
        status: 'RUNNING',
        startDate: NOW,
      })
      .resolves({
        executionArn: EXECUTION,
        stateMachineArn: STATE_MACHINE,
        status: 'SUCCEEDED',
        startDate: NOW,
        output: JSON.stringify({ subject: 'pgproof drill passed: orders 20261120T020000Z' }),
      });
    const output = recordOutput();
    const code = await drillCommand(
      { database: 'orders', backupId: undefined, wait: true, pollMilliseconds: 1, now: () => NOW },
      await deployment(),
      clients,
      output,
    );
    expect(code).toBe(0);
    expect(output.stderr.map((l) => l.trim())).toEqual([
      `drill of orders started: ${EXECUTION}`,
      '09:15:30 ResolveBackup',
      '09:15:30 RunRestore',
      '09:15:30 EvaluateReport',
      '09:15:30 Notify',
      '09:15:30 DrillPassed',
    ]);
    expect(output.stdout).toEqual(['drill of orders PASSED: pgproof drill passed: orders 20261120T020000Z']);
    expect(sfn.commandCalls(StartExecutionCommand)[0]?.args[0].input.input).toBe(
      '{"database":"orders","mode":"drill"}',
    );
  });

  it('with --wait, exits 2 when the drill fails, with its error', async () => {
    sfn.on(GetExecutionHistoryCommand).resolves({ events: [] });
    sfn.on(DescribeExecutionCommand).resolves({
      executionArn: EXECUTION,
      stateMachineArn: STATE_MACHINE,
      status: 'FAILED',
      startDate: NOW,
      error: 'DrillFailed',
      cause: JSON.stringify({ message: 'checksum: the object was changed' }),
    });
    const output = recordOutput();
    const code = await drillCommand(
      { database: 'orders', backupId: undefined, wait: true, pollMilliseconds: 1, now: () => NOW },
      await deployment(),
      clients,
      output,
    );
    expect(code).toBe(2);
    expect(output.stdout).toEqual(['drill of orders FAILED: DrillFailed checksum: the object was changed']);
  });
});
