import { DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { describe, expect, it } from 'vitest';
import { runCli } from '../../cli/main.ts';
import { recordOutput } from '../support/cli-output.ts';
import { cloudFormation, STACK_OUTPUT_VALUES, stackWithOutputs, usePrimaryStack } from './primary-stack.ts';

/** Finding the deployment from the primary stack's outputs, and saying what to do when that fails. */

const stack = usePrimaryStack();

describe('the deployment', () => {
  it('says how to deploy when the stack does not exist', async () => {
    cloudFormation
      .on(DescribeStacksCommand)
      .rejects(
        Object.assign(new Error('Stack with id Pgproof-Primary does not exist'), { name: 'ValidationError' }),
      );
    const output = recordOutput();
    const code = await runCli(['backup', 'orders'], { output, clients: () => stack.clients });
    expect(code).toBe(1);
    expect(output.stderr).toEqual([
      'pgproof: stack Pgproof-Primary is not deployed in eu-west-1: deploy it with `npx cdk deploy --all`, or pass --region/--stack (or --bucket for S3-only commands)',
    ]);
  });

  it('says how to get credentials when there are none', async () => {
    cloudFormation.on(DescribeStacksCommand).rejects(
      Object.assign(new Error('Could not load credentials from any providers'), {
        name: 'CredentialsProviderError',
      }),
    );
    const output = recordOutput();
    expect(await runCli(['drill', 'orders'], { output, clients: () => stack.clients })).toBe(1);
    expect(output.stderr[0]).toMatch(
      /^pgproof: no AWS credentials found: set AWS_PROFILE \(or pass --profile\)/,
    );
  });

  it('rejects a BackupSchedules output that is not what the stack writes, naming the field', async () => {
    stackWithOutputs([
      ...STACK_OUTPUT_VALUES.filter((o) => o.OutputKey !== 'BackupSchedules'),
      {
        OutputKey: 'BackupSchedules',
        OutputValue: JSON.stringify({ orders: { schedule: 'Pgproof-Orders-Schedule' } }),
      },
    ]);
    const output = recordOutput();
    expect(await runCli(['backup', 'orders'], { output, clients: () => stack.clients })).toBe(1);
    expect(output.stderr).toEqual([
      "pgproof: stack Pgproof-Primary's BackupSchedules output is not what pgproof expects at orders.group: Invalid input: expected string, received undefined; redeploy pgproof, or pass --stack for a pgproof primary stack",
    ]);
  });

  it('rejects a BackupSchedules output that is not JSON', async () => {
    stackWithOutputs([
      ...STACK_OUTPUT_VALUES.filter((o) => o.OutputKey !== 'BackupSchedules'),
      { OutputKey: 'BackupSchedules', OutputValue: 'orders' },
    ]);
    const output = recordOutput();
    expect(await runCli(['drill', 'orders'], { output, clients: () => stack.clients })).toBe(1);
    expect(output.stderr).toEqual([
      "pgproof: stack Pgproof-Primary's BackupSchedules output is not JSON; redeploy pgproof, or pass --stack for a pgproof primary stack",
    ]);
  });
});
