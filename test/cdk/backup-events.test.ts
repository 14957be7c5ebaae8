import { Duration, type Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { beforeAll, describe, expect, it } from 'vitest';
import { BackupEvents, type BackupEventsProps } from '../../cdk/constructs/backup-events.ts';
import { BackupVault } from '../../cdk/constructs/backup-vault.ts';
import { databaseMetricDimensions } from '../../core/telemetry.ts';
import { bareStacks } from './bare-stack.ts';

const stacks = bareStacks();

const TEAM = '0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d';
const TENANT = '1b2c3d4e-5f6a-4b7c-9d8e-0f1a2b3c4d5e';
const CHANNEL = '19%3a0123456789abcdef%40thread.tacv2';

/** A bucket, key, cluster and drill state machine, as bare as the construct allows. */
function resources(scope: Stack) {
  const key = new kms.Key(scope, 'Key', { enableKeyRotation: true });
  const bucket = new s3.Bucket(scope, 'Bucket', {
    encryptionKey: key,
    enforceSSL: true,
    eventBridgeEnabled: true,
    serverAccessLogsPrefix: 'logs/',
  });
  const vpc = new ec2.Vpc(scope, 'Vpc', { natGateways: 0 });
  const cluster = new ecs.Cluster(scope, 'Cluster', {
    vpc,
    containerInsightsV2: ecs.ContainerInsights.ENABLED,
  });
  const drillStateMachine = new sfn.StateMachine(scope, 'Drill', {
    definitionBody: sfn.DefinitionBody.fromChainable(new sfn.Pass(scope, 'Nothing')),
  });
  return { vault: BackupVault.fromBucketAndKey(bucket, key), cluster, drillStateMachine };
}

/** An alarm on a pgproof metric of one database, as DatabaseBackup and the drill alarms make them. */
function alarm(scope: Stack, id: string, metricName: string, database: string): cloudwatch.Alarm {
  return new cloudwatch.Alarm(scope, id, {
    metric: new cloudwatch.Metric({
      namespace: 'pgproof',
      metricName,
      dimensionsMap: databaseMetricDimensions(database),
      statistic: 'Sum',
      period: Duration.hours(1),
    }),
    threshold: 1,
    evaluationPeriods: 24,
    comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
  });
}

function nagFindings(scope: Stack): string[] {
  return new AwsSolutionsChecks()
    .validateScope(scope.node.root)
    .violations.flatMap((violation) =>
      violation.violatingResources.map(
        (resource) => `${violation.ruleName} at ${(resource as { constructPath?: string }).constructPath}`,
      ),
    )
    .filter((finding) => finding.includes('/Events/'));
}

describe('BackupEvents', () => {
  describe('on the bus only, with two databases watched', () => {
    let scope: Stack;
    let template: Template;
    let bucketName: unknown;
    beforeAll(() => {
      scope = stacks();
      const events = new BackupEvents(scope, 'Events', { ...resources(scope), prefix: 'pg/' });
      events.watchRpoAlarm('orders', alarm(scope, 'OrdersRpo', 'BackupSucceeded', 'orders'));
      events.watchRpoAlarm('users', alarm(scope, 'UsersRpo', 'BackupSucceeded', 'users'));
      events.watchDrillOverdueAlarm('orders', alarm(scope, 'OrdersOverdue', 'DrillPassed', 'orders'));
      template = Template.fromStack(scope);
      bucketName = { Ref: Match.stringLikeRegexp('^Bucket') };
    });

    it('sends manifests written under the prefix to the function', () => {
      template.hasResourceProperties('AWS::Events::Rule', {
        EventPattern: {
          source: ['aws.s3'],
          'detail-type': ['Object Created'],
          detail: { bucket: { name: [bucketName] }, object: { key: [{ wildcard: 'pg/*/manifest.json' }] } },
        },
        Targets: [
          Match.objectLike({
            Arn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^EventsPublishFunction'), 'Arn'] },
          }),
        ],
      });
    });

    it("alarms on the function's errors: an outcome it failed to publish reaches a person", () => {
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        MetricName: 'Errors',
        Namespace: 'AWS/Lambda',
        Dimensions: [
          { Name: 'FunctionName', Value: { Ref: Match.stringLikeRegexp('^EventsPublishFunction') } },
        ],
        Statistic: 'Sum',
        Period: 300,
        Threshold: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      });
    });

    it('sends backup tasks that failed, and drill executions that ended, to the function', () => {
      template.hasResourceProperties('AWS::Events::Rule', {
        EventPattern: {
          source: ['aws.ecs'],
          'detail-type': ['ECS Task State Change'],
          detail: {
            clusterArn: [{ 'Fn::GetAtt': [Match.stringLikeRegexp('^Cluster'), 'Arn'] }],
            lastStatus: ['STOPPED'],
            startedBy: [{ prefix: 'pgproof-' }],
            $or: [{ containers: { exitCode: [{ 'anything-but': 0 }] } }, { stopCode: ['TaskFailedToStart'] }],
          },
        },
      });
      template.hasResourceProperties('AWS::Events::Rule', {
        EventPattern: {
          source: ['aws.states'],
          'detail-type': ['Step Functions Execution Status Change'],
          detail: {
            stateMachineArn: [{ Ref: Match.stringLikeRegexp('^Drill') }],
            status: ['SUCCEEDED', 'FAILED', 'TIMED_OUT', 'ABORTED'],
          },
        },
      });
    });

    it('sends the watched alarms, and only those, going into ALARM to the function', () => {
      const arn = (prefix: string) => ({ 'Fn::GetAtt': [Match.stringLikeRegexp(`^${prefix}`), 'Arn'] });
      template.hasResourceProperties('AWS::Events::Rule', {
        EventPattern: {
          source: ['aws.cloudwatch'],
          'detail-type': ['CloudWatch Alarm State Change'],
          detail: { state: { value: ['ALARM'] } },
          resources: [arn('OrdersRpo'), arn('UsersRpo'), arn('OrdersOverdue')],
        },
      });
    });

    it('gives the function what it reads and PutEvents of source pgproof on the default bus only', () => {
      template.hasResourceProperties('AWS::Lambda::Function', {
        Environment: {
          Variables: Match.objectLike({
            BACKUP_BUCKET: bucketName,
            BACKUP_PREFIX: 'pg/',
            CLUSTER_ARN: { 'Fn::GetAtt': [Match.stringLikeRegexp('^Cluster'), 'Arn'] },
            DRILL_STATE_MACHINE_ARN: { Ref: Match.stringLikeRegexp('^Drill') },
          }),
        },
      });
      const statements = Object.values(template.findResources('AWS::IAM::Policy'))
        .filter((policy) => JSON.stringify(policy).includes('EventsPublishRole'))
        .flatMap((policy) => policy.Properties.PolicyDocument.Statement);
      expect(statements).toContainEqual({
        Effect: 'Allow',
        Action: 'events:PutEvents',
        Resource: 'arn:aws:events:eu-west-1:123456789012:event-bus/default',
        Condition: { StringEquals: { 'events:source': 'pgproof' } },
      });
      expect(statements).toContainEqual(expect.objectContaining({ Action: 'states:GetExecutionHistory' }));
      const objectReads = statements
        .filter((s) => s.Action === 's3:GetObject')
        .map((s) => JSON.stringify(s.Resource));
      expect(objectReads).toHaveLength(1);
      expect(objectReads[0]).toContain('"/pg/*/manifest.json"');
      expect(objectReads[0]).toContain('"/pg/drills/*"');
      expect(JSON.stringify(statements)).not.toMatch(/"events:\*"|"s3:\*"|"s3:PutObject/);
    });

    it('makes no chat resources without chat', () => {
      template.resourceCountIs('AWS::SNS::Topic', 0);
      template.resourceCountIs('AWS::Chatbot::SlackChannelConfiguration', 0);
      template.resourceCountIs('AWS::Events::ApiDestination', 0);
    });

    it('passes cdk-nag AwsSolutions with no unsuppressed finding', () => {
      expect(nagFindings(scope)).toEqual([]);
    });
  });

  it('makes no alarm rule until an alarm is watched', () => {
    const scope = stacks();
    new BackupEvents(scope, 'Events', resources(scope));
    const template = Template.fromStack(scope);
    expect(JSON.stringify(template.findResources('AWS::Events::Rule'))).not.toContain('aws.cloudwatch');
    template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: Match.objectLike({
        detail: Match.objectLike({ object: { key: [{ wildcard: '*/manifest.json' }] } }),
      }),
    });
  });

  it('rejects an alarm that does not watch the database it is registered for', () => {
    const scope = stacks();
    const events = new BackupEvents(scope, 'Events', resources(scope));
    expect(() =>
      events.watchRpoAlarm('orders', alarm(scope, 'UsersRpo', 'BackupSucceeded', 'users')),
    ).toThrow(
      `watchRpoAlarm: the alarm Test/UsersRpo must watch the metric pgproof/BackupSucceeded of "orders" (its Database dimension), got pgproof/BackupSucceeded of "users"; pass the alarm made for that database`,
    );
    expect(() =>
      events.watchDrillOverdueAlarm('orders', alarm(scope, 'OrdersRpo', 'BackupSucceeded', 'orders')),
    ).toThrow(
      'watchDrillOverdueAlarm: the alarm Test/OrdersRpo must watch the metric pgproof/DrillPassed of "orders"',
    );
  });

  describe('with Slack, Teams and a webhook', () => {
    let scope: Stack;
    let template: Template;
    beforeAll(() => {
      scope = stacks();
      const chat: BackupEventsProps['chat'] = {
        slack: { workspaceId: 'T0123ABCD', channelId: 'C0123ABCD' },
        teams: { teamId: TEAM, channelId: CHANNEL, tenantId: TENANT },
        webhooks: [
          {
            name: 'pager',
            url: 'https://events.example.com/pgproof',
            authorizationSecret: secretsmanager.Secret.fromSecretCompleteArn(
              scope,
              'PagerToken',
              'arn:aws:secretsmanager:eu-west-1:123456789012:secret:pager-token-AbCdEf',
            ),
          },
        ],
      };
      new BackupEvents(scope, 'Events', { ...resources(scope), chat });
      template = Template.fromStack(scope);
    });

    it('turns failures and overdue events into AWS Chatbot custom notifications on an encrypted topic', () => {
      template.hasResourceProperties('AWS::SNS::Topic', {
        KmsMasterKeyId: { 'Fn::GetAtt': [Match.stringLikeRegexp('^EventsChatKey'), 'Arn'] },
      });
      const [rule] = Object.values(
        template.findResources('AWS::Events::Rule', {
          Properties: {
            EventPattern: { source: ['pgproof'] },
            Targets: [{ Arn: { Ref: Match.stringLikeRegexp('^EventsChatTopic') } }],
          },
        }),
      );
      expect(rule?.Properties.EventPattern).toEqual({
        source: ['pgproof'],
        'detail-type': ['Backup Failed', 'Drill Failed', 'Backup Overdue', 'Drill Overdue'],
      });
      const transformer = rule?.Properties.Targets[0].InputTransformer;
      expect(transformer.InputPathsMap).toEqual({
        id: '$.id',
        'detail-type': '$.detail-type',
        'detail-database': '$.detail.database',
        'detail-summary': '$.detail.summary',
        'detail-action': '$.detail.action',
        'detail-consoleUrl': '$.detail.consoleUrl',
      });
      // Filled in as EventBridge does: a variable standing as a JSON value becomes a JSON string, one inside a string its text.
      const values: Record<string, string> = {
        id: 'e1',
        'detail-type': 'Backup Failed',
        'detail-database': 'orders',
        'detail-summary': 'Backup of orders FAILED',
        'detail-action': 'Read the log',
        'detail-consoleUrl': 'https://console',
      };
      const filled = (transformer.InputTemplate as string)
        .replace(
          /([:[,])<([\w.-]+)>/g,
          (_, before: string, name: string) => before + JSON.stringify(values[name]),
        )
        .replace(/<([\w.-]+)>/g, (_, name: string) => values[name] ?? '');
      expect(JSON.parse(filled)).toEqual({
        version: '1.0',
        source: 'custom',
        id: 'e1',
        content: {
          textType: 'client-markdown',
          title: 'pgproof Backup Failed: orders',
          description: 'Backup of orders FAILED',
          nextSteps: ['Read the log', 'https://console'],
          keywords: ['pgproof', 'orders'],
        },
      });
    });

    it('subscribes Slack and Teams channels that may run nothing', () => {
      const topic = { Ref: Match.stringLikeRegexp('^EventsChatTopic') };
      const guardrail = [{ Ref: Match.stringLikeRegexp('^EventsChatGuardrail') }];
      template.hasResourceProperties('AWS::Chatbot::SlackChannelConfiguration', {
        SlackWorkspaceId: 'T0123ABCD',
        SlackChannelId: 'C0123ABCD',
        SnsTopicArns: [topic],
        GuardrailPolicies: guardrail,
        UserRoleRequired: false,
      });
      template.hasResourceProperties('AWS::Chatbot::MicrosoftTeamsChannelConfiguration', {
        TeamId: TEAM,
        TeamsChannelId: CHANNEL,
        TeamsTenantId: TENANT,
        SnsTopicArns: [topic],
        GuardrailPolicies: guardrail,
      });
      template.hasResourceProperties('AWS::IAM::ManagedPolicy', {
        PolicyDocument: { Statement: [{ Effect: 'Deny', Action: '*', Resource: '*' }] },
      });
    });

    it('calls the webhook through an API destination whose header comes from Secrets Manager', () => {
      template.hasResourceProperties('AWS::Events::ApiDestination', {
        InvocationEndpoint: 'https://events.example.com/pgproof',
        HttpMethod: 'POST',
      });
      template.hasResourceProperties('AWS::Events::Connection', {
        AuthorizationType: 'API_KEY',
        AuthParameters: {
          ApiKeyAuthParameters: {
            ApiKeyName: 'Authorization',
            ApiKeyValue:
              '{{resolve:secretsmanager:arn:aws:secretsmanager:eu-west-1:123456789012:secret:pager-token-AbCdEf:SecretString:::}}',
          },
        },
      });
      template.hasResourceProperties('AWS::Events::Rule', {
        EventPattern: { source: ['pgproof'], 'detail-type': Match.arrayWith(['Backup Failed']) },
        Targets: [
          Match.objectLike({
            Arn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^EventsPagerDestination'), 'Arn'] },
            InputTransformer: Match.objectLike({
              InputTemplate: Match.stringLikeRegexp('"detail":<detail>'),
            }),
          }),
        ],
      });
    });

    it('passes cdk-nag AwsSolutions with no unsuppressed finding', () => {
      expect(nagFindings(scope)).toEqual([]);
    });
  });

  it('rejects a Teams channel id copied without URL encoding', () => {
    const scope = stacks();
    const teams = { teamId: TEAM, tenantId: TENANT, channelId: '19:0123456789abcdef@thread.tacv2' };
    expect(() => new BackupEvents(scope, 'Events', { ...resources(scope), chat: { teams } })).toThrow(
      `'chat.teams.channelId' must be URL-encoded as in the channel's link (19%3a...%40thread.tacv2), got "19:0123456789abcdef@thread.tacv2"; copy it from the AWS Chatbot console`,
    );
  });

  it('rejects a webhook that is not HTTPS, or named twice', () => {
    const scope = stacks();
    const webhook = { name: 'pager', url: 'http://events.example.com' };
    expect(
      () => new BackupEvents(scope, 'Events', { ...resources(scope), chat: { webhooks: [webhook] } }),
    ).toThrow(
      `'chat.webhooks[].url' of "pager" must be an https:// URL, got "http://events.example.com"; EventBridge calls only HTTPS endpoints`,
    );
    const twice = [
      { name: 'pager', url: 'https://a.example.com' },
      { name: 'Pager', url: 'https://b.example.com' },
    ];
    const other = stacks();
    expect(
      () => new BackupEvents(other, 'Events', { ...resources(other), chat: { webhooks: twice } }),
    ).toThrow(`'chat.webhooks[].name' must be unique, got "Pager" twice; rename one`);
  });
});
