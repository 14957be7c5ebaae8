import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type { DrillPlan } from '../../core/drill.ts';
import { fakeManifest, putManifest } from '../support/manifests.ts';
import { type S3Server, startS3 } from '../support/s3.ts';

const TASK_15 = 'arn:aws:ecs:eu-west-1:123456789012:task-definition/PgproofDrill15:1';
const TASK_17 = 'arn:aws:ecs:eu-west-1:123456789012:task-definition/PgproofDrill17:1';
const ROLE_ORDERS = 'arn:aws:iam::123456789012:role/PgproofDrillOrders';
const ROLE_LEGACY = 'arn:aws:iam::123456789012:role/PgproofDrillLegacy';
const CHECKS = [{ name: 'orders exist', sql: 'SELECT count(*) > 0 FROM orders' }];

let s3: S3Server;
let handler: (event: unknown) => Promise<DrillPlan>;

beforeAll(async () => {
  s3 = await startS3();
  for (const [name, value] of Object.entries(s3.env)) vi.stubEnv(name, value);
  vi.stubEnv('POWERTOOLS_LOG_LEVEL', 'SILENT');
  ({ handler } = await import('../../functions/resolve-backup.ts'));
  await putManifest(s3, fakeManifest('orders', '20261120T020000Z'), 'pg/');
  await putManifest(s3, fakeManifest('orders', '20261121T020000Z', { database: 'orders_db' }), 'pg/');
  await putManifest(
    s3,
    fakeManifest('legacy', '20261121T020000Z', { server: { version: '12.20', versionNum: 120020 } }),
    'pg/',
  );
  // A backup still being written: no manifest yet, so it is not a backup.
  await s3.client.send(
    new PutObjectCommand({
      Bucket: s3.bucket,
      Key: 'pg/orders/20261122T020000Z/dump.pgdump',
      Body: 'partial',
    }),
  );
});
afterAll(async () => {
  vi.unstubAllEnvs();
  await s3?.stop();
});
beforeEach(() => {
  vi.stubEnv('BACKUP_PREFIX', 'pg/');
  vi.stubEnv(
    'DRILL_DATABASES',
    JSON.stringify({
      orders: { rtoMinutes: 60, checks: CHECKS },
      legacy: { rtoMinutes: 30 },
      empty: { rtoMinutes: 30 },
    }),
  );
  vi.stubEnv('DRILL_TASKS', JSON.stringify({ 15: TASK_15, 17: TASK_17 }));
  vi.stubEnv('DRILL_DATABASE_TASKS', undefined);
  vi.stubEnv(
    'DRILL_TASK_ROLES',
    JSON.stringify({ orders: ROLE_ORDERS, legacy: ROLE_LEGACY, empty: ROLE_LEGACY }),
  );
});

describe('resolve-backup handler', () => {
  it('plans a drill of the latest backup with a manifest: task of its major, size, runner environment', async () => {
    const plan = await handler({ database: 'orders' });
    expect(plan).toEqual({
      database: 'orders',
      backupId: '20261121T020000Z',
      manifestKey: 'pg/orders/20261121T020000Z/manifest.json',
      reportKey: expect.stringMatching(/^pg\/drills\/orders\/20261121T020000Z\/\d{8}T\d{6}Z\.json$/),
      postgresMajor: 15,
      taskDefinitionArn: TASK_15,
      taskRoleArn: ROLE_ORDERS,
      cpu: '1024',
      memory: '4096',
      ephemeralStorageGiB: 21,
      timeoutSeconds: 1801,
      rtoSeconds: 3600,
      dumpBytes: 123_456,
      environment: [
        { Name: 'MANIFEST_KEY', Value: 'pg/orders/20261121T020000Z/manifest.json' },
        { Name: 'REPORT_KEY', Value: plan.reportKey },
        { Name: 'PGDATABASE', Value: 'orders_db' },
        { Name: 'RESTORE_JOBS', Value: '1' },
        { Name: 'RTO_SECONDS', Value: '3600' },
        { Name: 'CHECKS_JSON', Value: JSON.stringify(CHECKS) },
        { Name: 'DRILL_SELECTION', Value: '{"kind":"latest"}' },
      ],
      selection: { kind: 'latest' },
      // The objects are readable at once: no retrieval.
      storageClass: 'STANDARD',
    });
  });

  it('plans a drill of a database without a drill in the config: no RTO, no checks', async () => {
    vi.stubEnv('DRILL_DATABASES', JSON.stringify({ orders: {} }));
    const plan = await handler({ database: 'orders' });
    expect(plan).not.toHaveProperty('rtoSeconds');
    expect(plan.environment.map((variable) => variable.Name)).toEqual([
      'MANIFEST_KEY',
      'REPORT_KEY',
      'PGDATABASE',
      'RESTORE_JOBS',
      'DRILL_SELECTION',
    ]);
  });

  it("plans a drill of a database with its own scratch server image in its own task of the backup's major", async () => {
    vi.stubEnv('DRILL_DATABASE_TASKS', JSON.stringify({ orders: { 15: '4', 17: '2' } }));
    const plan = await handler({ database: 'orders' });
    expect(plan.taskDefinitionArn).toBe(
      'arn:aws:ecs:eu-west-1:123456789012:task-definition/PgproofDrill15-orders:4',
    );
    // Another database keeps the default task.
    vi.stubEnv('DRILL_DATABASE_TASKS', JSON.stringify({ legacy: { 15: '4' } }));
    expect((await handler({ database: 'orders' })).taskDefinitionArn).toBe(TASK_15);
  });

  it("fails a backup of a major the database's own tasks lack instead of drilling it without its image", async () => {
    vi.stubEnv('DRILL_DATABASE_TASKS', JSON.stringify({ orders: { 17: '2' } }));
    await expect(handler({ database: 'orders' })).rejects.toThrow(
      'backup 20261121T020000Z of "orders" comes from PostgreSQL 15.8 and no drill task runs PostgreSQL 15 (available: 17)',
    );
  });

  it('fails a database task of a major DRILL_TASKS has no task of, naming the fix', async () => {
    vi.stubEnv('DRILL_DATABASE_TASKS', JSON.stringify({ orders: { 16: '1' } }));
    await expect(handler({ database: 'orders' })).rejects.toMatchObject({
      name: 'DrillNotPossibleError',
      message:
        'DRILL_DATABASE_TASKS names a PostgreSQL 16 task of "orders", and DRILL_TASKS has no task definition ARN of 16 it is named after; deploy the stack again',
    });
  });

  it('plans the backup the input names', async () => {
    const plan = await handler({ database: 'orders', backupId: '20261120T020000Z', mode: 'drill' });
    expect(plan.manifestKey).toBe('pg/orders/20261120T020000Z/manifest.json');
    expect(plan.selection).toEqual({ kind: 'explicit' });
  });

  it('fails a database without backups with a clear error', async () => {
    await expect(handler({ database: 'empty' })).rejects.toThrow(
      'database "empty" has no backup in s3://backups/pg/empty/ (no manifest.json); check the name, or run a backup first',
    );
  });

  it('fails a database the config does not know, listing the known ones', async () => {
    await expect(handler({ database: 'nope' })).rejects.toMatchObject({
      name: 'UnknownDatabaseError',
      message:
        'database "nope" is not configured for drills (configured: orders, legacy, empty); use one of those names, or add it to the config and deploy',
    });
  });

  it('fails a name that is only a property of every object (it has no settings and no role)', async () => {
    await expect(handler({ database: 'constructor' })).rejects.toMatchObject({
      name: 'UnknownDatabaseError',
    });
  });

  it('fails a database that has drill settings but no drill task role, naming the fix', async () => {
    vi.stubEnv('DRILL_TASK_ROLES', JSON.stringify({ legacy: ROLE_LEGACY }));
    await expect(handler({ database: 'orders' })).rejects.toMatchObject({
      name: 'DrillNotPossibleError',
      message:
        'database "orders" has drill settings but no drill task role (DRILL_TASK_ROLES); deploy the stack again so that each database gets its own',
    });
  });

  it('fails a backup id without a manifest', async () => {
    await expect(handler({ database: 'orders', backupId: '20261122T020000Z' })).rejects.toThrow(
      'database "orders" has no backup 20261122T020000Z in s3://backups/pg/orders/ (no manifest); leave the backup id out to take the latest',
    );
  });

  it('fails a backup of a PostgreSQL major no drill task runs', async () => {
    await expect(handler({ database: 'legacy' })).rejects.toThrow(
      'backup 20261121T020000Z of "legacy" comes from PostgreSQL 12.20 and no drill task runs PostgreSQL 12 (available: 15, 17); add 12 to the drill\'s PostgreSQL versions and deploy',
    );
  });

  it('rejects console input that is not a drill request, naming each field', async () => {
    await expect(
      handler({ database: 'orders', backupId: 'yesterday', mode: 'restore', extra: 1 }),
    ).rejects.toMatchObject({
      name: 'DrillInputError',
      message:
        'drill input rejected: backupId must be a backup id like "20261121T020000Z"; mode must be "drill": the workflow restores into a scratch server only; restore into a real database with `pgproof restore`; (root) Unrecognized key: "extra"; start the drill with input like { "database": "orders" }',
    });
    await expect(handler({})).rejects.toThrow(
      'drill input rejected: database is required: name the database to drill, e.g. { "database": "orders" }; start the drill with input like { "database": "orders" }',
    );
  });

  it('rejects an environment the stack did not set, naming each variable', async () => {
    vi.stubEnv('DRILL_DATABASES', '{"orders": {"rtoMinutes": 0}}');
    vi.stubEnv('DRILL_TASKS', 'not json');
    vi.stubEnv('DRILL_TASK_ROLES', JSON.stringify({ orders: 'PgproofDrillOrders' }));
    vi.stubEnv('DRILL_DATABASE_TASKS', JSON.stringify({ orders: { 15: 'PgproofDrill15-orders:4' } }));
    await expect(handler({ database: 'orders' })).rejects.toThrow(
      'resolve-backup environment rejected: DRILL_DATABASES.orders.rtoMinutes: Too small: expected number to be >0; DRILL_TASKS: is not valid JSON; DRILL_DATABASE_TASKS.orders.15: must be a task definition revision; DRILL_TASK_ROLES.orders: must be an IAM role ARN',
    );
  });
});
