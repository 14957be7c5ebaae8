import { Template } from 'aws-cdk-lib/assertions';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { describe, expect, it } from 'vitest';
import { addDrillSchedules, type ScheduledDrill } from '../../cdk/constructs/drill-schedules.ts';
import { drillInputSchema } from '../../core/drill.ts';
import { bareStacks } from './bare-stack.ts';

const newStack = bareStacks();

/** The drill's schedules of `databases` on a bare stack, and its template. */
function schedulesOf(databases: readonly ScheduledDrill[]) {
  const stack = newStack();
  const machine = sfn.StateMachine.fromStateMachineArn(
    stack,
    'Machine',
    'arn:aws:states:eu-west-1:123456789012:stateMachine:drill',
  );
  const schedules = addDrillSchedules(stack, machine);
  for (const db of databases) schedules.addDatabase(db);
  return { stack, schedules, template: Template.fromStack(stack) };
}

/** The schedules' inputs, by logical id. */
function inputs(template: Template): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(template.findResources('AWS::Scheduler::Schedule')).map(([id, r]) => [
      id,
      JSON.parse(r.Properties.Target.Input),
    ]),
  );
}

describe('drill schedules', () => {
  const orders: ScheduledDrill = {
    name: 'orders_eu',
    schedule: 'cron(0 5 ? * SUN *)',
    timeZone: 'Europe/Berlin',
  };

  it("keeps a database's schedule, its logical id and its input as they were when it has no samples", () => {
    const { template } = schedulesOf([orders]);
    expect(inputs(template)).toEqual({ OrdersEuSchedule88768F7F: { database: 'orders_eu' } });
  });

  it('adds a schedule per sample, in the drill time zone, starting the drill with the sample as input', () => {
    const { template, schedules } = schedulesOf([
      {
        ...orders,
        samples: [
          { tier: 'monthly', withinDays: 365, schedule: 'cron(0 6 1 * ? *)' },
          { tier: 'yearly', withinDays: 1100, schedule: 'cron(0 3 ? 1 SUN#1 *)' },
        ],
      },
      // Samples only: no schedule of the latest backup.
      { name: 'billing', samples: [{ tier: 'weekly', withinDays: 60, schedule: 'cron(0 4 ? * MON *)' }] },
    ]);
    expect(schedules.schedules.map((s) => s.node.path)).toEqual([
      'Test/OrdersEuSchedule',
      'Test/SampleSchedules/OrdersEu/MonthlyWithin365Days',
      'Test/SampleSchedules/OrdersEu/YearlyWithin1100Days',
      'Test/SampleSchedules/Billing/WeeklyWithin60Days',
    ]);
    const byId = inputs(template);
    // Today's schedule is untouched by the samples next to it.
    expect(byId.OrdersEuSchedule88768F7F).toEqual({ database: 'orders_eu' });
    expect(Object.values(byId)).toEqual([
      { database: 'orders_eu' },
      { database: 'orders_eu', sample: { tier: 'monthly', withinDays: 365 } },
      { database: 'orders_eu', sample: { tier: 'yearly', withinDays: 1100 } },
      { database: 'billing', sample: { tier: 'weekly', withinDays: 60 } },
    ]);
    // Each input is one ResolveBackup accepts.
    for (const input of Object.values(byId)) expect(drillInputSchema.safeParse(input).success).toBe(true);
    template.hasResourceProperties('AWS::Scheduler::Schedule', {
      Description: 'pgproof: restore drill of orders_eu, a random yearly backup of the last 1100 days',
      ScheduleExpression: 'cron(0 3 ? 1 SUN#1 *)',
      ScheduleExpressionTimezone: 'Europe/Berlin',
      Target: { RetryPolicy: { MaximumRetryAttempts: 3, MaximumEventAgeInSeconds: 3600 } },
    });
    template.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'cron(0 4 ? * MON *)',
      ScheduleExpressionTimezone: 'UTC',
    });
  });

  it('rejects a sample window out of range, or the same sample twice, naming the prop', () => {
    expect(() =>
      schedulesOf([
        { name: 'orders', samples: [{ tier: 'monthly', withinDays: 0, schedule: 'cron(0 6 1 * ? *)' }] },
      ]),
    ).toThrow("'databases[orders].samples[].withinDays' must be whole days from 1 to 3660, got 0");
    const twice = { tier: 'monthly', withinDays: 365, schedule: 'cron(0 6 1 * ? *)' } as const;
    expect(() => schedulesOf([{ name: 'orders', samples: [twice, twice] }])).toThrow(
      "'databases[orders].samples' samples monthly backups within 365 days twice; give each sample its own tier or window",
    );
  });
});
