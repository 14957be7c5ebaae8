import { type CloudWatchClient, GetMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import { z } from 'zod';
import { DATABASE_NAME_PATTERN } from './layout.ts';
import { databaseMetricDimensions, METRICS, METRICS_NAMESPACE } from './telemetry.ts';

/**
 * How long ago a DR drill of each database last passed, from the `DrDrillPassed` metric EvaluateReport
 * publishes in the replica region. CloudWatch alarms look back at most 7 days and a DR drill runs
 * monthly, so a daily watch reads the metric's history (GetMetricData reaches 15 months back) and
 * publishes `DaysSinceDrDrillPassed`, which the overdue alarm compares with each database's window.
 */

const DAY_MS = 86_400_000;

/** `DR_DRILL_WINDOWS`: each DR-drilled database's window, in whole days. */
export const drDrillWindowsSchema = z.record(
  z.string().regex(DATABASE_NAME_PATTERN, 'must be a database name'),
  z.number().int().min(1).max(400),
);
export type DrDrillWindows = z.infer<typeof drDrillWindowsSchema>;

/**
 * Whole days since the last day a DR drill of `database` passed, counted from the start of that day
 * (so never less than the truth); when none passed in the last `windowDays + 1` days, that many: the
 * watch looks no further back than it needs to say the window was missed.
 */
export async function daysSinceDrDrillPassed(
  cloudwatch: CloudWatchClient,
  database: string,
  windowDays: number,
  now: Date,
): Promise<number> {
  const lookbackDays = windowDays + 1;
  const response = await cloudwatch.send(
    new GetMetricDataCommand({
      StartTime: new Date(now.getTime() - lookbackDays * DAY_MS),
      EndTime: now,
      MetricDataQueries: [
        {
          Id: 'passed',
          ReturnData: true,
          MetricStat: {
            Metric: {
              Namespace: METRICS_NAMESPACE,
              MetricName: METRICS.drDrillPassed,
              Dimensions: Object.entries(databaseMetricDimensions(database)).map(([Name, Value]) => ({
                Name,
                Value,
              })),
            },
            Period: 86_400,
            Stat: 'Maximum',
          },
        },
      ],
    }),
  );
  const [result] = response.MetricDataResults ?? [];
  const values = result?.Values ?? [];
  const passedDays = (result?.Timestamps ?? []).filter((_, i) => (values[i] ?? 0) >= 1);
  const last = Math.max(...passedDays.map((t) => t.getTime()));
  if (!Number.isFinite(last)) return lookbackDays;
  return Math.min(lookbackDays, Math.floor((now.getTime() - last) / DAY_MS));
}
