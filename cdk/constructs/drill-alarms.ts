import type * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type { Construct } from 'constructs';
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
  const failedAlarm = addErrorCountAlarm(scope, 'FailedAlarm', metrics.failedDrills, {
    description:
      'pgproof: a restore drill failed, timed out or was aborted. The notification on the alerts topic and the execution in the Step Functions console say why.',
  });
  const overdueAlarms = new Map<string, cloudwatch.Alarm>();
  const addDatabase = (db: WatchedDrill) => {
    if (!(db.alarmWhenOverdue ?? true)) return undefined;
    const days = db.maxDaysWithoutSuccess ?? 7;
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
