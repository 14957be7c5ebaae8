import { PutObjectCommand } from '@aws-sdk/client-s3';
import {
  type RestoreCheck,
  type RestoreReport,
  restoreReportSchema,
  serializeRestoreReport,
} from '../../core/drill-report.ts';
import { drillReportKey, formatBackupId } from '../../core/layout.ts';
import type { S3Server } from './s3.ts';

/**
 * A simulated month of drills for the evidence ledger: 30 valid reports (built through the report's
 * schema) of two databases from 2026-10-29 to 2026-12-02, 25 of them started in November 2026, with
 * what a real month holds: failures of each kind, an old monthly backup sampled, reports of the runner
 * before restores were timed by phase, and drills at the month's edges (one planned in October that
 * started in November, one that started in November and finished in December).
 */

/** One drill of the month, as the simulation plans it. */
interface PlannedDrill {
  readonly database: 'orders' | 'billing';
  /** When the workflow planned it: the report key's time. */
  readonly plannedAt: string;
  /** Seconds from planning to the restore's start (the task's launch). */
  readonly launchSeconds?: number;
  /** The backup drilled, when not the one taken at 02:00 that day. */
  readonly backupId?: string;
  readonly tier?: string;
  /** How it goes wrong, if it does. */
  readonly outcome?: 'sql-check-failed' | 'could-not-run' | 'rto-missed' | 'counts-differ';
}

const ORDERS_RTO_SECONDS = 600;

/** Every other day at 03:00 for orders; every third day at 04:30 for billing; the edges by hand. */
function plannedDrills(): PlannedDrill[] {
  const orders: PlannedDrill[] = [
    { database: 'orders', plannedAt: '2026-10-29T03:00:00Z' },
    // Started 30 s before November: October's.
    { database: 'orders', plannedAt: '2026-10-31T23:59:00Z', launchSeconds: 30 },
  ];
  for (let day = 2; day <= 30; day += 2) {
    const date = `2026-11-${String(day).padStart(2, '0')}`;
    const drill: PlannedDrill = { database: 'orders', plannedAt: `${date}T03:00:00Z` };
    if (day === 10) orders.push({ ...drill, outcome: 'sql-check-failed' });
    else if (day === 16)
      // An old tier sampled: October's monthly backup.
      orders.push({ ...drill, backupId: '20261001T020000Z', tier: 'monthly' });
    else if (day === 18) orders.push({ ...drill, outcome: 'could-not-run' });
    else if (day === 24) orders.push({ ...drill, outcome: 'rto-missed' });
    // Started at 23:58 on the 30th and finished in December: November's.
    else if (day === 30) orders.push({ ...drill, plannedAt: `${date}T23:57:00Z` });
    else orders.push(drill);
  }
  orders.push({ database: 'orders', plannedAt: '2026-12-02T03:00:00Z' });
  const billing: PlannedDrill[] = [
    { database: 'billing', plannedAt: '2026-10-30T04:30:00Z' },
    // Planned in October, started in November: November's.
    { database: 'billing', plannedAt: '2026-10-31T23:55:00Z', launchSeconds: 7 * 60 },
  ];
  for (let day = 4; day <= 28; day += 3) {
    const drill: PlannedDrill = {
      database: 'billing',
      plannedAt: `2026-11-${String(day).padStart(2, '0')}T04:30:00Z`,
    };
    billing.push(day === 13 ? { ...drill, outcome: 'counts-differ' } : drill);
  }
  billing.push({ database: 'billing', plannedAt: '2026-12-01T04:30:00Z' });
  return [...orders, ...billing];
}

/** The tier the backup of that day got: monthly on the 1st, weekly on Sundays, else daily. */
function tierOf(day: Date): string {
  if (day.getUTCDate() === 1) return 'monthly';
  return day.getUTCDay() === 0 ? 'weekly' : 'daily';
}

/** The runner timed restores by phase from 2026-11-10 on; reports before lack those fields. */
const PHASED_SINCE = Date.parse('2026-11-10T00:00:00Z');

const round = (n: number) => Math.round(n * 10) / 10;

function checksOf(drill: PlannedDrill): RestoreCheck[] {
  const check = (
    name: string,
    kind: RestoreCheck['kind'],
    passed: boolean,
    detail: string,
  ): RestoreCheck => ({
    name,
    kind,
    passed,
    detail,
  });
  const checksum = check('checksum', 'checksum', true, 'SHA-256 as in the manifest');
  if (drill.outcome === 'could-not-run') return [checksum];
  const steps = [
    checksum,
    check('globals', 'globals', true, '3 roles'),
    check('restore', 'restore', true, 'pg_restore: no error'),
  ];
  if (drill.database === 'orders')
    return [
      ...steps,
      check('public.orders', 'table', true, '20000 rows as in the manifest'),
      check('public.customers', 'table', true, '1500 rows as in the manifest'),
      check(
        'orders_not_empty',
        'sql',
        drill.outcome !== 'sql-check-failed',
        drill.outcome === 'sql-check-failed' ? 'returned false' : 'returned true',
      ),
    ];
  const differs = drill.outcome === 'counts-differ';
  return [
    ...steps,
    check(
      'public.invoices',
      'table',
      !differs,
      differs ? 'manifest 8000 rows, restored 7998' : '8000 rows as in the manifest',
    ),
    check('public.payments', 'table', true, '5200 rows as in the manifest'),
    check(
      'sequences',
      'inventory',
      !differs,
      differs ? 'public.invoices_id_seq is 7998, the backup had 8000' : '2 sequences as in the backup',
    ),
  ];
}

/** One planned drill's report, as the restore runner writes it. */
function reportOf(drill: PlannedDrill, index: number, prefix: string): RestoreReport {
  const planned = new Date(drill.plannedAt);
  const started = new Date(planned.getTime() + (drill.launchSeconds ?? 60) * 1000);
  const backupDay = new Date(
    Date.UTC(planned.getUTCFullYear(), planned.getUTCMonth(), planned.getUTCDate(), 2),
  );
  const backupId = drill.backupId ?? formatBackupId(backupDay);
  const takenAt = drill.backupId
    ? new Date(`${backupId.slice(0, 4)}-${backupId.slice(4, 6)}-${backupId.slice(6, 8)}T02:00:00Z`)
    : backupDay;
  const phased = planned.getTime() >= PHASED_SINCE;
  const failed = drill.outcome === 'could-not-run';
  const slow = drill.outcome === 'rto-missed' ? 500 : 0;
  const preflight = 0.8;
  const download = failed ? 0 : round(18 + (index % 5) * 1.5);
  const globals = 0.2;
  const preData = 1.4;
  const data = round(60 + (index % 7) * 4 + slow);
  const postData = round(22 + (index % 4) * 2);
  const restore = failed ? 0 : round(globals + preData + data + postData + 0.5);
  const analyze = 3.5;
  const verify = failed ? 0 : round(11 + (index % 3));
  const total = round(preflight + download + restore + verify + 1);
  const rto = round(download + restore);
  const finished = new Date(started.getTime() + total * 1000);
  const checks = checksOf(drill);
  const passed = !failed && checks.every((c) => c.passed);
  const rtoTarget = drill.database === 'orders' ? ORDERS_RTO_SECONDS : undefined;
  const dominant = download > data ? ['download', download] : ['data', data];
  const report: RestoreReport = {
    formatVersion: 1,
    passed,
    mode: 'drill',
    name: drill.database,
    backupId,
    manifestKey: `${prefix}${drill.database}/${backupId}/manifest.json`,
    reportKey: drillReportKey(prefix, drill.database, backupId, planned),
    startedAt: started.toISOString(),
    finishedAt: finished.toISOString(),
    backup: {
      takenAt: takenAt.toISOString(),
      ageHours: round((started.getTime() - takenAt.getTime()) / 3_600_000),
      dumpBytes: drill.database === 'orders' ? 4_200_000 : 1_900_000,
      serverVersion: '16.4',
      tier: drill.tier ?? tierOf(backupDay),
    },
    target: {
      host: '127.0.0.1',
      port: 5432,
      database: drill.database,
      ...(failed ? {} : { serverVersion: '16.4' }),
    },
    checks,
    tables: [],
    durations: {
      downloadSeconds: download,
      restoreSeconds: restore,
      verifySeconds: verify,
      totalSeconds: total,
      ...(phased
        ? failed
          ? { preflightSeconds: preflight }
          : {
              preflightSeconds: preflight,
              globalsSeconds: globals,
              preDataSeconds: preData,
              dataSeconds: data,
              postDataSeconds: postData,
              analyzeSeconds: analyze,
            }
        : {}),
    },
    rto: {
      seconds: rto,
      ...(rtoTarget === undefined ? {} : { targetSeconds: rtoTarget, met: passed && rto <= rtoTarget }),
      ...(phased && !failed
        ? { dominantPhase: dominant[0] as 'download' | 'data', dominantSeconds: dominant[1] as number }
        : {}),
    },
    ...(failed
      ? {
          error:
            'cannot reach PostgreSQL at 127.0.0.1:5432 (ECONNREFUSED); check PGHOST/PGPORT and that the network and security groups let this task in',
        }
      : {}),
  };
  // Through the schema, as the runner writes it: a simulation that drifts from the contract fails here.
  return restoreReportSchema.parse(report);
}

/** The month's 30 reports, keys under `prefix` as the drill workflow names them. */
export function simulatedMonthOfDrills(prefix = ''): RestoreReport[] {
  return plannedDrills().map((drill, i) => reportOf(drill, i, prefix));
}

/** Stores the simulated month's reports in the bucket, each at its `reportKey`, as the runner stores them. */
export async function putSimulatedMonthOfDrills(s3: S3Server, prefix = ''): Promise<RestoreReport[]> {
  const reports = simulatedMonthOfDrills(prefix);
  await Promise.all(
    reports.map((report) =>
      s3.client.send(
        new PutObjectCommand({
          Bucket: s3.bucket,
          Key: report.reportKey,
          Body: `${serializeRestoreReport(report, 2)}\n`,
          ContentType: 'application/json',
        }),
      ),
    ),
  );
  return reports;
}
