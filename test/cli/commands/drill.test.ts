import {
  DescribeExecutionCommand,
  GetExecutionHistoryCommand,
  StartExecutionCommand,
} from '@aws-sdk/client-sfn';
import { beforeEach, describe, expect, it } from 'vitest';
import { drillCommand, sampleFlag } from '../../../cli/commands/drill.ts';
import { recordOutput } from '../../support/cli-output.ts';
import { EXECUTION, NOW, STATE_MACHINE, sfn, usePrimaryStack } from '../primary-stack.ts';

/** `pgproof drill` against a mocked Step Functions and CloudFormation. */

const stack = usePrimaryStack();

describe('pgproof drill', () => {
  beforeEach(() => {
    sfn.on(StartExecutionCommand).resolves({ executionArn: EXECUTION, startDate: NOW });
  });

  it('starts the state machine with the console input', async () => {
    const output = recordOutput();
    const code = await drillCommand(
      { database: 'orders', backupId: '20261120T020000Z', wait: false, now: () => NOW },
      await stack.deployment(),
      stack.clients,
      output,
    );
    expect(code).toBe(0);
    expect(sfn).toHaveReceivedCommandExactlyOnceWith(StartExecutionCommand, {
      stateMachineArn: STATE_MACHINE,
      name: 'cli-orders-20261120T020000Z-20261121T091530Z',
      input: '{"database":"orders","backupId":"20261120T020000Z","mode":"drill"}',
    });
    expect(output.stdout).toEqual([EXECUTION]);
  });

  it('starts a sampled drill: a random backup of the tier within the window', async () => {
    const code = await drillCommand(
      {
        database: 'orders',
        backupId: undefined,
        sample: sampleFlag('monthly:365', undefined),
        wait: false,
        now: () => NOW,
      },
      await stack.deployment(),
      stack.clients,
      recordOutput(),
    );
    expect(code).toBe(0);
    expect(sfn).toHaveReceivedCommandWith(StartExecutionCommand, {
      name: 'cli-orders-monthly-sample-20261121T091530Z',
      input: '{"database":"orders","sample":{"tier":"monthly","withinDays":365},"mode":"drill"}',
    });
  });

  it('refuses a sample that is not TIER:DAYS, or given with --backup, in one line', () => {
    expect(() => sampleFlag('monthly', undefined)).toThrow(
      '--sample must be TIER:DAYS with a tier of daily, weekly, monthly, yearly and whole days up to 3660, e.g. monthly:365; got "monthly"',
    );
    expect(() => sampleFlag('hourly:3', undefined)).toThrow(/--sample must be TIER:DAYS/);
    expect(() => sampleFlag('monthly:1.5', undefined)).toThrow(/--sample must be TIER:DAYS/);
    expect(() => sampleFlag('monthly:365', '20261120T020000Z')).toThrow(
      '--sample and --backup pick the backup two ways; give one of them',
    );
  });

  it('with --wait, shows each state and exits 0 when the drill succeeds', async () => {
    sfn
      .on(GetExecutionHistoryCommand)
      .resolvesOnce({
        events: [
          { id: 1, timestamp: NOW, type: 'ExecutionStarted' },
          {
            id: 2,
            timestamp: NOW,
            type: 'TaskStateEntered',
            stateEnteredEventDetails: { name: 'ResolveBackup' },
          },
        ],
      })
      .resolves({
        events: [
          { id: 1, timestamp: NOW, type: 'ExecutionStarted' },
          {
            id: 2,
            timestamp: NOW,
            type: 'TaskStateEntered',
            stateEnteredEventDetails: { name: 'ResolveBackup' },
          },
          {
            id: 3,
            timestamp: NOW,
            type: 'TaskStateEntered',
            stateEnteredEventDetails: { name: 'RunRestore' },
          },
          {
            id: 4,
            timestamp: NOW,
            type: 'TaskStateEntered',
            stateEnteredEventDetails: { name: 'EvaluateReport' },
          },
          { id: 5, timestamp: NOW, type: 'TaskStateEntered', stateEnteredEventDetails: { name: 'Notify' } },
          {
            id: 6,
            timestamp: NOW,
            type: 'SucceedStateEntered',
            stateEnteredEventDetails: { name: 'DrillPassed' },
          },
        ],
      });
    sfn
      .on(DescribeExecutionCommand, { executionArn: EXECUTION })
      .resolvesOnce({
        executionArn: EXECUTION,
        stateMachineArn: STATE_MACHINE,
        status: 'RUNNING',
        startDate: NOW,
      })
      .resolves({
        executionArn: EXECUTION,
        stateMachineArn: STATE_MACHINE,
        status: 'SUCCEEDED',
        startDate: NOW,
        output: JSON.stringify({ subject: 'pgproof drill passed: orders 20261120T020000Z' }),
      });
    const output = recordOutput();
    const code = await drillCommand(
      { database: 'orders', backupId: undefined, wait: true, pollMilliseconds: 1, now: () => NOW },
      await stack.deployment(),
      stack.clients,
      output,
    );
    expect(code).toBe(0);
    expect(output.stderr.map((l) => l.trim())).toEqual([
      `drill of orders started: ${EXECUTION}`,
      '09:15:30 ResolveBackup',
      '09:15:30 RunRestore',
      '09:15:30 EvaluateReport',
      '09:15:30 Notify',
      '09:15:30 DrillPassed',
    ]);
    expect(output.stdout).toEqual(['drill of orders PASSED: pgproof drill passed: orders 20261120T020000Z']);
    expect(sfn.commandCalls(StartExecutionCommand)[0]?.args[0].input.input).toBe(
      '{"database":"orders","mode":"drill"}',
    );
  });

  it('with --wait, exits 2 when the drill fails, with its error', async () => {
    sfn.on(GetExecutionHistoryCommand).resolves({ events: [] });
    sfn.on(DescribeExecutionCommand).resolves({
      executionArn: EXECUTION,
      stateMachineArn: STATE_MACHINE,
      status: 'FAILED',
      startDate: NOW,
      error: 'DrillFailed',
      cause: JSON.stringify({ message: 'checksum: the object was changed' }),
    });
    const output = recordOutput();
    const code = await drillCommand(
      { database: 'orders', backupId: undefined, wait: true, pollMilliseconds: 1, now: () => NOW },
      await stack.deployment(),
      stack.clients,
      output,
    );
    expect(code).toBe(2);
    expect(output.stdout).toEqual(['drill of orders FAILED: DrillFailed checksum: the object was changed']);
  });

  it('rejects an execution described without a status', async () => {
    sfn.on(GetExecutionHistoryCommand).resolves({ events: [] });
    sfn
      .on(DescribeExecutionCommand)
      .resolves({ executionArn: EXECUTION, stateMachineArn: STATE_MACHINE, startDate: NOW });
    const run = drillCommand(
      { database: 'orders', backupId: undefined, wait: true, pollMilliseconds: 1, now: () => NOW },
      await stack.deployment(),
      stack.clients,
      recordOutput(),
    );
    await expect(run).rejects.toThrow(
      'Step Functions described execution arn:aws:states:eu-west-1:123456789012:execution:PgproofRestoreDrill:cli-orders without a status; try again',
    );
  });
});
