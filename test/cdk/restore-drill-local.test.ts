import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { parseRestoreReport } from '../../core/drill-report.ts';
import { backupKeys } from '../../core/layout.ts';
import { type Manifest, parseManifest } from '../../core/manifest.ts';
import { keepProvenInputSchema } from '../../functions/keep-proven-backup.ts';
import {
  type DrillWorkflow,
  restoreRunnerEnvironment,
  runDrillWorkflow,
  runRestoreRequestSchema,
  synthesizeDrillWorkflow,
} from '../../local/drill-workflow.ts';
import { type PgCluster, startPostgres } from '../support/postgres.ts';
import { lastLine, runScript } from '../support/processes.ts';
import { type S3Server, startS3 } from '../support/s3.ts';
import { seedVariedDatabase } from '../support/seed.ts';
import { TEST_DATABASES } from './drill-stack.ts';

const BACKUP_ID = '20261121T020000Z';
const TAMPERED_ID = '20261101T020000Z';
const ACCOUNT = '123456789012';

/** A message the workflow published (the SNS task states run locally). */
interface Notification {
  readonly state: string;
  readonly TopicArn: string;
  readonly Subject: string;
  readonly Message: string;
}

describe('restore drill workflow, run locally from the synthesized template', () => {
  let workflow: DrillWorkflow;
  let source: PgCluster;
  let scratch: PgCluster;
  let s3: S3Server;
  let manifest: Manifest;
  let resolveBackup: (event: unknown) => Promise<unknown>;
  let evaluateReport: (event: unknown) => Promise<unknown>;
  let notifications: Notification[] = [];
  const restoreRuns: { code: number | null; report: string }[] = [];

  beforeAll(async () => {
    workflow = synthesizeDrillWorkflow(TEST_DATABASES, { prefix: 'pg/', postgresMajors: [15, 17] });
    // AWS resolves the RunRestore timeout from the plan; the local engine cannot (see localDefinition).
    expect(
      (workflow.definition as unknown as { States: { RunRestore: { TimeoutSecondsPath: string } } }).States
        .RunRestore.TimeoutSecondsPath,
    ).toBe('$.drill.timeoutSeconds');
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
    vi.stubEnv('DRILL_DATABASES', workflow.resolveEnvironment.DRILL_DATABASES ?? '');
    vi.stubEnv('DRILL_TASK_ROLES', workflow.resolveEnvironment.DRILL_TASK_ROLES ?? '');
    vi.stubEnv(
      'DRILL_TASKS',
      JSON.stringify({ [source.major]: `arn:aws:ecs:eu-west-1:${ACCOUNT}:task-definition/Drill:1` }),
    );
    ({ handler: resolveBackup } = await import('../../functions/resolve-backup.ts'));
    ({ handler: evaluateReport } = await import('../../functions/evaluate-report.ts'));
  });
  afterAll(async () => {
    vi.unstubAllEnvs();
    await Promise.all([source?.stop(), scratch?.stop(), s3?.stop()]);
  });

  /**
   * RunRestore as ECS runs it: gets the RunTask request the state built, runs the runner with the
   * task definition's environment and the request's override against a fresh scratch server; a
   * non-zero exit fails the state as runTask.sync does.
   */
  async function runRestoreTask(input: unknown): Promise<unknown> {
    expect(input).toMatchObject({
      TaskDefinition: `arn:aws:ecs:eu-west-1:${ACCOUNT}:task-definition/Drill:1`,
      LaunchType: 'FARGATE',
      StartedBy: 'restore-drill',
      Overrides: { Cpu: '1024', Memory: '4096', EphemeralStorage: { SizeInGiB: 21 } },
    });
    const request = runRestoreRequestSchema.parse(input);
    // The drilled database's own role, from the stack's map (shop is the only one drilled here).
    expect(request.Overrides.TaskRoleArn).toMatch(
      new RegExp(`^arn:aws:iam::${ACCOUNT}:role/DrillDatabaseTaskRolesShop[0-9A-F]{8}$`),
    );
    const [override] = request.Overrides.ContainerOverrides;
    expect(override?.Name).toBe('restore-runner');
    await scratch.query('postgres', `DROP DATABASE IF EXISTS "${manifest.database}" WITH (FORCE)`);
    const result = await runScript('containers/pg-restore/main.ts', {
      ...s3.env,
      BACKUP_PREFIX: 'pg/',
      RESTORE_MODE: 'drill',
      ...restoreRunnerEnvironment(request),
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
    const outcome = await runDrillWorkflow(workflow.definition, input, {
      ResolveBackup: (event) => resolveBackup(event),
      RunRestore: (event) => runRestoreTask(event),
      EvaluateReport: (event) => evaluateReport(event),
      // s3rver has no legal holds: this stand-in checks the state it is given and adds its line.
      KeepProvenBackup: (event) => {
        const { drill, evaluation } = keepProvenInputSchema.parse(event);
        return evaluation.passed
          ? {
              ...evaluation,
              message: `${evaluation.message}\nKept: ${drill.backupId} (${drill.manifestKey})`,
            }
          : evaluation;
      },
      Notify: publish('Notify'),
      NotifyFailure: publish('NotifyFailure'),
    });
    return outcome.error ? { error: outcome.error } : {};
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
    // KeepProvenBackup's evaluation is what Notify sends.
    expect(notifications[0]?.Message).toMatch(
      /\nKept: 20261121T020000Z \(pg\/shop\/20261121T020000Z\/manifest\.json\)$/,
    );
    // checksum, globals, restore, ownership, six tables, the eight inventory checks and the config's SQL check
    expect(notifications[0]?.Message).toContain(
      '19 checks passed, 0 failed; 6 tables compared with the manifest',
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
