import { Duration, Lazy, TimeZone } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as logs from 'aws-cdk-lib/aws-logs';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as schedulerTargets from 'aws-cdk-lib/aws-scheduler-targets';
import type { Construct } from 'constructs';
import type { DrDrillWindows } from '../../core/dr-drill-watch.ts';
import { databaseMetricDimensions, METRICS, METRICS_NAMESPACE } from '../../core/telemetry.ts';
import { acknowledgeWildcards } from './nag.ts';
import { addPgproofFunction } from './pgproof-function.ts';

/** What {@link addDrDrillWatch} made. */
export interface DrDrillWatch {
  /** Publishes `DaysSinceDrDrillPassed` per database (functions/watch-dr-drills.ts). */
  readonly function: lambda.IFunction;
  /** Runs it daily. */
  readonly schedule: scheduler.Schedule;
  /** `DaysSinceDrDrillPassed` of one database, daily maximum. */
  metricDaysSincePassed(database: string): cloudwatch.Metric;
}

/**
 * The DR drill's daily watch, added to `scope` (the {@link RestoreDrill} of kind `dr`) as
 * `WatchDrDrills*` and `WatchSchedule`: a DR drill runs monthly, and a CloudWatch alarm looks back at
 * most 7 days, so a Lambda reads `DrDrillPassed`'s history each day and publishes how many days ago
 * each database last passed. `windows` (each database's window in days) is read at synth.
 */
export function addDrDrillWatch(
  scope: Construct,
  options: { readonly windows: ReadonlyMap<string, number>; readonly logRetention: logs.RetentionDays },
): DrDrillWatch {
  const fn = addPgproofFunction(scope, 'WatchDrDrills', {
    file: 'watch-dr-drills.ts',
    description: 'pgproof: publishes the days since each database last passed a DR drill',
    logRetention: options.logRetention,
    environment: {
      DR_DRILL_WINDOWS: Lazy.uncachedString({
        produce: () => JSON.stringify(Object.fromEntries(options.windows) satisfies DrDrillWindows),
      }),
    },
  }).function;
  // GetMetricData names no resource; the watch only reads metrics (its own go out as EMF log lines).
  const read = new iam.PolicyStatement({ actions: ['cloudwatch:GetMetricData'], resources: ['*'] });
  fn.addToRolePolicy(read);
  acknowledgeWildcards(fn.role ?? scope, 'cloudwatch:GetMetricData takes no resource.', { resources: ['*'] });
  // A role of its own (not the stack's shared scheduler role): it may invoke the watch and nothing else.
  const role = new iam.Role(scope, 'WatchScheduleRole', {
    assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com'),
    description: 'pgproof: invokes the daily watch of the DR drills',
  });
  const schedule = new scheduler.Schedule(scope, 'WatchSchedule', {
    description: 'pgproof: daily watch of the DR drills (days since each database last passed)',
    schedule: scheduler.ScheduleExpression.cron({ minute: '30', hour: '0', timeZone: TimeZone.ETC_UTC }),
    target: new schedulerTargets.LambdaInvoke(fn, { role, retryAttempts: 3, maxEventAge: Duration.hours(6) }),
  });
  acknowledgeWildcards(
    role,
    "Lambda's grantInvoke names the function's versions and aliases too (<arn>:*).",
    {
      resources: [`${fn.functionArn}:*`],
    },
  );
  const metricDaysSincePassed = (database: string) =>
    new cloudwatch.Metric({
      namespace: METRICS_NAMESPACE,
      metricName: METRICS.daysSinceDrDrillPassed,
      dimensionsMap: databaseMetricDimensions(database),
      statistic: 'Maximum',
      period: Duration.days(1),
    });
  return { function: fn, schedule, metricDaysSincePassed };
}
