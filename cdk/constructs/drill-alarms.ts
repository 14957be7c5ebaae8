import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type { Construct } from 'constructs';
import { DR_DRILL_DEFAULT_WINDOW_DAYS } from '../../core/config-dr-drill.ts';
import { addErrorCountAlarm, addMissingSuccessAlarm } from './alarms.ts';
import { pascalCase } from './construct-id.ts';

/** A database whose drills are watched. */
export interface WatchedDrill {
  readonly name: string;
  /** @default 7 */
  readonly maxDaysWithoutSuccess?: number;
  /** @default true */
  readonly alarmWhenOverdue?: boolean;
}

/** The drill's metrics the alarms watch (methods of {@link RestoreDrill}). */
export interface DrillMetrics {
  /** Failed, timed out and aborted executions per 5 minutes. */
  readonly failedDrills: cloudwatch.IMetric;
  /** Daily maximum of `DrillPassed` of one database: 1 when a drill of it passed that day. */
  drillPassed(database: string): cloudwatch.IMetric;
  /**
   * A DR drill's: daily maximum of `DaysSinceDrDrillPassed` of one database (published by the DR
   * drill's watch). When given, the overdue alarms watch it instead of {@link drillPassed}, whose
   * 7 days of look-back a monthly drill outgrows.
   */
  daysSinceDrDrillPassed?(database: string): cloudwatch.IMetric;
}

/** What {@link addDrillAlarms} made, and how a database gets its alarm. */
export interface DrillAlarms {
  readonly failedAlarm: cloudwatch.Alarm;
  /** Per database added with `alarmWhenOverdue`, its overdue alarm. */
  readonly overdueAlarms: ReadonlyMap<string, cloudwatch.Alarm>;
  /** Adds the database's overdue alarm, unless it has `alarmWhenOverdue: false`. */
  addDatabase(db: WatchedDrill): cloudwatch.Alarm | undefined;
}

/**
 * The drill's alarms, added to `scope` (the {@link RestoreDrill}) as `FailedAlarm` and, as each
 * database is added, `<Name>OverdueAlarm`: a failed, timed out or aborted execution; and per database,
 * no passed drill within its `maxDaysWithoutSuccess`. The stack routes them to the alerts topic.
 */
export function addDrillAlarms(scope: Construct, metrics: DrillMetrics): DrillAlarms {
  const dr = metrics.daysSinceDrDrillPassed !== undefined;
  const failedAlarm = addErrorCountAlarm(scope, 'FailedAlarm', metrics.failedDrills, {
    description: dr
      ? "pgproof: a DR drill (of the replica bucket, in the replica region) failed, timed out or was aborted. The notification on the DR drill's topic and the execution in this region's Step Functions console say why."
      : 'pgproof: a restore drill failed, timed out or was aborted. The notification on the alerts topic and the execution in the Step Functions console say why.',
  });
  const overdueAlarms = new Map<string, cloudwatch.Alarm>();
  const addDatabase = (db: WatchedDrill) => {
    if (!(db.alarmWhenOverdue ?? true)) return undefined;
    const days = db.maxDaysWithoutSuccess ?? (dr ? DR_DRILL_DEFAULT_WINDOW_DAYS : 7);
    if (metrics.daysSinceDrDrillPassed) {
      const alarm = addDrOverdueAlarm(scope, db.name, days, metrics.daysSinceDrDrillPassed(db.name));
      overdueAlarms.set(db.name, alarm);
      return alarm;
    }
    // A concatenated id, not a `<Name>` child: a new path level would replace the deployed alarm.
    const alarm = addMissingSuccessAlarm(
      scope,
      `${pascalCase(db.name)}OverdueAlarm`,
      metrics.drillPassed(db.name),
      {
        description: `pgproof: no restore drill of ${db.name} passed in the last ${days} days, so nothing proves its backups restore. Start a drill from the Step Functions console with { "database": "${db.name}" }.`,
        periods: days,
      },
    );
    overdueAlarms.set(db.name, alarm);
    return alarm;
  };
  return { failedAlarm, overdueAlarms, addDatabase };
}

/**
 * `<Name>OverdueAlarm` of a DR drill: fires when the watch says the last passed DR drill is more than
 * `days` days ago on two days in a row, or when the watch published nothing for two days (it stopped,
 * so nothing says the DR drills pass). Two days, not one: the watch's daily point may fall either side
 * of a period's edge.
 */
function addDrOverdueAlarm(
  scope: Construct,
  name: string,
  days: number,
  daysSincePassed: cloudwatch.IMetric,
): cloudwatch.Alarm {
  return new cloudwatch.Alarm(scope, `${pascalCase(name)}OverdueAlarm`, {
    alarmDescription: `pgproof: no DR drill of ${name} (of the replica bucket, in the replica region) passed in the last ${days} days, so nothing proves its replicated backups restore there. Start the DR drill from this region's Step Functions console with { "database": "${name}" }.`,
    metric: daysSincePassed,
    threshold: days,
    comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
    evaluationPeriods: 2,
    datapointsToAlarm: 2,
    treatMissingData: cloudwatch.TreatMissingData.BREACHING,
  });
}
