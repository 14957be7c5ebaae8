import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { z } from 'zod';
import { drillPlanSchema } from '../core/drill.ts';
import { type DrillEvaluation, evaluateDrill } from '../core/drill-evaluation.ts';
import {
  DRILL_KINDS,
  type DrillKind,
  describeDr,
  parseRestoreReport,
  type RestoreReport,
} from '../core/drill-report.ts';
import { describeS3Error } from '../core/errors.ts';
import { createLogger, createMetrics } from '../core/observability.ts';
import { createS3Client, isNotFound } from '../core/s3-client.ts';
import { DATABASE_DIMENSION, METRICS } from '../core/telemetry.ts';
import { parseInput, pgproofHandler } from './handler.ts';

/**
 * The drill workflow's EvaluateReport state: reads the restore runner's report, judges the drill
 * (verified, RTO met), publishes the drill's metrics and returns the notification Notify sends.
 * The edge only: the judging is core/drill-evaluation.ts.
 */

const logger = createLogger('evaluate-report');
const metrics = createMetrics();
const s3 = createS3Client();

/** The state EvaluateReport receives: the execution's state after ResolveBackup and RunRestore. */
export const evaluateInputSchema = z.object({
  /** The part of ResolveBackup's plan this state reads. */
  drill: drillPlanSchema.pick({ database: true, backupId: true, reportKey: true, rtoSeconds: true }),
  /** Present when RunRestore failed (the runner exits 2 when the backup does not verify). */
  restoreError: z.object({ Error: z.string().optional(), Cause: z.string().optional() }).optional(),
});

/** Reads a report; undefined when the runner wrote none. */
async function readReport(bucket: string, key: string): Promise<RestoreReport | undefined> {
  try {
    const response = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    return parseRestoreReport((await response.Body?.transformToString('utf8')) ?? '', key);
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw describeS3Error(error, 'GetObject', bucket, key);
  }
}

/**
 * A DR drill's evaluation: says it was one, in the subject and the first lines, with what it measured of
 * the replication (the report's `dr`; a report without it could not measure, and says why in its error).
 */
export function asDrEvaluation(
  evaluation: DrillEvaluation,
  report: RestoreReport | undefined,
): DrillEvaluation {
  const [first = '', ...rest] = evaluation.message.split('\n');
  return {
    ...evaluation,
    subject: evaluation.subject.replace(/^pgproof drill/, 'pgproof DR drill'),
    message: [
      first.replace(/^Restore drill/, 'DR restore drill'),
      ...(report?.dr ? [describeDr(report.dr)] : []),
      ...rest,
    ].join('\n'),
  };
}

const settingsSchema = z.object({
  BACKUP_BUCKET: z.string({ error: 'set it to the backup bucket name' }).min(1),
  /** `dr` in the replica region's drill (its own metrics, the DR wording); default `primary`. */
  DRILL_KIND: z.enum(DRILL_KINDS).default('primary'),
});

/** The execution's state in, the evaluation (verdict and notification) out. */
export const handler = pgproofHandler({ logger, metrics }, async (event): Promise<DrillEvaluation> => {
  const { BACKUP_BUCKET: bucket, DRILL_KIND: kind } = parseInput(
    settingsSchema,
    process.env,
    'evaluate-report environment',
  );
  const { drill, restoreError } = parseInput(evaluateInputSchema, event, 'evaluate-report input');
  logger.appendKeys({ database: drill.database, backupId: drill.backupId });

  const report = await readReport(bucket, drill.reportKey);
  const judged = evaluateDrill({ plan: drill, report, runError: restoreError, bucket });
  const evaluation = kind === 'dr' ? asDrEvaluation(judged, report) : judged;

  metrics.addDimension(DATABASE_DIMENSION, drill.database);
  publishVerdict(kind, evaluation, report);
  if (evaluation.restoreSeconds !== undefined) {
    metrics.addMetric(METRICS.restoreSeconds, MetricUnit.Seconds, evaluation.restoreSeconds);
  }
  if (evaluation.backupAgeHours !== undefined) {
    metrics.addMetric(METRICS.backupAgeHours, MetricUnit.Count, evaluation.backupAgeHours);
  }
  logger.info(evaluation.passed ? 'drill passed' : 'drill failed', { subject: evaluation.subject, kind });
  return evaluation;
});

/** The verdict's metric: `DrillPassed`, or a DR drill's own `DrDrillPassed` with what it measured. */
function publishVerdict(
  kind: DrillKind,
  evaluation: DrillEvaluation,
  report: RestoreReport | undefined,
): void {
  if (kind === 'primary') {
    metrics.addMetric(METRICS.drillPassed, MetricUnit.Count, evaluation.drillPassed);
    return;
  }
  metrics.addMetric(METRICS.drDrillPassed, MetricUnit.Count, evaluation.drillPassed);
  if (report?.dr) {
    metrics.addMetric(METRICS.replicationLagSeconds, MetricUnit.Seconds, report.dr.replicationLagSeconds);
    metrics.addMetric(METRICS.replicaBackupAgeHours, MetricUnit.Count, report.dr.newestBackupAgeHours);
  }
}
