import { Duration, TimeZone, Token } from 'aws-cdk-lib';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as schedulerTargets from 'aws-cdk-lib/aws-scheduler-targets';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import type { z } from 'zod';
import { drillInputSchema, MAX_SAMPLE_DAYS } from '../../core/drill.ts';
import type { Tier } from '../../core/retention-tiers.ts';
import { pascalCase } from './construct-id.ts';

/** A drill of a random backup of one tier taken within a window, on its own schedule. */
export interface ScheduledSample {
  readonly tier: Tier;
  /** Backups taken within this many days before the drill are drawn from. */
  readonly withinDays: number;
  /** EventBridge Scheduler expression, e.g. `cron(0 6 1 * ? *)`, in the database's drill time zone. */
  readonly schedule: string;
}

/** A database drilled on a schedule. */
export interface ScheduledDrill {
  readonly name: string;
  /** EventBridge Scheduler expression, e.g. `cron(0 5 ? * SUN *)`; none: no schedule. */
  readonly schedule?: string;
  /** @default 'UTC' */
  readonly timeZone?: string;
  /** Sampled drills, each a schedule of its own. @default - none */
  readonly samples?: readonly ScheduledSample[];
}

/** The drill's schedules, and how a database gets one. */
export interface DrillSchedules {
  /** One per database added with a schedule, then one per sample of it, in the order added. */
  readonly schedules: readonly scheduler.Schedule[];
  /** Adds the database's schedule, if it has one, and its samples'. */
  addDatabase(db: ScheduledDrill): scheduler.Schedule | undefined;
}

/**
 * One schedule per database that has one, each starting the drill workflow with `{ "database": name }`,
 * added to `scope` (the {@link RestoreDrill}) as `<Name>Schedule` as each database is added; and one
 * per sample, starting it with `{ "database": name, "sample": { tier, withinDays } }`, as
 * `SampleSchedules/<Name>/<Tier>Within<Days>Days`.
 */
export function addDrillSchedules(scope: Construct, stateMachine: sfn.IStateMachine): DrillSchedules {
  const schedules: scheduler.Schedule[] = [];
  let sampleSchedules: Construct | undefined;
  const schedule = (
    parent: Construct,
    id: string,
    db: ScheduledDrill,
    expression: string,
    input: z.input<typeof drillInputSchema>,
    description: string,
  ) => {
    // Checked with the schema ResolveBackup parses it with; sent as given (no defaults written in).
    drillInputSchema.parse(input);
    const made = new scheduler.Schedule(parent, id, {
      description,
      schedule: scheduler.ScheduleExpression.expression(expression, TimeZone.of(db.timeZone ?? 'UTC')),
      target: new schedulerTargets.StepFunctionsStartExecution(stateMachine, {
        input: scheduler.ScheduleTargetInput.fromObject(input),
        retryAttempts: 3,
        maxEventAge: Duration.hours(1),
      }),
    });
    schedules.push(made);
    return made;
  };
  const addDatabase = (db: ScheduledDrill) => {
    validateSamples(db);
    // A concatenated id rather than a `<Name>` child holding `Schedule`: the deployed schedules'
    // logical ids hash this path, and a new level would replace them.
    const latest =
      db.schedule === undefined
        ? undefined
        : schedule(
            scope,
            `${pascalCase(db.name)}Schedule`,
            db,
            db.schedule,
            { database: db.name },
            `pgproof: restore drill of ${db.name}`,
          );
    if (db.samples?.length) {
      sampleSchedules ??= new Construct(scope, 'SampleSchedules');
      const ofDatabase = new Construct(sampleSchedules, pascalCase(db.name));
      for (const sample of db.samples) {
        schedule(
          ofDatabase,
          `${pascalCase(sample.tier)}Within${sample.withinDays}Days`,
          db,
          sample.schedule,
          { database: db.name, sample: { tier: sample.tier, withinDays: sample.withinDays } },
          `pgproof: restore drill of ${db.name}, a random ${sample.tier} backup of the last ${sample.withinDays} days`,
        );
      }
    }
    return latest;
  };
  return { schedules, addDatabase };
}

/** Throws on samples that cannot be scheduled, naming the prop, the value and the fix. */
function validateSamples(db: ScheduledDrill): void {
  const seen = new Set<string>();
  for (const sample of db.samples ?? []) {
    const days = sample.withinDays;
    if (!Token.isUnresolved(days) && (!Number.isInteger(days) || days < 1 || days > MAX_SAMPLE_DAYS)) {
      throw new Error(
        `'databases[${db.name}].samples[].withinDays' must be whole days from 1 to ${MAX_SAMPLE_DAYS}, got ${days}`,
      );
    }
    const id = `${sample.tier}/${days}`;
    if (seen.has(id)) {
      throw new Error(
        `'databases[${db.name}].samples' samples ${sample.tier} backups within ${days} days twice; give each sample its own tier or window`,
      );
    }
    seen.add(id);
  }
}
