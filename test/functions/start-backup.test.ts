import 'aws-sdk-client-mock-vitest/extend';
import { DescribeTasksCommand, ECSClient, ListTasksCommand, RunTaskCommand } from '@aws-sdk/client-ecs';
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { backupClientToken, type StartBackupEvent } from '../../core/launch.ts';

const ecs = mockClient(ECSClient);
const s3 = mockClient(S3Client);

const CLUSTER = 'arn:aws:ecs:eu-west-1:123456789012:cluster/pgproof';
const TASK_DEFINITION = 'arn:aws:ecs:eu-west-1:123456789012:task-definition/PgproofOrders:3';
const TASK = 'arn:aws:ecs:eu-west-1:123456789012:task/pgproof/0123456789abcdef';

const event: StartBackupEvent = {
  database: 'orders',
  scheduledTime: '2026-03-10T01:00:00Z',
  timeZone: 'Europe/Berlin',
  taskDefinitionArn: TASK_DEFINITION,
  containerName: 'pg-dump',
  securityGroupIds: ['sg-0123456789abcdef0'],
  retentionDays: { daily: 7, weekly: 35, monthly: 372, yearly: 2562 },
};

let handler: (payload: unknown) => Promise<unknown>;

beforeAll(async () => {
  vi.stubEnv('POWERTOOLS_LOG_LEVEL', 'SILENT');
  vi.stubEnv('POWERTOOLS_METRICS_DISABLED', 'true');
  ({ handler } = await import('../../functions/start-backup.ts'));
});
afterAll(() => vi.unstubAllEnvs());

beforeEach(() => {
  ecs.reset();
  s3.reset();
  vi.stubEnv('CLUSTER_ARN', CLUSTER);
  vi.stubEnv('SUBNET_IDS', 'subnet-aaaa1111,subnet-bbbb2222');
  vi.stubEnv('BACKUP_BUCKET', 'backups');
  vi.stubEnv('BACKUP_PREFIX', 'pg/');
  ecs.on(ListTasksCommand).resolves({ taskArns: [] });
  ecs.on(RunTaskCommand).resolves({ tasks: [{ taskArn: TASK }], failures: [] });
  s3.on(ListObjectsV2Command).resolves({ Contents: [], IsTruncated: false });
});

/** The S3 keys of a complete backup of `name`. */
const backupObjects = (name: string, backupId: string) =>
  ['dump.pgdump', 'globals.sql', 'manifest.json'].map((file) => ({ Key: `pg/${name}/${backupId}/${file}` }));

describe('start-backup handler', () => {
  it('starts the first backup of a database as yearly with the exact RunTask request', async () => {
    await expect(handler(event)).resolves.toEqual({
      status: 'started',
      backupId: '20260310T010000Z',
      tier: 'yearly',
      taskArn: TASK,
    });
    expect(ecs).toHaveReceivedCommandWith(ListTasksCommand, {
      cluster: CLUSTER,
      startedBy: 'pgproof-orders',
      desiredStatus: 'RUNNING',
    });
    expect(s3).toHaveReceivedCommandWith(ListObjectsV2Command, {
      Bucket: 'backups',
      Prefix: 'pg/orders/',
      StartAfter: 'pg/orders/20250307T010000Z',
    });
    expect(ecs.commandCalls(RunTaskCommand)[0]?.args[0].input).toEqual({
      cluster: CLUSTER,
      taskDefinition: TASK_DEFINITION,
      launchType: 'FARGATE',
      count: 1,
      startedBy: 'pgproof-orders',
      clientToken: backupClientToken('orders', '20260310T010000Z'),
      networkConfiguration: {
        awsvpcConfiguration: {
          subnets: ['subnet-aaaa1111', 'subnet-bbbb2222'],
          securityGroups: ['sg-0123456789abcdef0'],
          assignPublicIp: 'DISABLED',
        },
      },
      overrides: {
        containerOverrides: [
          {
            name: 'pg-dump',
            environment: [
              { name: 'BACKUP_ID', value: '20260310T010000Z' },
              { name: 'BACKUP_TIER', value: 'yearly' },
              { name: 'RETENTION_DAYS', value: '2562' },
            ],
          },
        ],
      },
    });
  });

  it('picks the tier from the manifests in the bucket, across pages, ignoring unfinished backups', async () => {
    s3.on(ListObjectsV2Command)
      .resolvesOnce({
        Contents: [
          ...backupObjects('orders', '20260102T010000Z'),
          ...backupObjects('orders', '20260301T010000Z'),
        ],
        IsTruncated: true,
        NextContinuationToken: 'page-2',
      })
      .resolvesOnce({
        // 9 March (Monday) failed before its manifest: the week has no successful backup yet.
        Contents: [
          { Key: 'pg/orders/20260309T010000Z/dump.pgdump' },
          { Key: 'pg/orders-eu/x/manifest.json' },
        ],
        IsTruncated: false,
      });
    await expect(handler(event)).resolves.toMatchObject({ status: 'started', tier: 'weekly' });
    expect(s3).toHaveReceivedCommandWith(ListObjectsV2Command, { ContinuationToken: 'page-2' });
    expect(ecs).toHaveReceivedCommandWith(RunTaskCommand, {
      overrides: {
        containerOverrides: [
          {
            name: 'pg-dump',
            environment: [
              { name: 'BACKUP_ID', value: '20260310T010000Z' },
              { name: 'BACKUP_TIER', value: 'weekly' },
              { name: 'RETENTION_DAYS', value: '35' },
            ],
          },
        ],
      },
    });
  });

  it('does not start a second task when a retried invocation finds its own backup running', async () => {
    ecs.on(ListTasksCommand).resolves({ taskArns: [TASK] });
    ecs.on(DescribeTasksCommand).resolves({
      tasks: [
        {
          taskArn: TASK,
          overrides: {
            containerOverrides: [
              { name: 'pg-dump', environment: [{ name: 'BACKUP_ID', value: '20260310T010000Z' }] },
            ],
          },
        },
      ],
    });
    await expect(handler(event)).resolves.toEqual({
      status: 'already-running',
      backupId: '20260310T010000Z',
      taskArn: TASK,
    });
    expect(ecs).not.toHaveReceivedCommand(RunTaskCommand);
  });

  it('does not start a backup whose manifest already exists', async () => {
    s3.on(ListObjectsV2Command).resolves({ Contents: backupObjects('orders', '20260310T010000Z') });
    await expect(handler(event)).resolves.toEqual({ status: 'already-done', backupId: '20260310T010000Z' });
    expect(ecs).not.toHaveReceivedCommand(RunTaskCommand);
  });

  it('refuses to start while an earlier backup of the database still runs', async () => {
    ecs.on(ListTasksCommand).resolves({ taskArns: [TASK] });
    ecs.on(DescribeTasksCommand).resolves({
      tasks: [
        {
          taskArn: TASK,
          lastStatus: 'RUNNING',
          overrides: {
            containerOverrides: [
              { name: 'pg-dump', environment: [{ name: 'BACKUP_ID', value: '20260309T010000Z' }] },
            ],
          },
        },
      ],
    });
    await expect(handler(event)).rejects.toThrow(
      `backup 20260310T010000Z of orders not started: an earlier backup still runs (task ${TASK}); if it hangs, stop that task, then start this backup again`,
    );
    expect(ecs).not.toHaveReceivedCommand(RunTaskCommand);
  });

  it('rejects when ECS does not start the task, with its reason', async () => {
    ecs.on(RunTaskCommand).resolves({ tasks: [], failures: [{ reason: 'RESOURCE:ENI', detail: 'limit' }] });
    await expect(handler(event)).rejects.toThrow(
      'backup 20260310T010000Z of orders not started: ECS said RESOURCE:ENI (limit); check the cluster and task definition',
    );
  });

  it('rejects a payload without a scheduled time, naming the field', async () => {
    const { scheduledTime: _, ...payload } = event;
    await expect(handler(payload)).rejects.toThrow(
      'schedule payload rejected: scheduledTime: must be an ISO 8601 time, e.g. "2026-03-10T01:00:00Z"',
    );
    expect(ecs).not.toHaveReceivedCommand(ListTasksCommand);
  });

  it('rejects a payload with every problem listed', async () => {
    await expect(
      handler({ ...event, database: 'orders/eu', timeZone: 'Mars/Olympus', securityGroupIds: [], extra: 1 }),
    ).rejects.toThrow(
      'schedule payload rejected: database: must be a backup name like "orders"; ' +
        'timeZone: must be an IANA time zone like "Europe/Berlin"; ' +
        'securityGroupIds: must hold at least one security group id; (root): Unrecognized key: "extra"',
    );
  });

  it('rejects a payload that is not an object', async () => {
    await expect(handler('orders')).rejects.toThrow(/^schedule payload rejected: \(root\): /);
  });

  it('rejects a launcher without its environment', async () => {
    vi.stubEnv('CLUSTER_ARN', undefined);
    vi.stubEnv('SUBNET_IDS', '');
    await expect(handler(event)).rejects.toThrow(
      'launcher environment rejected: CLUSTER_ARN: set it to the ECS cluster ARN; SUBNET_IDS: list at least one subnet id',
    );
  });
});

describe('backupClientToken', () => {
  it('is the same for a retried invocation and differs per database and time, within 64 characters', () => {
    const token = backupClientToken('orders', '20260310T010000Z');
    expect(token).toMatch(/^[0-9a-f]{64}$/);
    expect(backupClientToken('orders', '20260310T010000Z')).toBe(token);
    expect(backupClientToken('billing', '20260310T010000Z')).not.toBe(token);
    expect(backupClientToken('orders', '20260311T010000Z')).not.toBe(token);
  });
});
