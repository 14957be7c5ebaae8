import { tmpdir } from 'node:os';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { Duration } from 'aws-cdk-lib';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { parseRestoreReport } from '../../core/drill-report.ts';
import { backupKeys } from '../../core/layout.ts';
import { type Manifest, parseManifest } from '../../core/manifest.ts';
import {
  type DrillWorkflow,
  restoreRunnerEnvironment,
  runDrillWorkflow,
  runRestoreRequestSchema,
  synthesizeDrDrillWorkflow,
} from '../../local/drill-workflow.ts';
import { type PgCluster, startPostgres } from '../support/postgres.ts';
import { lastLine, runScript } from '../support/processes.ts';
import { type S3Server, startS3 } from '../support/s3.ts';
import { seedVariedDatabase } from '../support/seed.ts';

const REPLICA_REGION = 'eu-central-1';
const BACKUP_ID = '20261121T020000Z';
/** How long after the primary finished the backup its copy lands in the replica bucket. */
const REPLICATION_DELAY_MS = 3_000;

describe('DR drill workflow, run locally against a second bucket from the replica stack template', () => {
  let workflow: DrillWorkflow;
  let source: PgCluster;
  let scratch: PgCluster;
  let primary: S3Server;
  let replica: S3Server;
  let manifest: Manifest;
  const notifications: { state: string; Subject: string; Message: string }[] = [];
  const reports: string[] = [];

  beforeAll(async () => {
    // The replica stack's DR drill of the database `shop`, with every reference faked as deployed.
    workflow = synthesizeDrDrillWorkflow(
      [
        {
          name: 'shop',
          rto: Duration.minutes(30),
          checks: [{ name: 'orders exist', sql: 'SELECT count(*) > 0 FROM sales.orders' }],
        },
      ],
      { postgresMajors: [15, 17] },
    );
    [source, scratch, primary, replica] = await Promise.all([
      startPostgres(),
      startPostgres(),
      startS3({ bucket: 'backups' }),
      startS3({ bucket: 'replica' }),
    ]);
    await seedVariedDatabase(source, 'shop', 1000);
    const backup = await runScript('containers/pg-dump/main.ts', {
      ...source.env('shop'),
      ...primary.env,
      BACKUP_ID,
    });
    expect(backup.code).toBe(0);
    const keys = backupKeys('', 'shop', BACKUP_ID);
    manifest = parseManifest((await primary.get(keys.manifest)).toString(), 'manifest');
    // Replication, as S3 does it: the objects land in the replica bucket a while after the primary
    // wrote them, the manifest last.
    await new Promise((resolve) => setTimeout(resolve, REPLICATION_DELAY_MS));
    for (const key of [keys.dump, keys.globals, keys.manifest]) {
      await replica.client.send(
        new PutObjectCommand({ Bucket: replica.bucket, Key: key, Body: await primary.get(key) }),
      );
    }

    for (const [name, value] of Object.entries(replica.env)) vi.stubEnv(name, value);
    vi.stubEnv('POWERTOOLS_LOG_LEVEL', 'SILENT');
    vi.stubEnv('POWERTOOLS_METRICS_DISABLED', 'true');
    vi.stubEnv('DRILL_DATABASES', workflow.resolveEnvironment.DRILL_DATABASES ?? '');
    vi.stubEnv('DRILL_TASK_ROLES', workflow.resolveEnvironment.DRILL_TASK_ROLES ?? '');
    vi.stubEnv('DRILL_TASKS', workflow.resolveEnvironment.DRILL_TASKS ?? '');
    vi.stubEnv('DRILL_KIND', workflow.evaluateEnvironment.DRILL_KIND ?? '');
  });
  afterAll(async () => {
    vi.unstubAllEnvs();
    await Promise.all([source?.stop(), scratch?.stop(), primary?.stop(), replica?.stop()]);
  });

  it('restores the replicated backup, says it was a DR drill and measures the replication lag', async () => {
    expect(workflow.evaluateEnvironment.DRILL_KIND).toBe('dr');
    expect(workflow.runnerEnvironment).toMatchObject({ DRILL_KIND: 'dr', DRILL_REGION: REPLICA_REGION });
    const states = Object.keys((workflow.definition as unknown as { States: object }).States);
    expect(states).not.toContain('KeepProvenBackup');

    const { handler: resolveBackup } = await import('../../functions/resolve-backup.ts');
    const { handler: evaluateReport } = await import('../../functions/evaluate-report.ts');
    const publish = (state: string) => (params: unknown) => {
      notifications.push({ state, ...(params as { Subject: string; Message: string }) });
      return { MessageId: state };
    };
    const outcome = await runDrillWorkflow(
      workflow.definition,
      { database: 'shop' },
      {
        ResolveBackup: (event) => resolveBackup(event),
        // RunRestore as ECS runs it: the task definition's environment, then the run's override.
        RunRestore: async (event) => {
          const request = runRestoreRequestSchema.parse(event);
          const result = await runScript('containers/pg-restore/main.ts', {
            ...workflow.runnerEnvironment,
            // The bucket the template names is the replica bucket, served here by the second server.
            ...replica.env,
            ...restoreRunnerEnvironment(request),
            ...scratch.env(manifest.database),
            // Locally the runner needs no task volume, and reaches the scratch server as the harness says.
            WORK_DIR: tmpdir(),
            PGSSLMODE: 'disable',
          });
          reports.push(lastLine(result.stdout));
          if (result.code !== 0) console.error(result.stderr);
          if (result.code !== 0) {
            const error = new Error(
              JSON.stringify({ Containers: [{ Name: 'restore-runner', ExitCode: result.code }] }),
            );
            error.name = 'States.TaskFailed';
            throw error;
          }
          return {};
        },
        EvaluateReport: (event) => evaluateReport(event),
        KeepProvenBackup: () => {
          throw new Error('a DR drill has no KeepProvenBackup state');
        },
        Notify: publish('Notify'),
        NotifyFailure: publish('NotifyFailure'),
      },
    );
    expect(outcome.error).toBeUndefined();
    const report = parseRestoreReport(reports.at(-1) ?? '', 'stdout');
    expect(report.passed).toBe(true);
    expect(report.dr).toMatchObject({ region: REPLICA_REGION, newestBackupId: BACKUP_ID });
    const lag = report.dr?.replicationLagSeconds ?? -1;
    // LastModified has whole seconds: the copy's delay, give or take the truncation and the copy itself.
    expect(lag).toBeGreaterThanOrEqual(REPLICATION_DELAY_MS / 1000 - 1);
    expect(lag).toBeLessThan(REPLICATION_DELAY_MS / 1000 + 10);
    expect(notifications).toHaveLength(1);
    expect(notifications[0]).toMatchObject({
      state: 'Notify',
      Subject: expect.stringMatching(/^pgproof DR drill passed: shop 20261121T020000Z, passed in [\d.]+ s$/),
    });
    expect(notifications[0]?.Message.split('\n')[1]).toBe(
      `DR drill in ${REPLICA_REGION}: newest replicated backup ${BACKUP_ID} was ${report.dr?.newestBackupAgeHours.toFixed(1)} hours old; it replicated ${lag} s after the primary finished it.`,
    );
    // The report is in the replica bucket, where the DR drill wrote it.
    expect(await replica.keys('drills/shop/')).toEqual([report.reportKey]);
    console.info(`DR drill report: ${reports.at(-1)}`);
  });
});
