import { Duration, Stack, Validations } from 'aws-cdk-lib';
import type * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import type * as ecs from 'aws-cdk-lib/aws-ecs';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as schedulerTargets from 'aws-cdk-lib/aws-scheduler-targets';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { isKeyPrefix, KEY_PREFIX_RULE } from '../../core/layout.ts';
import { addErrorCountAlarm } from './alarms.ts';
import type { IBackupVault } from './backup-vault.ts';
import { acknowledgeWildcards } from './nag.ts';
import { addPgproofFunction } from './pgproof-function.ts';

/** Props of {@link BackupLauncher}. */
export interface BackupLauncherProps {
  /** The cluster backup tasks run in. */
  readonly cluster: ecs.ICluster;
  /** The VPC tasks are placed in. */
  readonly vpc: ec2.IVpc;
  /** The subnets tasks are placed in (no public IP). */
  readonly subnets: ec2.SubnetSelection;
  /** The backup vault: the launcher lists manifests in its bucket to pick each backup's tier. */
  readonly vault: IBackupVault;
  /**
   * Key prefix of all backups (`BACKUP_PREFIX`).
   * @default '' - backups start at the bucket's root
   */
  readonly prefix?: string;
  /**
   * How long the launcher's logs are kept.
   * @default logs.RetentionDays.THREE_MONTHS
   */
  readonly logRetention?: logs.RetentionDays;
}

/**
 * The start-backup Lambda (functions/start-backup.ts) that every schedule invokes, the dead-letter
 * queue the schedules use when they cannot invoke it, and alarms on both.
 */
export class BackupLauncher extends Construct {
  /** Validates a schedule's payload, picks the tier and starts the task once. */
  public readonly function: nodejs.NodejsFunction;
  /** The role every backup schedule invokes the launcher with. */
  public readonly scheduleRole: iam.Role;
  /** Schedule invocations that failed after all retries. */
  public readonly deadLetterQueue: sqs.Queue;
  /** Fires when a schedule could not invoke the launcher. */
  public readonly deadLetterAlarm: cloudwatch.Alarm;
  /** Fires when the launcher failed: refused a second run, bad payload, ECS refused the task. */
  public readonly errorsAlarm: cloudwatch.Alarm;

  constructor(scope: Construct, id: string, props: BackupLauncherProps) {
    super(scope, id);
    const prefix = props.prefix ?? '';
    if (!isKeyPrefix(prefix)) {
      throw new Error(`'prefix' ${KEY_PREFIX_RULE}, got "${prefix}"`);
    }

    const { function: fn, role } = addPgproofFunction(this, '', {
      file: 'start-backup.ts',
      description: 'pgproof: starts one scheduled backup task',
      roleDescription: 'pgproof: starts backup tasks',
      logRetention: props.logRetention ?? logs.RetentionDays.THREE_MONTHS,
      environment: {
        CLUSTER_ARN: props.cluster.clusterArn,
        SUBNET_IDS: props.vpc.selectSubnets(props.subnets).subnetIds.join(','),
        BACKUP_BUCKET: props.vault.bucket.bucketName,
        BACKUP_PREFIX: prefix,
      },
    });
    this.function = fn;

    role.addToPolicy(
      new iam.PolicyStatement({
        actions: ['ecs:ListTasks', 'ecs:DescribeTasks'],
        resources: ['*'],
        conditions: { ArnEquals: { 'ecs:cluster': props.cluster.clusterArn } },
      }),
    );
    // grantRun (allowToStart) names task definitions, not clusters: no backup task may start elsewhere.
    role.addToPolicy(
      new iam.PolicyStatement({
        effect: iam.Effect.DENY,
        actions: ['ecs:RunTask'],
        resources: ['*'],
        conditions: { ArnNotEquals: { 'ecs:cluster': props.cluster.clusterArn } },
      }),
    );
    props.vault.grantList(role);
    acknowledgeWildcards(
      role,
      'ecs:ListTasks and ecs:DescribeTasks name no task known in advance; the ecs:cluster condition limits both to the backup cluster.',
      { resources: ['*'] },
    );

    this.scheduleRole = new iam.Role(this, 'ScheduleRole', {
      // Only this account's schedules (of the default group, where pgproof puts them) may assume it.
      assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com', {
        conditions: {
          StringEquals: { 'aws:SourceAccount': Stack.of(this).account },
          ArnLike: {
            'aws:SourceArn': Stack.of(this).formatArn({
              service: 'scheduler',
              resource: 'schedule',
              resourceName: 'default/*',
            }),
          },
        },
      }),
      description: 'pgproof: lets the backup schedules invoke the launcher',
    });

    this.deadLetterQueue = new sqs.Queue(this, 'DeadLetterQueue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    Validations.of(this.deadLetterQueue).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason: 'This queue is itself the dead-letter queue of the EventBridge schedules.',
    });

    this.deadLetterAlarm = addErrorCountAlarm(this, 'DeadLetterAlarm', this.metricDeadLetters(), {
      description:
        'pgproof: a schedule could not invoke the backup launcher, so a backup did not start. Read the message in the dead-letter queue.',
    });
    this.errorsAlarm = addErrorCountAlarm(this, 'ErrorsAlarm', this.metricErrors(), {
      description:
        'pgproof: the backup launcher failed, so a backup did not start. Its log says why (e.g. the previous backup still runs).',
    });
  }

  /**
   * Failed invocations of the launcher.
   * @default - sum per 5 minutes
   */
  metricErrors(options: cloudwatch.MetricOptions = {}): cloudwatch.Metric {
    return this.function.metricErrors({ period: Duration.minutes(5), statistic: 'Sum', ...options });
  }

  /**
   * Schedule invocations waiting in the dead-letter queue.
   * @default - maximum per 5 minutes
   */
  metricDeadLetters(options: cloudwatch.MetricOptions = {}): cloudwatch.Metric {
    return this.deadLetterQueue.metricApproximateNumberOfMessagesVisible({
      period: Duration.minutes(5),
      statistic: 'Maximum',
      ...options,
    });
  }

  /**
   * The schedule target that invokes the launcher with `input`, retrying, then dead-lettering.
   * Scheduler grants itself lambda:InvokeFunction on the function and its versions (<arn>:*).
   */
  target(input: scheduler.ScheduleTargetInput): schedulerTargets.LambdaInvoke {
    if (!this.invokeAcknowledged) {
      acknowledgeWildcards(
        this.scheduleRole,
        'Scheduler may invoke the launcher function and its versions.',
        {
          resources: [`${this.function.functionArn}:*`],
        },
      );
      this.invokeAcknowledged = true;
    }
    return new schedulerTargets.LambdaInvoke(this.function, {
      input,
      role: this.scheduleRole,
      deadLetterQueue: this.deadLetterQueue,
      retryAttempts: 3,
      maxEventAge: Duration.hours(1),
    });
  }

  private invokeAcknowledged = false;

  /** Lets the launcher run `taskDefinition` (and pass its roles). */
  allowToStart(taskDefinition: ecs.TaskDefinition): void {
    taskDefinition.grantRun(this.function);
  }
}
