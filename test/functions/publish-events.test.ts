import 'aws-sdk-client-mock-vitest/extend';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { GetExecutionHistoryCommand, SFNClient } from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type { RestoreCheck, RestoreReport } from '../../core/drill-report.ts';
import { backupKeys } from '../../core/layout.ts';
import { type Manifest, serializeManifest } from '../../core/manifest.ts';
import { buildReport } from '../../engines/restore/report.ts';
import { fakeManifest } from '../support/manifests.ts';
import { type MotoServer, startMoto } from '../support/moto.ts';

const eventBridge = mockClient(EventBridgeClient);
const sfn = mockClient(SFNClient);

let moto: MotoServer;
let handler: (event: unknown) => Promise<string | undefined>;

const REGION = 'eu-west-1';
const PREFIX = 'pg/';
const BACKUP_ID = '20261121T020000Z';
const CLUSTER = 'arn:aws:ecs:eu-west-1:123456789012:cluster/pgproof';
const TASK = 'arn:aws:ecs:eu-west-1:123456789012:task/pgproof/0123456789abcdef';
const STATE_MACHINE = 'arn:aws:states:eu-west-1:123456789012:stateMachine:RestoreDrill';
const EXECUTION = 'arn:aws:states:eu-west-1:123456789012:execution:RestoreDrill:nightly-orders';
const RPO_ALARM = 'arn:aws:cloudwatch:eu-west-1:123456789012:alarm:Pgproof-OrdersRpoAlarm-ABC';
const SHA = 'b'.repeat(64);
const keys = backupKeys(PREFIX, 'orders', BACKUP_ID);
const REPORT_KEY = `${PREFIX}drills/orders/${BACKUP_ID}/20261122T020000Z.json`;
const EXECUTION_URL = `https://eu-west-1.console.aws.amazon.com/states/home?region=eu-west-1#/v2/executions/details/${EXECUTION}`;

/** A manifest of `orders` placed under the prefix, as the runner writes it. */
const manifest: Manifest = fakeManifest('orders', BACKUP_ID, {
  tier: 'weekly',
  dump: { key: keys.dump, bytes: 123_456, sha256: SHA, format: 'custom', compression: 'zstd:1' },
});

const passing: RestoreCheck[] = [
  { name: 'checksum', kind: 'checksum', passed: true, detail: 'as in the manifest' },
  { name: 'public.orders', kind: 'table', passed: true, detail: '10 rows as in the manifest' },
];

/** A report built by the restore runner's own code. */
function report(checks: RestoreCheck[]): RestoreReport {
  return buildReport({
    mode: 'drill',
    manifestKey: keys.manifest,
    manifest,
    reportKey: REPORT_KEY,
    startedAt: new Date('2026-11-22T02:00:00Z'),
    finishedAt: new Date('2026-11-22T02:01:00Z'),
    target: { host: 'localhost', port: 5432, database: 'orders', serverVersion: '15.8' },
    checks,
    tables: [{ schema: 'public', name: 'orders', expectedRows: 10, rows: 10 }],
    ignoredErrors: [],
    durations: { downloadSeconds: 4, restoreSeconds: 30, verifySeconds: 2 },
    rtoSeconds: 600,
    error: undefined,
  });
}

async function put(key: string, body: string): Promise<void> {
  await moto.client.send(new PutObjectCommand({ Bucket: moto.bucket, Key: key, Body: body }));
}

/** The drill workflow's state after EvaluateReport (what it carries into its last states). */
const drillState = (passed: boolean) => ({
  database: 'orders',
  drill: {
    database: 'orders',
    backupId: BACKUP_ID,
    manifestKey: keys.manifest,
    reportKey: REPORT_KEY,
    cpu: '1024',
  },
  evaluation: {
    passed,
    database: 'orders',
    backupId: BACKUP_ID,
    subject: `pgproof drill ${passed ? 'passed' : 'FAILED'}: orders ${BACKUP_ID}`,
    message: '...',
    drillPassed: passed ? 1 : 0,
    mode: 'drill',
  },
});

const aws = (source: string, detailType: string, detail: unknown, resources: string[] = []) => ({
  version: '0',
  id: '7bf73129-1428-4cd3-a780-95db273d1602',
  'detail-type': detailType,
  source,
  account: '123456789012',
  time: '2026-11-22T02:05:00Z',
  region: REGION,
  resources,
  detail,
});

const executionEnded = (status: string, extra: Record<string, unknown> = {}) =>
  aws(
    'aws.states',
    'Step Functions Execution Status Change',
    {
      executionArn: EXECUTION,
      stateMachineArn: STATE_MACHINE,
      name: 'nightly-orders',
      status,
      input: '{"database":"orders"}',
      output: null,
      error: null,
      cause: null,
      ...extra,
    },
    [EXECUTION],
  );

/** The one entry the handler put. */
function putEntry(): Record<string, unknown> & { Detail: string } {
  expect(eventBridge).toHaveReceivedCommandTimes(PutEventsCommand, 1);
  const entries = eventBridge.commandCalls(PutEventsCommand)[0]?.args[0].input.Entries ?? [];
  expect(entries).toHaveLength(1);
  return entries[0] as Record<string, unknown> & { Detail: string };
}

beforeAll(async () => {
  moto = await startMoto();
  for (const [name, value] of Object.entries(moto.env)) vi.stubEnv(name, value);
  vi.stubEnv('POWERTOOLS_LOG_LEVEL', 'SILENT');
  vi.stubEnv('BACKUP_PREFIX', PREFIX);
  vi.stubEnv('CLUSTER_ARN', CLUSTER);
  vi.stubEnv('DRILL_STATE_MACHINE_ARN', STATE_MACHINE);
  ({ handler } = await import('../../functions/publish-events.ts'));
  await put(keys.manifest, serializeManifest(manifest));
});
afterAll(async () => {
  vi.unstubAllEnvs();
  await moto?.stop();
});
beforeEach(() => {
  eventBridge.reset();
  sfn.reset();
  eventBridge.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{ EventId: '1' }] });
});

describe('publish-events handler', () => {
  it('puts Backup Succeeded, read from the manifest that was written', async () => {
    const created = aws(
      'aws.s3',
      'Object Created',
      { bucket: { name: 'backups' }, object: { key: keys.manifest, size: 900 } },
      ['arn:aws:s3:::backups'],
    );
    await expect(handler(created)).resolves.toBe('Backup Succeeded');
    expect(eventBridge).toHaveReceivedCommandWith(PutEventsCommand, {
      Entries: [
        {
          Source: 'pgproof',
          DetailType: 'Backup Succeeded',
          Resources: ['arn:aws:s3:::backups'],
          Time: new Date('2026-11-22T02:05:00Z'),
          Detail: expect.any(String),
        },
      ],
    });
    expect(JSON.parse(putEntry().Detail)).toEqual({
      schemaVersion: 1,
      database: 'orders',
      summary: `Backup ${BACKUP_ID} of orders succeeded: weekly, 120.6 KiB, 1 tables, in 3.2 min.`,
      action: 'No action needed; the next restore drill of orders proves it restores.',
      consoleUrl: `https://eu-west-1.console.aws.amazon.com/s3/object/backups?region=eu-west-1&prefix=pg%2Forders%2F${BACKUP_ID}%2Fmanifest.json`,
      backupId: BACKUP_ID,
      tier: 'weekly',
      bucket: 'backups',
      manifestKey: keys.manifest,
      bytes: 123_456,
      sha256: SHA,
      startedAt: '2026-11-21T02:00:00.000Z',
      finishedAt: '2026-11-21T02:03:10.000Z',
      durationSeconds: 190,
      serverVersion: '15.8',
      tables: 1,
      verify: 'counts',
    });
  });

  it("rejects an object that is not a manifest under the deployment's prefix", async () => {
    const created = aws('aws.s3', 'Object Created', {
      bucket: { name: 'backups' },
      object: { key: `other/orders/${BACKUP_ID}/manifest.json` },
    });
    await expect(handler(created)).rejects.toThrow(
      `s3://backups/other/orders/${BACKUP_ID}/manifest.json is not a manifest of this deployment's backups; the rules of BackupEvents send only pgproof's own resources: check them`,
    );
    expect(eventBridge).not.toHaveReceivedCommand(PutEventsCommand);
  });

  const stopped = (detail: Record<string, unknown>) =>
    aws(
      'aws.ecs',
      'ECS Task State Change',
      {
        clusterArn: CLUSTER,
        taskArn: TASK,
        lastStatus: 'STOPPED',
        startedBy: 'pgproof-orders',
        overrides: {
          containerOverrides: [
            {
              name: 'pg-dump',
              environment: [
                { name: 'BACKUP_ID', value: BACKUP_ID },
                { name: 'BACKUP_TIER', value: 'daily' },
                { name: 'RETENTION_DAYS', value: '7' },
              ],
            },
          ],
        },
        ...detail,
      },
      [TASK],
    );

  it('puts Backup Failed for a backup task that exited non-zero, with its database, backup and log link', async () => {
    const event = stopped({
      stopCode: 'EssentialContainerExited',
      stoppedReason: 'Essential container in task exited',
      containers: [{ name: 'pg-dump', exitCode: 1 }],
    });
    await expect(handler(event)).resolves.toBe('Backup Failed');
    const entry = putEntry();
    expect(entry).toMatchObject({ Source: 'pgproof', DetailType: 'Backup Failed', Resources: [TASK] });
    expect(JSON.parse(entry.Detail)).toEqual({
      schemaVersion: 1,
      database: 'orders',
      summary: `Backup ${BACKUP_ID} of orders FAILED: the task exited with 1 (Essential container in task exited); no backup was kept for this run.`,
      action:
        "Read the last line of the task's log: it says what went wrong and what to do. Then run `pgproof backup orders`, or let the next scheduled backup run.",
      consoleUrl:
        'https://eu-west-1.console.aws.amazon.com/ecs/v2/clusters/pgproof/tasks/0123456789abcdef/logs?region=eu-west-1',
      backupId: BACKUP_ID,
      tier: 'daily',
      taskArn: TASK,
      exitCode: 1,
      stopCode: 'EssentialContainerExited',
      reason: 'Essential container in task exited',
    });
  });

  it('puts Backup Failed for a backup task that never started, without an exit code', async () => {
    const event = stopped({
      stopCode: 'TaskFailedToStart',
      stoppedReason: 'CannotPullContainerError: pull access denied',
      containers: [{ name: 'pg-dump' }],
    });
    await handler(event);
    expect(JSON.parse(putEntry().Detail)).toMatchObject({
      summary: `Backup ${BACKUP_ID} of orders FAILED: the task stopped without an exit code (CannotPullContainerError: pull access denied); no backup was kept for this run.`,
      exitCode: null,
      stopCode: 'TaskFailedToStart',
    });
  });

  it('puts nothing for a backup task that exited 0 (its manifest says it succeeded)', async () => {
    const event = stopped({
      stopCode: 'EssentialContainerExited',
      containers: [{ name: 'pg-dump', exitCode: 0 }],
    });
    await expect(handler(event)).resolves.toBeUndefined();
    expect(eventBridge).not.toHaveReceivedCommand(PutEventsCommand);
  });

  it("puts Drill Passed from a succeeded execution's output and its report", async () => {
    await put(REPORT_KEY, JSON.stringify(report(passing)));
    const event = executionEnded('SUCCEEDED', { output: JSON.stringify(drillState(true)) });
    await expect(handler(event)).resolves.toBe('Drill Passed');
    expect(sfn).not.toHaveReceivedCommand(GetExecutionHistoryCommand);
    const entry = putEntry();
    expect(entry).toMatchObject({ Source: 'pgproof', DetailType: 'Drill Passed', Resources: [EXECUTION] });
    expect(JSON.parse(entry.Detail)).toEqual({
      schemaVersion: 1,
      database: 'orders',
      summary: `Restore drill of backup ${BACKUP_ID} of orders PASSED: restored and verified in 34 s (RTO 10 min met).`,
      action: 'No action needed; the report is kept as evidence.',
      consoleUrl: EXECUTION_URL,
      executionArn: EXECUTION,
      bucket: 'backups',
      backupId: BACKUP_ID,
      tier: 'weekly',
      manifestKey: keys.manifest,
      reportKey: REPORT_KEY,
      backupAgeHours: 24,
      durations: { downloadSeconds: 4, restoreSeconds: 30, verifySeconds: 2, totalSeconds: 60 },
      rto: { seconds: 34, targetSeconds: 600, met: true },
      checksPassed: 2,
    });
  });

  it('puts Drill Failed for a drill whose backup did not verify, finding its plan in the execution history', async () => {
    const failedCheck: RestoreCheck = {
      name: 'public.orders',
      kind: 'table',
      passed: false,
      detail: 'expected 10 rows, found 9',
    };
    await put(REPORT_KEY, JSON.stringify(report([passing[0] as RestoreCheck, failedCheck])));
    sfn.on(GetExecutionHistoryCommand).resolves({
      events: [
        { id: 30, type: 'ExecutionFailed', timestamp: new Date() },
        {
          id: 29,
          type: 'FailStateEntered',
          timestamp: new Date(),
          stateEnteredEventDetails: { name: 'DrillFailed', input: JSON.stringify(drillState(false)) },
        },
      ],
    });
    const event = executionEnded('FAILED', {
      error: 'DrillFailed',
      cause: `pgproof drill FAILED: orders ${BACKUP_ID}`,
    });
    await expect(handler(event)).resolves.toBe('Drill Failed');
    expect(sfn).toHaveReceivedCommandWith(GetExecutionHistoryCommand, {
      executionArn: EXECUTION,
      reverseOrder: true,
      includeExecutionData: true,
      maxResults: 200,
    });
    expect(JSON.parse(putEntry().Detail)).toEqual({
      schemaVersion: 1,
      database: 'orders',
      summary: `Restore drill of backup ${BACKUP_ID} of orders FAILED: 1 check(s) failed: public.orders: expected 10 rows, found 9`,
      action: `Read the report s3://backups/${REPORT_KEY}: it names what failed. Fix it, then run \`pgproof drill orders\`.`,
      consoleUrl: EXECUTION_URL,
      executionArn: EXECUTION,
      bucket: 'backups',
      status: 'FAILED',
      backupId: BACKUP_ID,
      manifestKey: keys.manifest,
      reportKey: REPORT_KEY,
      reason: '1 check(s) failed: public.orders: expected 10 rows, found 9',
      failedChecks: ['public.orders: expected 10 rows, found 9'],
      durations: { downloadSeconds: 4, restoreSeconds: 30, verifySeconds: 2, totalSeconds: 60 },
      rto: { seconds: 34, targetSeconds: 600, met: false },
      error: 'DrillFailed',
      cause: `pgproof drill FAILED: orders ${BACKUP_ID}`,
    });
  });

  it('puts Drill Failed with the error and cause of a drill that failed before it had a plan', async () => {
    sfn.on(GetExecutionHistoryCommand).resolves({
      events: [
        { id: 9, type: 'ExecutionFailed', timestamp: new Date() },
        {
          id: 8,
          type: 'FailStateEntered',
          timestamp: new Date(),
          stateEnteredEventDetails: { name: 'Failed', input: '{"database":"orders","error":{}}' },
        },
      ],
    });
    const event = executionEnded('FAILED', {
      error: 'BackupNotFoundError',
      cause: 'no backup of "orders" under pg/orders/: run a backup first',
    });
    await handler(event);
    expect(JSON.parse(putEntry().Detail)).toEqual({
      schemaVersion: 1,
      database: 'orders',
      summary:
        'Restore drill of orders FAILED: BackupNotFoundError: no backup of "orders" under pg/orders/: run a backup first',
      action:
        "Open the execution in the Step Functions console: the failed step and the restore task's log say why. Fix it, then run `pgproof drill orders`.",
      consoleUrl: EXECUTION_URL,
      executionArn: EXECUTION,
      bucket: 'backups',
      status: 'FAILED',
      reason: 'BackupNotFoundError: no backup of "orders" under pg/orders/: run a backup first',
      failedChecks: [],
      error: 'BackupNotFoundError',
      cause: 'no backup of "orders" under pg/orders/: run a backup first',
    });
  });

  it('puts nothing while a drill runs', async () => {
    await expect(handler(executionEnded('RUNNING'))).resolves.toBeUndefined();
    expect(eventBridge).not.toHaveReceivedCommand(PutEventsCommand);
  });

  const alarm = (metricName: string, alarmName: string, arn: string) =>
    aws(
      'aws.cloudwatch',
      'CloudWatch Alarm State Change',
      {
        alarmName,
        state: {
          value: 'ALARM',
          reason: 'Threshold Crossed: 24 datapoints were less than the threshold (1.0).',
          timestamp: '2026-11-22T02:04:00.000+0000',
        },
        previousState: { value: 'OK' },
        configuration: {
          description: 'pgproof: ...',
          metrics: [
            {
              id: 'm1',
              metricStat: {
                metric: {
                  namespace: 'pgproof',
                  name: metricName,
                  dimensions: { service: 'pgproof', Database: 'orders' },
                },
                period: 3600,
                stat: 'Sum',
              },
              returnData: true,
            },
          ],
        },
      },
      [arn],
    );

  it("puts Backup Overdue for an RPO alarm, the database taken from the alarm's metric", async () => {
    await expect(handler(alarm('BackupSucceeded', 'Pgproof-OrdersRpoAlarm-ABC', RPO_ALARM))).resolves.toBe(
      'Backup Overdue',
    );
    const entry = putEntry();
    expect(entry).toMatchObject({ DetailType: 'Backup Overdue', Resources: [RPO_ALARM] });
    expect(JSON.parse(entry.Detail)).toEqual({
      schemaVersion: 1,
      database: 'orders',
      summary: 'No backup of orders succeeded within its RPO (alarm Pgproof-OrdersRpoAlarm-ABC).',
      action:
        'Look for Backup Failed events of orders and its backup task logs, and check its schedule; run `pgproof backup orders` once the cause is fixed.',
      consoleUrl:
        'https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1#alarmsV2:alarm/Pgproof-OrdersRpoAlarm-ABC',
      alarmName: 'Pgproof-OrdersRpoAlarm-ABC',
      alarmArn: RPO_ALARM,
      reason: 'Threshold Crossed: 24 datapoints were less than the threshold (1.0).',
      since: '2026-11-22T02:04:00.000+0000',
    });
  });

  it('puts Drill Overdue for a drill overdue alarm', async () => {
    const arn = 'arn:aws:cloudwatch:eu-west-1:123456789012:alarm:Pgproof-OrdersOverdueAlarm-DEF';
    await handler(alarm('DrillPassed', 'Pgproof-OrdersOverdueAlarm-DEF', arn));
    expect(JSON.parse(putEntry().Detail)).toMatchObject({
      database: 'orders',
      summary:
        'No restore drill of orders passed within its allowed interval, so nothing proves its backups restore (alarm Pgproof-OrdersOverdueAlarm-DEF).',
      action:
        'Run `pgproof drill orders` (or start the drill state machine with {"database": "orders"}), and look for Drill Failed events of orders.',
    });
  });

  it('rejects an alarm that watches no per-database backup or drill metric', async () => {
    await expect(handler(alarm('BackupBytes', 'Other', RPO_ALARM))).rejects.toThrow(
      'alarm Other watches no BackupSucceeded or DrillPassed metric of one database',
    );
  });

  it('fails the invocation, so that Lambda retries it, when EventBridge does not take the event', async () => {
    eventBridge.on(PutEventsCommand).resolves({
      FailedEntryCount: 1,
      Entries: [{ ErrorCode: 'InternalFailure', ErrorMessage: 'try again' }],
    });
    await expect(handler(alarm('BackupSucceeded', 'Pgproof-OrdersRpoAlarm-ABC', RPO_ALARM))).rejects.toThrow(
      'EventBridge did not take the Backup Overdue event of orders (InternalFailure: try again); the invocation is retried',
    );
  });

  it('rejects an event it was not made for, naming the field', async () => {
    await expect(
      handler({ source: 'aws.ec2', 'detail-type': 'EC2 Instance State-change Notification' }),
    ).rejects.toThrow('publish-events input rejected: source:');
  });
});
