import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { StateMachine } from 'aws-local-stepfunctions';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { drillPlanSchema } from '../../core/drill.ts';
import { backupKeys } from '../../core/layout.ts';
import {
  type DrillWorkflow,
  LOCAL_ACCOUNT,
  LOCAL_REGION,
  localDefinition,
  restoreRunnerEnvironment,
  runRestoreRequestSchema,
  synthesizeDrillWorkflow,
} from '../../local/drill-workflow.ts';
import { fakeManifest } from '../support/manifests.ts';
import { type MotoServer, startMoto } from '../support/moto.ts';
import { TEST_DATABASES } from './drill-stack.ts';

const BACKUP_ID = '20251201T020000Z';
const TASK = `arn:aws:ecs:${LOCAL_REGION}:${LOCAL_ACCOUNT}:task-definition/Drill:1`;

/**
 * The drill's real state machine definition, run on this machine through the Deep Archive path: the
 * real ResolveBackup and RetrieveBackup against moto's S3, whose restore finishes only after several
 * requests of the object (its state manager), so the workflow waits (WaitForRetrieval, shortened to no
 * time here) and polls again; RunRestore is a stand-in that reads the backup as the task would.
 */
describe('restore drill workflow, run locally: a yearly backup in Deep Archive', () => {
  let workflow: DrillWorkflow;
  let moto: MotoServer;
  let resolveBackup: (event: unknown) => Promise<unknown>;
  let retrieveBackup: (event: unknown) => Promise<unknown>;
  const dumpKey = backupKeys('pg/', 'shop', BACKUP_ID).dump;

  beforeAll(async () => {
    workflow = synthesizeDrillWorkflow(TEST_DATABASES, { prefix: 'pg/', postgresMajors: [15] });
    moto = await startMoto();
    const manifest = fakeManifest('shop', BACKUP_ID, {
      tier: 'yearly',
      dump: { key: dumpKey, bytes: 4, sha256: 'a'.repeat(64), format: 'custom', compression: 'zstd:1' },
    });
    await moto.client.send(
      new PutObjectCommand({ Bucket: moto.bucket, Key: dumpKey, Body: 'dump', StorageClass: 'DEEP_ARCHIVE' }),
    );
    await moto.client.send(
      new PutObjectCommand({
        Bucket: moto.bucket,
        Key: backupKeys('pg/', 'shop', BACKUP_ID).manifest,
        Body: JSON.stringify(manifest),
      }),
    );
    // The restore finishes after four requests of the object: RetrieveBackup finds it in progress first.
    const set = await fetch(`${moto.endpoint}/moto-api/state-manager/set-transition`, {
      method: 'POST',
      body: JSON.stringify({ model_name: 's3::keyrestore', transition: { progression: 'manual', times: 4 } }),
    });
    expect(set.status).toBe(201);

    for (const [name, value] of Object.entries(moto.env)) vi.stubEnv(name, value);
    vi.stubEnv('POWERTOOLS_LOG_LEVEL', 'SILENT');
    vi.stubEnv('BACKUP_PREFIX', 'pg/');
    vi.stubEnv('DRILL_DATABASES', workflow.resolveEnvironment.DRILL_DATABASES ?? '');
    vi.stubEnv('DRILL_TASK_ROLES', workflow.resolveEnvironment.DRILL_TASK_ROLES ?? '');
    vi.stubEnv('DRILL_TASKS', JSON.stringify({ 15: TASK }));
    ({ handler: resolveBackup } = await import('../../functions/resolve-backup.ts'));
    ({ handler: retrieveBackup } = await import('../../functions/retrieve-backup.ts'));
  });
  afterAll(async () => {
    vi.unstubAllEnvs();
    await moto?.stop();
  });

  it('starts the S3 restore, waits and polls until the backup is readable, then drills it with the retrieval recorded', async () => {
    const visited: string[] = [];
    const retrievals: unknown[] = [];
    let runnerEnvironment: Record<string, string> = {};
    const handlers: Record<string, (input: unknown) => Promise<unknown>> = {
      ResolveBackup: async (event) => {
        visited.push('ResolveBackup');
        return resolveBackup(event);
      },
      RetrieveBackup: async (event) => {
        visited.push('RetrieveBackup');
        const plan = drillPlanSchema.parse(await retrieveBackup(event));
        retrievals.push(plan.retrieval?.status);
        return plan;
      },
      RunRestore: async (event) => {
        visited.push('RunRestore');
        runnerEnvironment = restoreRunnerEnvironment(runRestoreRequestSchema.parse(event));
        // The task reads the restored copy.
        const body = await moto.client.send(new GetObjectCommand({ Bucket: moto.bucket, Key: dumpKey }));
        expect(await body.Body?.transformToString()).toBe('dump');
        return { Containers: [{ Name: 'restore-runner', ExitCode: 0 }] };
      },
      EvaluateReport: async () => ({ passed: true, subject: 'pgproof drill passed', message: 'passed' }),
      KeepProvenBackup: async (event) => (event as { evaluation: unknown }).evaluation,
      Notify: async () => ({ MessageId: 'notify' }),
      NotifyFailure: async () => ({ MessageId: 'failure' }),
    };
    const machine = new StateMachine(localDefinition(workflow.definition), {
      validationOptions: { checkArn: true },
    });
    const execution = machine.run(
      { database: 'shop', sample: { tier: 'yearly', withinDays: 400 } } as never,
      {
        context: {
          Execution: { Id: `arn:aws:states:${LOCAL_REGION}:${LOCAL_ACCOUNT}:execution:drill:local` },
        },
        overrides: {
          taskResourceLocalHandlers: Object.fromEntries(
            Object.entries(handlers).map(([state, handler]) => [
              state,
              async (e: unknown) => handler(e) as never,
            ]),
          ),
          waitTimeOverrides: { WaitForRetrieval: 0 },
        },
      },
    );
    const output = (await execution.result) as { drill: unknown };

    expect(visited[0]).toBe('ResolveBackup');
    expect(visited.at(-1)).toBe('RunRestore');
    // Asked once, found in progress at least once, then available: the wait loop ran.
    expect(retrievals.at(0)).toBe('pending');
    expect(retrievals.at(-1)).toBe('available');
    expect(retrievals.filter((s) => s === 'available')).toHaveLength(1);
    const plan = drillPlanSchema.parse(output.drill);
    expect(plan).toMatchObject({
      backupId: BACKUP_ID,
      selection: { kind: 'sample', tier: 'yearly', withinDays: 400, candidates: 1 },
      storageClass: 'DEEP_ARCHIVE',
      retrieval: { status: 'available', storageClass: 'DEEP_ARCHIVE', tier: 'Standard', keys: [dumpKey] },
    });
    // The runner is told how the backup was picked and retrieved, for its report.
    expect(JSON.parse(runnerEnvironment.DRILL_SELECTION ?? '')).toEqual(plan.selection);
    expect(JSON.parse(runnerEnvironment.DRILL_RETRIEVAL ?? '')).toEqual({
      storageClass: 'DEEP_ARCHIVE',
      tier: 'Standard',
      requestedAt: plan.retrieval?.requestedAt,
      availableAt: plan.retrieval?.availableAt,
      seconds: plan.retrieval?.seconds,
    });
  });
});
