import 'aws-sdk-client-mock-vitest/extend';
import { CloudFormationClient, DescribeStacksCommand, type Output } from '@aws-sdk/client-cloudformation';
import { ECSClient } from '@aws-sdk/client-ecs';
import { type InvokeCommandOutput, LambdaClient } from '@aws-sdk/client-lambda';
import { GetScheduleCommand, SchedulerClient } from '@aws-sdk/client-scheduler';
import { SFNClient } from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach } from 'vitest';
import type { AwsClients } from '../../cli/aws.ts';
import { type Deployment, resolveDeployment } from '../../cli/deployment.ts';
import { type S3Server, startS3 } from '../support/s3.ts';

/**
 * A deployed primary stack as the CLI sees it: CloudFormation, Lambda, Scheduler, ECS and Step
 * Functions mocked (aws-sdk-client-mock), S3 the harness's real server.
 */

export const cloudFormation = mockClient(CloudFormationClient);
export const lambda = mockClient(LambdaClient);
export const scheduler = mockClient(SchedulerClient);
export const ecs = mockClient(ECSClient);
export const sfn = mockClient(SFNClient);

export const STACK = 'Pgproof-Primary';
export const STATE_MACHINE = 'arn:aws:states:eu-west-1:123456789012:stateMachine:PgproofRestoreDrill';
export const EXECUTION = 'arn:aws:states:eu-west-1:123456789012:execution:PgproofRestoreDrill:cli-orders';
export const TASK = 'arn:aws:ecs:eu-west-1:123456789012:task/pgproof-cluster/0123456789abcdef';
export const NOW = new Date('2026-11-21T09:15:30.250Z');
export const SCHEDULE_INPUT = JSON.stringify({
  database: 'orders',
  scheduledTime: '<aws.scheduler.scheduled-time>',
  timeZone: 'Europe/Berlin',
  taskDefinitionArn: 'arn:aws:ecs:eu-west-1:123456789012:task-definition/PgproofOrders:3',
  containerName: 'pg-dump',
  securityGroupIds: ['sg-0123456789abcdef0'],
  retentionDays: { daily: 7, weekly: 35, monthly: 372, yearly: 2562 },
});

/** The outputs the primary stack writes. */
export const STACK_OUTPUT_VALUES: Output[] = [
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
];

/** Makes `DescribeStacks` answer with these outputs. */
export function stackWithOutputs(outputs: Output[]): void {
  cloudFormation.on(DescribeStacksCommand, { StackName: STACK }).resolves({
    Stacks: [{ StackName: STACK, CreationTime: NOW, StackStatus: 'UPDATE_COMPLETE', Outputs: outputs }],
  });
}

/** A Lambda response payload (the SDK wraps the bytes in a blob adapter; the CLI reads them as bytes). */
export const encode = (value: unknown) =>
  new TextEncoder().encode(JSON.stringify(value)) as unknown as InvokeCommandOutput['Payload'];

/** The clients, the S3 server and the deployment of the mocked stack, for one test file. */
export interface PrimaryStack {
  readonly clients: AwsClients;
  readonly s3: S3Server;
  deployment(): Promise<Deployment>;
}

/** Starts the S3 server for the file and resets the mocks to the deployed stack before each test. */
export function usePrimaryStack(): PrimaryStack {
  let s3: S3Server | undefined;
  let clients: AwsClients | undefined;
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
    stackWithOutputs(STACK_OUTPUT_VALUES);
    scheduler.on(GetScheduleCommand, { Name: 'Pgproof-Orders-Schedule', GroupName: 'default' }).resolves({
      Target: { Arn: 'arn:aws:lambda:launcher', RoleArn: 'arn:aws:iam::role', Input: SCHEDULE_INPUT },
    });
  });
  const started = <T>(value: T | undefined): T => {
    if (value === undefined) throw new Error('usePrimaryStack: used before its beforeAll ran');
    return value;
  };
  return {
    get clients() {
      return started(clients);
    },
    get s3() {
      return started(s3);
    },
    deployment() {
      return resolveDeployment({ stack: STACK }, started(clients), { stack: true });
    },
  };
}
