import { ArnFormat, RemovalPolicy, Stack } from 'aws-cdk-lib';
import type * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cloudwatchActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as ecs from 'aws-cdk-lib/aws-ecs';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct } from 'constructs';
import { STARTED_BY_PREFIX } from '../../core/launch.ts';

/**
 * ECS's events of backup tasks (started by the launcher) of `cluster` that stopped with a non-zero exit
 * code or did not start.
 */
export function failedBackupTaskPattern(cluster: ecs.ICluster): events.EventPattern {
  return {
    source: ['aws.ecs'],
    detailType: ['ECS Task State Change'],
    detail: {
      clusterArn: [cluster.clusterArn],
      lastStatus: ['STOPPED'],
      startedBy: [{ prefix: STARTED_BY_PREFIX }],
      $or: [{ containers: { exitCode: [{ 'anything-but': 0 }] } }, { stopCode: ['TaskFailedToStart'] }],
    },
  };
}

/** Props of {@link BackupAlerts}. */
export interface BackupAlertsProps {
  /** The cluster backup tasks run in: a task of it that stops with a non-zero exit is reported. */
  readonly cluster: ecs.ICluster;
  /**
   * Addresses subscribed to the topic (each confirms by email once).
   * @default - no subscriptions; subscribe to {@link BackupAlerts.topic} yourself
   */
  readonly emails?: readonly string[];
  /**
   * What happens to the topic's key when the stack is deleted.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
}

/**
 * Where everything that needs a person goes: an SNS topic encrypted with its own key (an AWS-managed
 * key cannot let CloudWatch and EventBridge publish), email subscriptions, and a rule that turns a
 * failed backup task into a readable message.
 */
export class BackupAlerts extends Construct {
  /** Encrypts the topic; CloudWatch alarms and EventBridge may use it to publish. */
  public readonly key: kms.Key;
  /** Alarms and failure messages. */
  public readonly topic: sns.Topic;
  /** Matches backup tasks that stopped with a non-zero exit code or failed to start. */
  public readonly taskFailedRule: events.Rule;

  constructor(scope: Construct, id: string, props: BackupAlertsProps) {
    super(scope, id);
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    for (const email of props.emails ?? []) {
      if (!/^[^@\s]+@[^@\s]+$/.test(email)) {
        throw new Error(
          `'emails' must hold email addresses, got "${email}"; use one like "oncall@example.com"`,
        );
      }
    }

    this.key = new kms.Key(this, 'Key', {
      description: 'pgproof: encrypts the alerts topic',
      enableKeyRotation: true,
      removalPolicy,
    });
    for (const service of ['cloudwatch.amazonaws.com', 'events.amazonaws.com']) {
      this.key.grant(new iam.ServicePrincipal(service), 'kms:Decrypt', 'kms:GenerateDataKey*');
    }

    this.topic = new sns.Topic(this, 'Topic', {
      displayName: 'pgproof backup alerts',
      masterKey: this.key,
      enforceSSL: true,
    });
    for (const email of props.emails ?? []) {
      this.topic.addSubscription(new subscriptions.EmailSubscription(email));
    }
    this.denyOtherSources();

    const field = events.EventField.fromPath;
    this.taskFailedRule = new events.Rule(this, 'TaskFailedRule', {
      description: 'pgproof: a backup task stopped with a non-zero exit code or did not start',
      eventPattern: failedBackupTaskPattern(props.cluster),
      targets: [
        new targets.SnsTopic(this.topic, {
          message: events.RuleTargetInput.fromText(
            `pgproof backup FAILED: ${field('$.detail.startedBy')} stopped with exit code ` +
              `${field('$.detail.containers[0].exitCode')} (${field('$.detail.stoppedReason')}). ` +
              'No backup was kept for this run. The last line of the task log says what went wrong and what to do; ' +
              `task ${field('$.detail.taskArn')} in ${field('$.region')}.`,
          ),
        }),
      ],
    });
  }

  /**
   * CloudWatch and EventBridge may publish to the topic (and use its key) only for this account's
   * alarms and rules: a deny on any other source account or resource (confused deputy). `IfExists`:
   * a request that carries no source is judged by the grants alone.
   */
  private denyOtherSources(): void {
    const stack = Stack.of(this);
    const sources = [
      {
        service: 'cloudwatch.amazonaws.com',
        arn: stack.formatArn({
          service: 'cloudwatch',
          resource: 'alarm',
          resourceName: '*',
          arnFormat: ArnFormat.COLON_RESOURCE_NAME,
        }),
      },
      {
        service: 'events.amazonaws.com',
        arn: stack.formatArn({ service: 'events', resource: 'rule', resourceName: '*' }),
      },
    ];
    for (const [index, source] of sources.entries()) {
      const conditions = {
        StringNotEqualsIfExists: { 'aws:SourceAccount': stack.account },
        ArnNotLikeIfExists: { 'aws:SourceArn': source.arn },
      };
      const sid = `DenyForeign${index === 0 ? 'Alarms' : 'Rules'}`;
      this.topic.addToResourcePolicy(
        new iam.PolicyStatement({
          sid,
          effect: iam.Effect.DENY,
          principals: [new iam.ServicePrincipal(source.service)],
          actions: ['sns:Publish'],
          resources: [this.topic.topicArn],
          conditions,
        }),
      );
      this.key.addToResourcePolicy(
        new iam.PolicyStatement({
          sid,
          effect: iam.Effect.DENY,
          principals: [new iam.ServicePrincipal(source.service)],
          actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
          resources: ['*'],
          conditions,
        }),
      );
    }
  }

  /** Sends the alarm's transitions to ALARM and back to OK to the topic. */
  notifyOn(...alarms: readonly cloudwatch.AlarmBase[]): void {
    const action = new cloudwatchActions.SnsAction(this.topic);
    for (const alarm of alarms) {
      alarm.addAlarmAction(action);
      alarm.addOkAction(action);
    }
  }
}
