import { DescribeTasksCommand } from '@aws-sdk/client-ecs';
import { InvokeCommand } from '@aws-sdk/client-lambda';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { GetScheduleCommand } from '@aws-sdk/client-scheduler';
import { describe, expect, it } from 'vitest';
import { backupCommand } from '../../../cli/commands/backup.ts';
import { runCli } from '../../../cli/main.ts';
import { recordOutput } from '../../support/cli-output.ts';
import {
  ecs,
  encode,
  lambda,
  NOW,
  SCHEDULE_INPUT,
  scheduler,
  TASK,
  usePrimaryStack,
} from '../primary-stack.ts';

/** `pgproof backup` against mocked Lambda, Scheduler, ECS and CloudFormation; S3 is real. */

const stack = usePrimaryStack();

describe('pgproof backup', () => {
  it('invokes the launcher with the schedule payload at the current time', async () => {
    lambda.on(InvokeCommand).resolves({
      StatusCode: 200,
      Payload: encode({ status: 'started', backupId: '20261121T091530Z', tier: 'weekly', taskArn: TASK }),
    });
    const output = recordOutput();
    const code = await backupCommand(
      { database: 'orders', wait: false, now: () => NOW },
      await stack.deployment(),
      stack.clients,
      output,
    );
    expect(code).toBe(0);
    expect(lambda).toHaveReceivedCommandTimes(InvokeCommand, 1);
    const invoke = lambda.commandCalls(InvokeCommand)[0]?.args[0].input;
    expect(invoke?.FunctionName).toBe('Pgproof-Primary-LauncherFunction');
    expect(invoke?.InvocationType).toBe('RequestResponse');
    expect(JSON.parse(new TextDecoder().decode(invoke?.Payload as Uint8Array))).toEqual({
      ...JSON.parse(SCHEDULE_INPUT),
      scheduledTime: '2026-11-21T09:15:30Z',
    });
    expect(output.stdout).toEqual([`backup 20261121T091530Z of orders started (tier weekly): task ${TASK}`]);
  });

  it('with --wait, follows the task to a written manifest', async () => {
    lambda.on(InvokeCommand).resolves({
      Payload: encode({ status: 'started', backupId: '20261121T091530Z', tier: 'daily', taskArn: TASK }),
    });
    ecs
      .on(DescribeTasksCommand, { cluster: 'pgproof-cluster', tasks: [TASK] })
      .resolvesOnce({ tasks: [{ taskArn: TASK, lastStatus: 'PROVISIONING' }] })
      .resolvesOnce({ tasks: [{ taskArn: TASK, lastStatus: 'RUNNING' }] })
      .resolves({
        tasks: [{ taskArn: TASK, lastStatus: 'STOPPED', containers: [{ name: 'pg-dump', exitCode: 0 }] }],
      });
    await stack.s3.client.send(
      new PutObjectCommand({ Bucket: 'backups', Key: 'orders/20261121T091530Z/manifest.json', Body: '{}' }),
    );
    const output = recordOutput();
    const code = await backupCommand(
      { database: 'orders', wait: true, pollMilliseconds: 1, now: () => NOW },
      await stack.deployment(),
      stack.clients,
      output,
    );
    expect(code).toBe(0);
    expect(ecs).toHaveReceivedCommandTimes(DescribeTasksCommand, 3);
    expect(output.stderr).toEqual(['task provisioning', 'task running', 'task stopped']);
    expect(output.stdout.at(-1)).toBe(
      'backup 20261121T091530Z of orders succeeded: s3://backups/orders/20261121T091530Z/manifest.json',
    );
  });

  it('with --wait, exits 2 when the runner failed, with its reason', async () => {
    lambda.on(InvokeCommand).resolves({
      Payload: encode({ status: 'started', backupId: '20261121T091531Z', tier: 'daily', taskArn: TASK }),
    });
    ecs.on(DescribeTasksCommand).resolves({
      tasks: [
        {
          taskArn: TASK,
          lastStatus: 'STOPPED',
          stoppedReason: 'Essential container in task exited',
          containers: [{ name: 'pg-dump', exitCode: 1 }],
        },
      ],
    });
    const output = recordOutput();
    const code = await backupCommand(
      { database: 'orders', wait: true, pollMilliseconds: 1, now: () => NOW },
      await stack.deployment(),
      stack.clients,
      output,
    );
    expect(code).toBe(2);
    expect(output.stdout.at(-1)).toBe(
      "backup 20261121T091531Z of orders FAILED (exit 1): Essential container in task exited; the task's log has the runner's one-line error",
    );
  });

  it('fails with the launcher’s own message when it refuses', async () => {
    lambda.on(InvokeCommand).resolves({
      FunctionError: 'Unhandled',
      Payload: encode({
        errorType: 'BackupAlreadyRunningError',
        errorMessage: 'an earlier backup still runs',
      }),
    });
    const output = recordOutput();
    const code = await runCli(['backup', 'orders'], { output, clients: () => stack.clients });
    expect(code).toBe(1);
    expect(output.stderr).toEqual([
      'pgproof: the launcher refused the backup of orders: an earlier backup still runs',
    ]);
  });

  it('rejects a database the deployment does not back up, naming the ones it does', async () => {
    const output = recordOutput();
    const code = await runCli(['backup', 'ledger'], { output, clients: () => stack.clients });
    expect(code).toBe(1);
    expect(output.stderr).toEqual([
      'pgproof: database "ledger" is not in the deployment Pgproof-Primary (it backs up: orders); add it to pgproof.config.json and deploy, or check the name',
    ]);
    expect(lambda).not.toHaveReceivedCommand(InvokeCommand);
  });

  it("rejects a schedule whose payload is not the launcher's, naming the field", async () => {
    const { retentionDays: _, ...withoutRetention } = JSON.parse(SCHEDULE_INPUT);
    scheduler.on(GetScheduleCommand).resolves({
      Target: {
        Arn: 'arn:aws:lambda:launcher',
        RoleArn: 'arn:aws:iam::role',
        Input: JSON.stringify(withoutRetention),
      },
    });
    const output = recordOutput();
    expect(await runCli(['backup', 'orders'], { output, clients: () => stack.clients })).toBe(1);
    expect(output.stderr).toEqual([
      'pgproof: the target input of schedule Pgproof-Orders-Schedule (group default) is not what pgproof expects at retentionDays: Invalid input: expected object, received undefined; redeploy pgproof',
    ]);
    expect(lambda).not.toHaveReceivedCommand(InvokeCommand);
  });

  it('rejects a schedule without a target input', async () => {
    scheduler.on(GetScheduleCommand).resolves({
      Target: { Arn: 'arn:aws:lambda:launcher', RoleArn: 'arn:aws:iam::role' },
    });
    const output = recordOutput();
    expect(await runCli(['backup', 'orders'], { output, clients: () => stack.clients })).toBe(1);
    expect(output.stderr).toEqual([
      'pgproof: schedule Pgproof-Orders-Schedule (group default) has no target input; redeploy pgproof',
    ]);
  });

  it('rejects a launcher answer it does not know, naming the field', async () => {
    lambda
      .on(InvokeCommand)
      .resolves({ Payload: encode({ status: 'queued', backupId: '20261121T091530Z' }) });
    const output = recordOutput();
    expect(await runCli(['backup', 'orders'], { output, clients: () => stack.clients })).toBe(1);
    expect(output.stderr).toEqual([
      "pgproof: the launcher's answer (Pgproof-Primary-LauncherFunction) is not what pgproof expects at status: Invalid discriminator value. Expected 'started' | 'already-running' | 'already-done'; redeploy pgproof so the CLI and the launcher match",
    ]);
  });
});
