import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cloudwatchActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import type { Construct } from 'constructs';
import { databaseMetricDimensions, METRICS, METRICS_NAMESPACE } from '../../core/telemetry.ts';
import { pascalCase } from './construct-id.ts';

/** A database whose drills are watched. */
export interface WatchedDrill {
  readonly name: string;
  /** @default 7 */
  readonly maxDaysWithoutSuccess?: number;
  /** @default true */
  readonly alarmWhenOverdue?: boolean;
}

/** What {@link addDrillAlarms} made. */
export interface DrillAlarms {
  readonly failedAlarm: cloudwatch.Alarm;
  readonly overdueAlarms: ReadonlyMap<string, cloudwatch.Alarm>;
}

/**
 * The drill's alarms, added to `scope` (the {@link RestoreDrill}) as `FailedAlarm` and
 * `<Name>OverdueAlarm`: a failed, timed out or aborted execution; and per database, no passed drill
 * within its `maxDaysWithoutSuccess`.
 */
export function addDrillAlarms(
  scope: Construct,
  stateMachine: sfn.StateMachine,
  databases: readonly WatchedDrill[],
  topic: sns.ITopic,
): DrillAlarms {
  const alarmAction = new cloudwatchActions.SnsAction(topic);
  const failedAlarm = new cloudwatch.Alarm(scope, 'FailedAlarm', {
    alarmDescription:
      'pgproof: a restore drill failed, timed out or was aborted. The notification on the alerts topic and the execution in the Step Functions console say why.',
    metric: new cloudwatch.MathExpression({
      expression: 'failed + timedOut + aborted',
      usingMetrics: {
        failed: stateMachine.metricFailed({ statistic: 'Sum' }),
        timedOut: stateMachine.metricTimedOut({ statistic: 'Sum' }),
        aborted: stateMachine.metricAborted({ statistic: 'Sum' }),
      },
      period: Duration.minutes(5),
      label: 'failed drills',
    }),
    threshold: 1,
    comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    evaluationPeriods: 1,
    treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
  });
  failedAlarm.addAlarmAction(alarmAction);

  const overdueAlarms = new Map<string, cloudwatch.Alarm>();
  for (const db of databases.filter((d) => d.alarmWhenOverdue ?? true)) {
    const days = db.maxDaysWithoutSuccess ?? 7;
    // A concatenated id, not a `<Name>` child: a new path level would replace the deployed alarm.
    const alarm = new cloudwatch.Alarm(scope, `${pascalCase(db.name)}OverdueAlarm`, {
      alarmDescription: `pgproof: no restore drill of ${db.name} passed in the last ${days} days, so nothing proves its backups restore. Start a drill from the Step Functions console with { "database": "${db.name}" }.`,
      metric: new cloudwatch.Metric({
        namespace: METRICS_NAMESPACE,
        metricName: METRICS.drillPassed,
        dimensionsMap: databaseMetricDimensions(db.name),
        statistic: 'Maximum',
        period: Duration.days(1),
      }),
      // Each day without a passed drill breaches, days without any drill included.
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
      evaluationPeriods: days,
      datapointsToAlarm: days,
      treatMissingData: cloudwatch.TreatMissingData.BREACHING,
    });
    alarm.addAlarmAction(alarmAction);
    overdueAlarms.set(db.name, alarm);
  }
  return { failedAlarm, overdueAlarms };
}
