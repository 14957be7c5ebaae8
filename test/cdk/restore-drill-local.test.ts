import { PutObjectCommand } from '@aws-sdk/client-s3';
import { ExecutionError, StateMachine, type StateMachineDefinition } from 'aws-local-stepfunctions';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { TaskEnvironmentVariable } from '../../core/drill.ts';
import { parseRestoreReport } from '../../core/drill-report.ts';
import { backupKeys } from '../../core/layout.ts';
import { type Manifest, parseManifest } from '../../core/manifest.ts';
import { type PgCluster, startPostgres } from '../support/postgres.ts';
import { lastLine, runScript } from '../support/processes.ts';
import { type S3Server, startS3 } from '../support/s3.ts';
import { seedVariedDatabase } from '../support/seed.ts';
import { type DrillStack, synthesizeDrill } from './drill-stack.ts';
import { joinToText } from './synth.ts';

// aws-local-stepfunctions needs Promise.withResolvers, which Node 20 lacks.
const promiseWithResolvers = Promise as unknown as { withResolvers?: () => unknown };
promiseWithResolvers.withResolvers ??= () => {
  let resolve: unknown;
  let reject: unknown;
  const promise = new Promise((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
};

const BACKUP_ID = '20261121T020000Z';
const TAMPERED_ID = '20261101T020000Z';
const ACCOUNT = '123456789012';

/** The ecs:RunTask request RunRestore builds. */
interface RunTaskRequest {
  readonly TaskDefinition: string;
  readonly Overrides: {
    readonly ContainerOverrides: { Name: string; Environment: TaskEnvironmentVariable[] }[];
  };
}

/** A message the workflow published (the SNS task states run locally). */
interface Notification {
  readonly state: string;
  readonly TopicArn: string;
  readonly Subject: string;
  readonly Message: string;
}

/**
 * The synthesized definition as deployed: Lambda references become function ARNs, the partition
 * `aws`, anything else its logical id.
 */
function deployedDefinition(drill: DrillStack): StateMachineDefinition {
  const [machine] = Object.values(drill.template.findResources('AWS::StepFunctions::StateMachine'));
  const text = joinToText(machine?.Properties.DefinitionString, (reference) => {
    if (reference.Ref === 'AWS::Partition') return 'aws';
    const [logicalId] = (reference['Fn::GetAtt'] as string[] | undefined) ?? [String(reference.Ref)];
    return /Function/.test(logicalId ?? '')
      ? `arn:aws:lambda:eu-west-1:${ACCOUNT}:function:${logicalId}`
      : String(logicalId);
  });
  const definition = JSON.parse(text);
  // AWS resolves TimeoutSecondsPath against the state's input; aws-local-stepfunctions against the
  // input after Parameters (the RunTask request), where the plan is not. Locally, a fixed timeout.
  const runRestore = definition.States.RunRestore;
  expect(runRestore.TimeoutSecondsPath).toBe('$.drill.timeoutSeconds');
  delete runRestore.TimeoutSecondsPath;
  runRestore.TimeoutSeconds = 300;
  return definition;
}

/** The value of an environment variable of the synthesized function that has it. */
function functionVariable(drill: DrillStack, name: string): string {
  for (const fn of Object.values(drill.template.findResources('AWS::Lambda::Function'))) {
    const value = fn.Properties.Environment?.Variables?.[name];
    if (typeof value === 'string') return value;
  }
  throw new Error(`no function has ${name}`);
}

describe('restore drill workflow, run locally from the synthesized template', () => {
  let drill: DrillStack;
  let source: PgCluster;
  let scratch: PgCluster;
  let s3: S3Server;
  let manifest: Manifest;
  let resolveBackup: (event: unknown) => Promise<unknown>;
  let evaluateReport: (event: unknown) => Promise<unknown>;
  let notifications: Notification[] = [];
  const restoreRuns: { code: number | null; report: string }[] = [];

  beforeAll(async () => {
    drill = synthesizeDrill();
    // The source server, and a second one standing in for the task's scratch sidecar.
    [source, scratch, s3] = await Promise.all([startPostgres(), startPostgres(), startS3()]);
    await seedVariedDatabase(source, 'shop', 1000);
    const backup = await runScript('containers/pg-dump/main.ts', {
      ...source.env('shop'),
      ...s3.env,
      BACKUP_PREFIX: 'pg/',
      BACKUP_ID,
    });
    expect(backup.code).toBe(0);
    manifest = parseManifest(
      (await s3.get(backupKeys('pg/', 'shop', BACKUP_ID).manifest)).toString(),
      'manifest',
    );

    for (const [name, value] of Object.entries(s3.env)) vi.stubEnv(name, value);
    vi.stubEnv('POWERTOOLS_LOG_LEVEL', 'SILENT');
    vi.stubEnv('POWERTOOLS_METRICS_DISABLED', 'true');
    vi.stubEnv('BACKUP_PREFIX', 'pg/');
    vi.stubEnv('DRILL_DATABASES', functionVariable(drill, 'DRILL_DATABASES'));
    vi.stubEnv(
      'DRILL_TASKS',
      JSON.stringify({ [source.major]: `arn:aws:ecs:eu-west-1:${ACCOUNT}:task-definition/Drill:1` }),
    );
    ({ handler: resolveBackup } = await import('../../functions/resolve-backup.ts'));
    ({ handler: evaluateReport } = await import('../../functions/evaluate-report.ts'));
  });
  afterAll(async () => {
    vi.unstubAllEnvs();
    drill?.cleanup();
    await Promise.all([source?.stop(), scratch?.stop(), s3?.stop()]);
  });

  /**
   * RunRestore as ECS runs it: gets the RunTask request the state built, runs the runner with the
   * task definition's environment and the request's override against a fresh scratch server; a
   * non-zero exit fails the state as runTask.sync does.
   */
  async function runRestoreTask(input: unknown): Promise<unknown> {
    const request = input as RunTaskRequest;
    expect(request).toMatchObject({
      TaskDefinition: `arn:aws:ecs:eu-west-1:${ACCOUNT}:task-definition/Drill:1`,
      LaunchType: 'FARGATE',
      StartedBy: 'restore-drill',
      Overrides: { Cpu: '1024', Memory: '4096', EphemeralStorage: { SizeInGiB: 21 } },
    });
    const [override] = request.Overrides.ContainerOverrides;
    expect(override?.Name).toBe('restore-runner');
    await scratch.query('postgres', `DROP DATABASE IF EXISTS "${manifest.database}" WITH (FORCE)`);
    const result = await runScript('containers/pg-restore/main.ts', {
      ...s3.env,
      BACKUP_PREFIX: 'pg/',
      RESTORE_MODE: 'drill',
      ...Object.fromEntries((override?.Environment ?? []).map((v) => [v.Name, v.Value])),
      ...scratch.env(manifest.database),
    });
    restoreRuns.push({ code: result.code, report: lastLine(result.stdout) });
    if (result.code !== 0) {
      const error = new Error(
        JSON.stringify({
          StoppedReason: 'Essential container in task exited',
          Containers: [{ Name: 'restore-runner', ExitCode: result.code }],
        }),
      );
      error.name = 'States.TaskFailed';
      throw error;
    }
    return { Containers: [{ Name: 'restore-runner', ExitCode: 0 }] };
  }

  /** Runs one execution to its end; the error is the Fail state's, when it failed. */
  async function execute(
    input: Record<string, string>,
  ): Promise<{ error?: { name: string; message: string } }> {
    notifications = [];
    const publish = (state: string) => (params: unknown) => {
      notifications.push({ state, ...(params as Omit<Notification, 'state'>) });
      return { MessageId: `${state}-${notifications.length}` };
    };
    const machine = new StateMachine(deployedDefinition(drill), { validationOptions: { checkArn: true } });
    const execution = machine.run(input, {
      context: { Execution: { Id: `arn:aws:states:eu-west-1:${ACCOUNT}:execution:drill:test` } },
      overrides: {
        taskResourceLocalHandlers: {
          ResolveBackup: (event) => resolveBackup(event) as never,
          RunRestore: (event) => runRestoreTask(event) as never,
          EvaluateReport: (event) => evaluateReport(event) as never,
          Notify: publish('Notify'),
          NotifyFailure: publish('NotifyFailure'),
        },
      },
    });
    try {
      await execution.result;
      return {};
    } catch (error) {
      expect(error).toBeInstanceOf(ExecutionError);
      const cause = (error as Error).cause as Error;
      return { error: { name: cause.name, message: cause.message } };
    }
  }

  it('restores a good backup, ends in Succeed and sends a success notification', async () => {
    const outcome = await execute({ database: 'shop' });
    expect(outcome).toEqual({});
    expect(notifications).toEqual([
      {
        state: 'Notify',
        TopicArn: 'TopicBFC7AF6E',
        Subject: expect.stringMatching(/^pgproof drill passed: shop 20261121T020000Z, passed in [\d.]+ s$/),
        Message: expect.stringContaining('Restore drill of backup 20261121T020000Z of "shop" PASSED.'),
      },
    ]);
    // checksum, globals, restore, six tables and the config's SQL check
    expect(notifications[0]?.Message).toContain(
      '10 checks passed, 0 failed; 6 tables compared with the manifest',
    );
    expect(restoreRuns.at(-1)?.code).toBe(0);
    const report = parseRestoreReport(restoreRuns.at(-1)?.report ?? '', 'stdout');
    expect(report.checks.at(-1)).toEqual({
      name: 'orders exist',
      kind: 'sql',
      passed: true,
      detail: 'returned true',
    });
    expect(report.rto).toMatchObject({ targetSeconds: 1800, met: true });
    console.info(`drill report of the test data set: ${restoreRuns.at(-1)?.report}`);
  });

  it('fails a tampered backup: Fail with DrillFailed and a failure notification naming the checksum', async () => {
    const keys = backupKeys('pg/', 'shop', TAMPERED_ID);
    const dump = await s3.get(manifest.dump.key);
    dump[dump.length - 100] = (dump[dump.length - 100] ?? 0) ^ 0xff;
    const copy: Manifest = { ...structuredClone(manifest), backupId: TAMPERED_ID };
    copy.dump.key = keys.dump;
    if (copy.globals) copy.globals.key = keys.globals;
    const put = (Key: string, Body: Buffer | string) =>
      s3.client.send(new PutObjectCommand({ Bucket: s3.bucket, Key, Body }));
    await put(keys.dump, dump);
    await put(keys.globals, await s3.get(manifest.globals?.key ?? ''));
    await put(keys.manifest, JSON.stringify(copy));

    const outcome = await execute({ database: 'shop', backupId: TAMPERED_ID });
    expect(outcome.error).toEqual({
      name: 'DrillFailed',
      message: `pgproof drill FAILED: shop ${TAMPERED_ID}, 1 check(s) failed`,
    });
    expect(restoreRuns.at(-1)?.code).toBe(2);
    expect(notifications).toHaveLength(1);
    expect(notifications[0]).toMatchObject({
      state: 'Notify',
      Subject: `pgproof drill FAILED: shop ${TAMPERED_ID}, 1 check(s) failed`,
    });
    expect(notifications[0]?.Message).toMatch(
      new RegExp(
        `Failed checks:\\n  - checksum: pg/shop/${TAMPERED_ID}/dump\\.pgdump has SHA-256 [0-9a-f]{64}, the manifest says`,
      ),
    );
  });

  it('fails a drill of a database that is not configured, or has no backup, with a clear error', async () => {
    const unknown = await execute({ database: 'nope' });
    expect(unknown.error).toEqual({
      name: 'UnknownDatabaseError',
      message:
        'database "nope" is not configured for drills (configured: shop, billing_v2); use one of those names, or add it to the config and deploy',
    });
    expect(notifications).toEqual([
      {
        state: 'NotifyFailure',
        TopicArn: 'TopicBFC7AF6E',
        Subject: 'pgproof drill FAILED: UnknownDatabaseError',
        Message: expect.stringContaining(
          'pgproof restore drill FAILED before it could be judged.\nInput: {"database":"nope"}\nError: UnknownDatabaseError\nCause: database "nope" is not configured for drills',
        ),
      },
    ]);

    const empty = await execute({ database: 'billing_v2' });
    expect(empty.error).toEqual({
      name: 'BackupNotFoundError',
      message: `database "billing_v2" has no backup in s3://${s3.bucket}/pg/billing_v2/ (no manifest.json); check the name, or run a backup first`,
    });
    expect(notifications.map((n) => n.Subject)).toEqual(['pgproof drill FAILED: BackupNotFoundError']);
  });
});
