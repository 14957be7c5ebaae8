import { ArnFormat, Duration, Names, RemovalPolicy, SecretValue, Stack, Token } from 'aws-cdk-lib';
import * as chatbot from 'aws-cdk-lib/aws-chatbot';
import type * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as ecs from 'aws-cdk-lib/aws-ecs';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sns from 'aws-cdk-lib/aws-sns';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { DETAIL_TYPES, EVENT_SOURCE, PROBLEM_DETAIL_TYPES } from '../../core/events.ts';
import { DATABASE_NAME_RULE, drillReportsPrefix, isDatabaseName, MANIFEST_FILE } from '../../core/layout.ts';
import { DATABASE_DIMENSION, METRICS, METRICS_NAMESPACE } from '../../core/telemetry.ts';
import { addErrorCountAlarm } from './alarms.ts';
import { failedBackupTaskPattern } from './backup-alerts.ts';
import type { IBackupVault } from './backup-vault.ts';
import { pascalCase } from './construct-id.ts';
import { acknowledgeWildcards } from './nag.ts';
import { addPgproofFunction } from './pgproof-function.ts';

/** A Slack channel that AWS Chatbot (Amazon Q Developer in chat applications) is authorized for. */
export interface SlackChannel {
  /** The workspace id (`T...`), from the Chatbot console after authorizing the workspace. */
  readonly workspaceId: string;
  /** The channel id (`C...`); invite the `@Amazon Q` app to a private channel. */
  readonly channelId: string;
}

/** A Microsoft Teams channel that AWS Chatbot is authorized for (ids from the Chatbot console). */
export interface TeamsChannel {
  readonly teamId: string;
  readonly channelId: string;
  readonly tenantId: string;
}

/** Any HTTPS endpoint that takes a JSON POST, through an EventBridge API destination. */
export interface Webhook {
  /** Names the destination: letters, digits, "_" and "-". */
  readonly name: string;
  /**
   * The endpoint; it is in the template, so it must not itself be a secret (a Slack or Teams incoming
   * webhook URL is: use {@link ChatNotifications.slack} or {@link ChatNotifications.teams} for those).
   */
  readonly url: string;
  /**
   * A secret whose value is sent as the `Authorization` header (e.g. `Bearer ...`); EventBridge's
   * connection reads it at deployment, so it is never in the template.
   * @default - no Authorization header (a connection needs one header: `X-Pgproof-Source: pgproof` is sent)
   */
  readonly authorizationSecret?: secretsmanager.ISecret;
}

/** Where pgproof events go for people, besides the bus. */
export interface ChatNotifications {
  /** @default - no Slack channel */
  readonly slack?: SlackChannel;
  /** @default - no Teams channel */
  readonly teams?: TeamsChannel;
  /** @default - no webhooks */
  readonly webhooks?: readonly Webhook[];
  /**
   * Also send Backup Succeeded and Drill Passed.
   * @default false - failures and overdue backups and drills only: what needs a person
   */
  readonly includeSuccesses?: boolean;
}

/** Props of {@link BackupEvents}. */
export interface BackupEventsProps {
  /** The backups: the function reads manifests and drill reports (and decrypts them through S3). */
  readonly vault: IBackupVault;
  /**
   * Key prefix of all backups (`BACKUP_PREFIX`).
   * @default '' - backups start at the bucket's root
   */
  readonly prefix?: string;
  /** The cluster backup tasks run in: its failed backup tasks become Backup Failed. */
  readonly cluster: ecs.ICluster;
  /** The drill workflow: each execution that ends becomes one Drill Passed or Drill Failed. */
  readonly drillStateMachine: sfn.IStateMachine;
  /** @default - events go to the bus only */
  readonly chat?: ChatNotifications;
  /** @default logs.RetentionDays.THREE_MONTHS */
  readonly logRetention?: logs.RetentionDays;
}

/**
 * Every backup and drill outcome as a pgproof event on the account's default EventBridge bus
 * (core/events.ts): rules on what S3, ECS, Step Functions and CloudWatch say send it to one function
 * that reads the manifest or report and puts the event. Alarms are watched once registered
 * ({@link watchRpoAlarm}, {@link watchDrillOverdueAlarm}). With `chat`, the events that need a person
 * go to Slack or Teams through AWS Chatbot, and to webhooks through API destinations. The bucket must
 * send its events to EventBridge (`eventBridgeEnabled`).
 */
export class BackupEvents extends Construct {
  /** Turns AWS events into pgproof events. */
  public readonly function: lambda.Function;
  /** A manifest written under the prefix. */
  public readonly manifestWrittenRule: events.Rule;
  /** A backup task that stopped with a non-zero exit or did not start. */
  public readonly backupTaskFailedRule: events.Rule;
  /** A drill execution that ended. */
  public readonly drillEndedRule: events.Rule;
  /** The chat topic AWS Chatbot reads; undefined without Slack or Teams. */
  public readonly chatTopic?: sns.Topic;
  /**
   * Fires when the function failed to publish (after Lambda's own retries an outcome may be lost to the
   * bus and chat); route it to a person, as PgproofBackups does to the alerts topic.
   */
  public readonly errorsAlarm: cloudwatch.Alarm;
  private overdueRule?: events.Rule;
  private readonly watched = new Set<string>();

  constructor(scope: Construct, id: string, props: BackupEventsProps) {
    super(scope, id);
    const prefix = props.prefix ?? '';
    const chat = props.chat ?? {};
    validateChat(chat);
    const bucket = props.vault.bucket;

    const publish = addPgproofFunction(this, 'Publish', {
      file: 'publish-events.ts',
      description: 'pgproof: puts each backup and drill outcome on the default event bus',
      logRetention: props.logRetention ?? logs.RetentionDays.THREE_MONTHS,
      environment: {
        BACKUP_BUCKET: bucket.bucketName,
        BACKUP_PREFIX: prefix,
        CLUSTER_ARN: props.cluster.clusterArn,
        DRILL_STATE_MACHINE_ARN: props.drillStateMachine.stateMachineArn,
      },
    });
    this.function = publish.function;
    this.errorsAlarm = addErrorCountAlarm(
      this,
      'PublishErrorsAlarm',
      this.function.metricErrors({ period: Duration.minutes(5), statistic: 'Sum' }),
      {
        description:
          "pgproof: publishing a backup or drill outcome as an event failed; the event bus and chat may have missed it (the alarms did not). Check the events function's log.",
      },
    );
    props.vault.grantManifestRead(publish.role, prefix);
    props.vault.grantReportRead(publish.role, prefix);
    // A drill that wrote no report must answer 404, not 403: S3 says which only to a role that may list.
    props.vault.grantList(publish.role);
    props.drillStateMachine.grantExecution(publish.role, 'states:GetExecutionHistory');
    const stack = Stack.of(this);
    publish.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['events:PutEvents'],
        resources: [stack.formatArn({ service: 'events', resource: 'event-bus', resourceName: 'default' })],
        conditions: { StringEquals: { 'events:source': EVENT_SOURCE } },
      }),
    );
    acknowledgeWildcards(
      publish.role,
      'The function reads manifests and drill reports named at run time, and the history of drill executions started at run time.',
      {
        resources: [
          bucket.arnForObjects(`${prefix}*/${MANIFEST_FILE}`),
          bucket.arnForObjects(`${drillReportsPrefix(prefix)}*`),
          drillExecutions(props.drillStateMachine),
        ],
      },
    );

    const target = new targets.LambdaFunction(this.function);
    this.manifestWrittenRule = new events.Rule(this, 'ManifestWrittenRule', {
      description: 'pgproof: a backup manifest was written (a backup succeeded)',
      eventPattern: {
        source: ['aws.s3'],
        detailType: ['Object Created'],
        detail: {
          bucket: { name: [bucket.bucketName] },
          object: { key: events.Match.wildcard(`${prefix}*/${MANIFEST_FILE}`) },
        },
      },
      targets: [target],
    });
    this.backupTaskFailedRule = new events.Rule(this, 'BackupTaskFailedRule', {
      description: 'pgproof: a backup task stopped with a non-zero exit code or did not start',
      eventPattern: failedBackupTaskPattern(props.cluster),
      targets: [target],
    });
    this.drillEndedRule = new events.Rule(this, 'DrillEndedRule', {
      description: 'pgproof: a restore drill execution ended',
      eventPattern: {
        source: ['aws.states'],
        detailType: ['Step Functions Execution Status Change'],
        detail: {
          stateMachineArn: [props.drillStateMachine.stateMachineArn],
          status: ['SUCCEEDED', 'FAILED', 'TIMED_OUT', 'ABORTED'],
        },
      },
      targets: [target],
    });

    const detailTypes = chat.includeSuccesses ? Object.values(DETAIL_TYPES) : [...PROBLEM_DETAIL_TYPES];
    if (chat.slack || chat.teams) this.chatTopic = this.addChat(chat, detailTypes);
    for (const webhook of chat.webhooks ?? []) this.addWebhook(webhook, detailTypes);
  }

  /**
   * Puts Backup Overdue when `alarm` (a {@link DatabaseBackup}'s RPO alarm) goes into ALARM. The event's
   * database comes from the alarm's own metric, which must be `BackupSucceeded` of `database`.
   */
  watchRpoAlarm(database: string, alarm: cloudwatch.Alarm): void {
    this.watch(database, alarm, METRICS.backupSucceeded, 'watchRpoAlarm');
  }

  /** Puts Drill Overdue when `alarm` (a drill overdue alarm: `DrillPassed` of `database`) goes into ALARM. */
  watchDrillOverdueAlarm(database: string, alarm: cloudwatch.Alarm): void {
    this.watch(database, alarm, METRICS.drillPassed, 'watchDrillOverdueAlarm');
  }

  private watch(database: string, alarm: cloudwatch.Alarm, metricName: string, method: string): void {
    if (!isDatabaseName(database))
      throw new Error(`${method}: 'database' ${DATABASE_NAME_RULE}, got "${database}"`);
    const stat = alarm.metric?.toMetricConfig().metricStat;
    const dimension = stat?.dimensions?.find((d) => d.name === DATABASE_DIMENSION)?.value;
    if (stat?.namespace !== METRICS_NAMESPACE || stat.metricName !== metricName || dimension !== database) {
      throw new Error(
        `${method}: the alarm ${alarm.node.path} must watch the metric ${METRICS_NAMESPACE}/${metricName} of "${database}" (its ${DATABASE_DIMENSION} dimension), got ${stat ? `${stat.namespace}/${stat.metricName} of "${dimension}"` : 'a math expression'}; pass the alarm made for that database`,
      );
    }
    if (this.watched.has(alarm.node.path)) return;
    this.watched.add(alarm.node.path);
    // Created with the first alarm: a rule cannot match an empty list of resources.
    this.overdueRule ??= new events.Rule(this, 'OverdueRule', {
      description: 'pgproof: an RPO or drill overdue alarm went into ALARM',
      eventPattern: {
        source: ['aws.cloudwatch'],
        detailType: ['CloudWatch Alarm State Change'],
        detail: { state: { value: ['ALARM'] } },
      },
      targets: [new targets.LambdaFunction(this.function)],
    });
    this.overdueRule.addEventPattern({ resources: [alarm.alarmArn] });
  }

  /**
   * The chat topic, encrypted with its own key (EventBridge cannot publish to a topic under the
   * AWS-managed key), fed by a rule that turns each event into an AWS Chatbot custom notification,
   * and the Slack and Teams channels reading it.
   */
  private addChat(chat: ChatNotifications, detailTypes: readonly string[]): sns.Topic {
    const key = new kms.Key(this, 'ChatKey', {
      description: 'pgproof: encrypts the chat notifications topic',
      enableKeyRotation: true,
      // It encrypts messages in flight only: nothing stored needs it once the topic is gone.
      removalPolicy: RemovalPolicy.DESTROY,
    });
    key.grant(new iam.ServicePrincipal('events.amazonaws.com'), 'kms:Decrypt', 'kms:GenerateDataKey*');
    const topic = new sns.Topic(this, 'ChatTopic', {
      displayName: 'pgproof chat notifications',
      masterKey: key,
      enforceSSL: true,
    });
    const field = events.EventField.fromPath;
    new events.Rule(this, 'ChatRule', {
      description: 'pgproof: backup and drill events for the chat channels',
      eventPattern: { source: [EVENT_SOURCE], detailType: [...detailTypes] },
      targets: [
        new targets.SnsTopic(topic, {
          message: events.RuleTargetInput.fromObject({
            version: '1.0',
            source: 'custom',
            id: field('$.id'),
            content: {
              textType: 'client-markdown',
              title: `pgproof ${field('$.detail-type')}: ${field('$.detail.database')}`,
              description: field('$.detail.summary'),
              nextSteps: [field('$.detail.action'), field('$.detail.consoleUrl')],
              keywords: ['pgproof', field('$.detail.database')],
            },
          }),
        }),
      ],
    });

    // Notifications only: the channel's members can run nothing through this configuration.
    const role = new iam.Role(this, 'ChatRole', {
      assumedBy: new iam.ServicePrincipal('chatbot.amazonaws.com'),
      description: 'pgproof: AWS Chatbot channel role (notifications only, no permissions)',
    });
    const guardrail = new iam.ManagedPolicy(this, 'ChatGuardrail', {
      description: 'pgproof: chat channels may run nothing',
      statements: [new iam.PolicyStatement({ effect: iam.Effect.DENY, actions: ['*'], resources: ['*'] })],
    });
    const name = Names.uniqueResourceName(this, { maxLength: 100, separator: '-' });
    if (chat.slack) {
      new chatbot.SlackChannelConfiguration(this, 'Slack', {
        slackChannelConfigurationName: `${name}-slack`,
        slackWorkspaceId: chat.slack.workspaceId,
        slackChannelId: chat.slack.channelId,
        notificationTopics: [topic],
        role,
        guardrailPolicies: [guardrail],
        userRoleRequired: false,
      });
    }
    if (chat.teams) {
      new chatbot.CfnMicrosoftTeamsChannelConfiguration(this, 'Teams', {
        configurationName: `${name}-teams`,
        iamRoleArn: role.roleArn,
        teamId: chat.teams.teamId,
        teamsChannelId: chat.teams.channelId,
        teamsTenantId: chat.teams.tenantId,
        snsTopicArns: [topic.topicArn],
        guardrailPolicies: [guardrail.managedPolicyArn],
        userRoleRequired: false,
      });
    }
    return topic;
  }

  /** One webhook: a connection (its header from Secrets Manager), an API destination and a rule. */
  private addWebhook(webhook: Webhook, detailTypes: readonly string[]): void {
    const scope = new Construct(this, pascalCase(webhook.name));
    const connection = new events.Connection(scope, 'Connection', {
      description: `pgproof webhook ${webhook.name}`,
      authorization: webhook.authorizationSecret
        ? events.Authorization.apiKey('Authorization', webhook.authorizationSecret.secretValue)
        : // Not a secret: EventBridge needs one authorization header on every connection.
          events.Authorization.apiKey('X-Pgproof-Source', SecretValue.unsafePlainText(EVENT_SOURCE)),
    });
    const destination = new events.ApiDestination(scope, 'Destination', {
      description: `pgproof webhook ${webhook.name}`,
      connection,
      endpoint: webhook.url,
      httpMethod: events.HttpMethod.POST,
    });
    const field = events.EventField.fromPath;
    new events.Rule(scope, 'Rule', {
      description: `pgproof: backup and drill events for the webhook ${webhook.name}`,
      eventPattern: { source: [EVENT_SOURCE], detailType: [...detailTypes] },
      targets: [
        new targets.ApiDestination(destination, {
          event: events.RuleTargetInput.fromObject({
            text: `pgproof ${field('$.detail-type')}: ${field('$.detail.summary')} ${field('$.detail.action')} ${field('$.detail.consoleUrl')}`,
            detailType: field('$.detail-type'),
            detail: field('$.detail'),
          }),
        }),
      ],
    });
  }
}

/** The ARNs of every execution of `stateMachine`, as `grantExecution` grants them. */
function drillExecutions(stateMachine: sfn.IStateMachine): string {
  const stack = Stack.of(stateMachine);
  const { resourceName } = stack.splitArn(stateMachine.stateMachineArn, ArnFormat.COLON_RESOURCE_NAME);
  return `${stack.formatArn({ service: 'states', resource: 'execution', resourceName, arnFormat: ArnFormat.COLON_RESOURCE_NAME })}:*`;
}

/** Refuses chat settings that cannot work, naming the prop and the fix. */
function validateChat(chat: ChatNotifications): void {
  const teamsChannel = chat.teams?.channelId;
  if (teamsChannel !== undefined && !Token.isUnresolved(teamsChannel) && !/%3a.*%40/i.test(teamsChannel)) {
    throw new Error(
      `'chat.teams.channelId' must be URL-encoded as in the channel's link (19%3a...%40thread.tacv2), got "${teamsChannel}"; copy it from the AWS Chatbot console`,
    );
  }
  const names = new Set<string>();
  for (const webhook of chat.webhooks ?? []) {
    if (!/^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$/.test(webhook.name)) {
      throw new Error(
        `'chat.webhooks[].name' must be 1 to 40 letters, digits, "_" or "-", got "${webhook.name}"; name the webhook like "pagerduty"`,
      );
    }
    if (names.has(pascalCase(webhook.name))) {
      throw new Error(`'chat.webhooks[].name' must be unique, got "${webhook.name}" twice; rename one`);
    }
    names.add(pascalCase(webhook.name));
    if (!Token.isUnresolved(webhook.url) && !/^https:\/\/[^\s/]+/.test(webhook.url)) {
      throw new Error(
        `'chat.webhooks[].url' of "${webhook.name}" must be an https:// URL, got "${webhook.url}"; EventBridge calls only HTTPS endpoints`,
      );
    }
  }
}
