import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type { Construct } from 'constructs';

/** Props of {@link addErrorCountAlarm}. */
export interface ErrorCountAlarmProps {
  /** What happened and what to do: the alarm's description, which the notification carries. */
  readonly description: string;
  /**
   * The count that fires the alarm, compared with {@link comparisonOperator}.
   * @default 1
   */
  readonly threshold?: number;
  /** @default cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD */
  readonly comparisonOperator?: cloudwatch.ComparisonOperator;
}

/**
 * An alarm on a count of failures (as cdk-monitoring-constructs' `addErrorCountAlarm`): fires when
 * one period of `metric` reaches the threshold; a period without data counts no failure. Routed to a
 * topic by the stack, not here.
 */
export function addErrorCountAlarm(
  scope: Construct,
  id: string,
  metric: cloudwatch.IMetric,
  props: ErrorCountAlarmProps,
): cloudwatch.Alarm {
  return new cloudwatch.Alarm(scope, id, {
    alarmDescription: props.description,
    metric,
    threshold: props.threshold ?? 1,
    comparisonOperator:
      props.comparisonOperator ?? cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    evaluationPeriods: 1,
    treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
  });
}

/** Props of {@link addMissingSuccessAlarm}. */
export interface MissingSuccessAlarmProps {
  /** What is missing and what to do: the alarm's description, which the notification carries. */
  readonly description: string;
  /** How many periods of the metric in a row without a success fire the alarm. */
  readonly periods: number;
}

/**
 * An alarm on a success that stopped coming: fires when `metric` (1 per success, its period the unit
 * of {@link MissingSuccessAlarmProps.periods}) stayed below 1 for `periods` periods in a row, periods
 * without any data included. Routed to a topic by the stack, not here.
 */
export function addMissingSuccessAlarm(
  scope: Construct,
  id: string,
  metric: cloudwatch.IMetric,
  props: MissingSuccessAlarmProps,
): cloudwatch.Alarm {
  return new cloudwatch.Alarm(scope, id, {
    alarmDescription: props.description,
    metric,
    threshold: 1,
    comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
    evaluationPeriods: props.periods,
    datapointsToAlarm: props.periods,
    treatMissingData: cloudwatch.TreatMissingData.BREACHING,
  });
}
