import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { z } from 'zod';
import { daysSinceDrDrillPassed, drDrillWindowsSchema } from '../core/dr-drill-watch.ts';
import { jsonVariable } from '../core/environment.ts';
import { createLogger, createMetrics } from '../core/observability.ts';
import { DATABASE_DIMENSION, METRICS } from '../core/telemetry.ts';
import { parseInput, pgproofHandler } from './handler.ts';

/**
 * The DR drill's daily watch (replica region): for each DR-drilled database, how many days ago a DR
 * drill of it last passed, published as `DaysSinceDrDrillPassed`, which its overdue alarm compares with
 * its window. The edge only: the reading is core/dr-drill-watch.ts.
 */

const logger = createLogger('watch-dr-drills');
const metrics = createMetrics();
const cloudwatch = new CloudWatchClient({});

const settingsSchema = z.object({
  /** `{ "<name>": <days> }` */
  DR_DRILL_WINDOWS: jsonVariable(drDrillWindowsSchema, { notJson: 'is not valid JSON' }),
});

/** Any event (the schedule's) in; each database's days since its last passed DR drill out. */
export const handler = pgproofHandler({ logger, metrics }, async (): Promise<Record<string, number>> => {
  const { DR_DRILL_WINDOWS: windows } = parseInput(
    settingsSchema,
    process.env,
    'watch-dr-drills environment',
  );
  const now = new Date();
  const days: Record<string, number> = {};
  for (const [database, windowDays] of Object.entries(windows)) {
    days[database] = await daysSinceDrDrillPassed(cloudwatch, database, windowDays, now);
    // One EMF document per database: each carries its own Database dimension.
    metrics.addDimension(DATABASE_DIMENSION, database);
    metrics.addMetric(METRICS.daysSinceDrDrillPassed, MetricUnit.Count, days[database]);
    metrics.publishStoredMetrics();
    logger.info('DR drill watched', { database, windowDays, daysSincePassed: days[database] });
  }
  return days;
});
