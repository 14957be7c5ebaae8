import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { DrillEvaluation } from '../../core/drill-evaluation.ts';
import type { RestoreCheck, RestoreReport } from '../../core/drill-report.ts';
import { buildReport } from '../../engines/restore/report.ts';
import { fakeManifest } from '../support/manifests.ts';
import { type S3Server, startS3 } from '../support/s3.ts';

let s3: S3Server;
let handler: (event: unknown) => Promise<DrillEvaluation>;

const manifest = fakeManifest('orders', '20261121T020000Z');
const passing: RestoreCheck[] = [
  { name: 'checksum', kind: 'checksum', passed: true, detail: 'as in the manifest' },
  { name: 'restore', kind: 'restore', passed: true, detail: 'no errors' },
  { name: 'public.orders', kind: 'table', passed: true, detail: '10 rows as in the manifest' },
];

/** A report of the runner (built by its own code) for the fake backup. */
function report(
  key: string,
  change: { checks?: RestoreCheck[]; restoreSeconds?: number; dr?: RestoreReport['dr'] } = {},
): RestoreReport {
  return buildReport({
    mode: 'drill',
    manifestKey: 'orders/20261121T020000Z/manifest.json',
    manifest,
    reportKey: key,
    startedAt: new Date('2026-11-22T02:00:00Z'),
    finishedAt: new Date('2026-11-22T02:01:00Z'),
    target: { host: 'localhost', port: 5432, database: 'orders', serverVersion: '15.8' },
    checks: change.checks ?? passing,
    tables: [{ schema: 'public', name: 'orders', expectedRows: 10, rows: 10 }],
    ignoredErrors: [],
    durations: { downloadSeconds: 4, restoreSeconds: change.restoreSeconds ?? 30, verifySeconds: 2 },
    rtoSeconds: 600,
    error: undefined,
    ...(change.dr ? { dr: change.dr } : {}),
  });
}

async function store(value: RestoreReport): Promise<void> {
  await s3.client.send(
    new PutObjectCommand({ Bucket: s3.bucket, Key: value.reportKey, Body: JSON.stringify(value) }),
  );
}

/** The state EvaluateReport gets after RunRestore. */
const state = (reportKey: string, restoreError?: { Error: string; Cause: string }) => ({
  database: 'orders',
  drill: { database: 'orders', backupId: '20261121T020000Z', reportKey, rtoSeconds: 600, cpu: '1024' },
  ...(restoreError ? { restoreError } : {}),
});

/** EMF documents the handler printed. */
let printed: string[] = [];
const emf = () =>
  printed
    .flatMap((chunk) => chunk.split('\n'))
    .filter((line) => line.includes('"_aws"'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);

beforeAll(async () => {
  s3 = await startS3();
  for (const [name, value] of Object.entries(s3.env)) vi.stubEnv(name, value);
  vi.stubEnv('POWERTOOLS_LOG_LEVEL', 'SILENT');
  ({ handler } = await import('../../functions/evaluate-report.ts'));
  const write = process.stdout.write.bind(process.stdout);
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array, ...rest: unknown[]) => {
    printed.push(String(chunk));
    return write(chunk, ...(rest as []));
  });
});
afterAll(async () => {
  vi.restoreAllMocks();
  vi.unstubAllEnvs();
  await s3?.stop();
});
afterEach(() => {
  printed = [];
});

describe('evaluate-report handler', () => {
  it('passes a verified drill within the RTO, says so, and publishes its metrics', async () => {
    await store(report('drills/orders/20261121T020000Z/pass.json'));
    const evaluation = await handler(state('drills/orders/20261121T020000Z/pass.json'));
    expect(evaluation).toEqual({
      passed: true,
      database: 'orders',
      backupId: '20261121T020000Z',
      drillPassed: 1,
      restoreSeconds: 34,
      backupAgeHours: 24,
      mode: 'drill',
      subject: 'pgproof drill passed: orders 20261121T020000Z, passed in 34 s',
      message: [
        'Restore drill of backup 20261121T020000Z of "orders" PASSED.',
        'Backup: daily, 120.6 KiB, taken 2026-11-21T02:00:00.000Z from PostgreSQL 15.8, 24.0 hours old.',
        'Restored into PostgreSQL 15.8: 3 checks passed, 0 failed; 1 tables compared with the manifest.',
        'Recovery time: 34 s (RTO 10 min: met). Download 4 s, restore 30 s, verify 2 s.',
        'Report: s3://backups/drills/orders/20261121T020000Z/pass.json',
      ].join('\n'),
    });
    expect(emf()).toEqual([
      expect.objectContaining({
        service: 'pgproof',
        Database: 'orders',
        DrillPassed: 1,
        RestoreSeconds: 34,
        BackupAgeHours: 24,
        _aws: expect.objectContaining({
          CloudWatchMetrics: [
            expect.objectContaining({ Namespace: 'pgproof', Dimensions: [['service', 'Database']] }),
          ],
        }),
      }),
    ]);
  });

  it('fails a drill whose backup did not verify, naming the failed check and what to do', async () => {
    const checks: RestoreCheck[] = [
      {
        name: 'checksum',
        kind: 'checksum',
        passed: false,
        detail: 'dump.pgdump has SHA-256 x, the manifest says y',
      },
    ];
    await store(report('drills/orders/20261121T020000Z/tampered.json', { checks, restoreSeconds: 0 }));
    const evaluation = await handler(
      state('drills/orders/20261121T020000Z/tampered.json', { Error: 'States.TaskFailed', Cause: '{}' }),
    );
    expect(evaluation).toMatchObject({
      passed: false,
      drillPassed: 0,
      subject: 'pgproof drill FAILED: orders 20261121T020000Z, 1 check(s) failed',
    });
    expect(evaluation.message).toContain(
      'Failed checks:\n  - checksum: dump.pgdump has SHA-256 x, the manifest says y\nWhat to do: this backup does not restore to what its manifest promised. Do not rely on it',
    );
    expect(emf()[0]).toMatchObject({ DrillPassed: 0 });
    expect(emf()[0]).not.toHaveProperty('RestoreSeconds');
  });

  it('fails a drill that verified but restored slower than the RTO', async () => {
    await store(report('drills/orders/20261121T020000Z/slow.json', { restoreSeconds: 900 }));
    const evaluation = await handler(state('drills/orders/20261121T020000Z/slow.json'));
    expect(evaluation).toMatchObject({
      passed: false,
      subject: 'pgproof drill FAILED: orders 20261121T020000Z, RTO missed (15.1 min)',
    });
    expect(evaluation.message).toContain('Recovery time: 15.1 min (RTO 10 min: MISSED)');
  });

  it('passes a verified drill of a database without an RTO, reporting its restore time unjudged', async () => {
    await store(report('drills/orders/20261121T020000Z/no-rto.json', { restoreSeconds: 900 }));
    const { drill } = state('drills/orders/20261121T020000Z/no-rto.json');
    const { rtoSeconds: _, ...withoutRto } = drill;
    const evaluation = await handler({ drill: withoutRto });
    expect(evaluation).toMatchObject({
      passed: true,
      subject: 'pgproof drill passed: orders 20261121T020000Z, passed in 15.1 min',
    });
    expect(evaluation.message).toContain(
      'Recovery time: 15.1 min (no RTO configured). Download 4 s, restore 15 min, verify 2 s.',
    );
  });

  it('fails a drill whose task left no report, with what ECS said about the task', async () => {
    const cause = JSON.stringify({
      StoppedReason: 'Essential container in task exited',
      Containers: [
        { Name: 'restore-runner', ExitCode: 1 },
        { Name: 'postgres', ExitCode: 0 },
      ],
    });
    const evaluation = await handler(
      state('drills/orders/20261121T020000Z/none.json', { Error: 'States.TaskFailed', Cause: cause }),
    );
    expect(evaluation).toMatchObject({
      passed: false,
      drillPassed: 0,
      subject: 'pgproof drill FAILED: orders (no report)',
    });
    expect(evaluation.message).toBe(
      [
        'Restore drill of backup 20261121T020000Z of "orders" FAILED: the restore task produced no report (expected at s3://backups/drills/orders/20261121T020000Z/none.json).',
        'Why: States.TaskFailed: Essential container in task exited: restore-runner exit 1, postgres exit 0.',
        'What to do: read the restore-runner container log of the drill task in CloudWatch Logs; if the task did not start, check the image, the subnets and the cluster capacity, then start the drill again.',
      ].join('\n'),
    );
  });

  it('rejects input that is not the workflow state', async () => {
    await expect(handler({ database: 'orders' })).rejects.toThrow(
      'evaluate-report input rejected: drill: Invalid input: expected object, received undefined',
    );
  });

  it("says a DR drill was one, with the replication it measured, and publishes the DR drill's own metrics", async () => {
    vi.stubEnv('DRILL_KIND', 'dr');
    try {
      const dr = {
        region: 'eu-central-1',
        newestBackupId: '20261121T020000Z',
        newestBackupAgeHours: 24,
        replicationLagSeconds: 42,
      };
      await store(report('drills/orders/20261121T020000Z/dr.json', { dr }));
      const evaluation = await handler(state('drills/orders/20261121T020000Z/dr.json'));
      expect(evaluation).toMatchObject({
        passed: true,
        drillPassed: 1,
        subject: 'pgproof DR drill passed: orders 20261121T020000Z, passed in 34 s',
      });
      expect(evaluation.message.split('\n').slice(0, 2)).toEqual([
        'DR restore drill of backup 20261121T020000Z of "orders" PASSED.',
        'DR drill in eu-central-1: newest replicated backup 20261121T020000Z was 24.0 hours old; it replicated 42 s after the primary finished it.',
      ]);
      const [published] = emf();
      expect(published).toMatchObject({
        Database: 'orders',
        DrDrillPassed: 1,
        ReplicationLagSeconds: 42,
        ReplicaBackupAgeHours: 24,
      });
      expect(published).not.toHaveProperty('DrillPassed');
    } finally {
      vi.stubEnv('DRILL_KIND', undefined);
    }
  });
});
