import { Duration, TimeZone } from 'aws-cdk-lib';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as schedulerTargets from 'aws-cdk-lib/aws-scheduler-targets';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import type { Construct } from 'constructs';
import { pascalCase } from './construct-id.ts';

/** A database drilled on a schedule. */
export interface ScheduledDrill {
  readonly name: string;
  /** EventBridge Scheduler expression, e.g. `cron(0 5 ? * SUN *)`; none: no schedule. */
  readonly schedule?: string;
  /** @default 'UTC' */
  readonly timeZone?: string;
}

/** The drill's schedules, and how a database gets one. */
export interface DrillSchedules {
  /** One per database added with a schedule, in the order added. */
  readonly schedules: readonly scheduler.Schedule[];
  /** Adds the database's schedule, if it has one. */
  addDatabase(db: ScheduledDrill): scheduler.Schedule | undefined;
}

/**
 * One schedule per database that has one, each starting the drill workflow with `{ "database": name }`,
 * added to `scope` (the {@link RestoreDrill}) as `<Name>Schedule` as each database is added.
 */
export function addDrillSchedules(scope: Construct, stateMachine: sfn.IStateMachine): DrillSchedules {
  const schedules: scheduler.Schedule[] = [];
  const addDatabase = (db: ScheduledDrill) => {
    if (db.schedule === undefined) return undefined;
    // A concatenated id rather than a `<Name>` child holding `Schedule`: the deployed schedules'
    // logical ids hash this path, and a new level would replace them.
    const schedule = new scheduler.Schedule(scope, `${pascalCase(db.name)}Schedule`, {
      description: `pgproof: restore drill of ${db.name}`,
      schedule: scheduler.ScheduleExpression.expression(db.schedule, TimeZone.of(db.timeZone ?? 'UTC')),
      target: new schedulerTargets.StepFunctionsStartExecution(stateMachine, {
        input: scheduler.ScheduleTargetInput.fromObject({ database: db.name }),
        retryAttempts: 3,
        maxEventAge: Duration.hours(1),
      }),
    });
    schedules.push(schedule);
    return schedule;
  };
  return { schedules, addDatabase };
}
