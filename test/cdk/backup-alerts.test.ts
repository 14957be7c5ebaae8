import { Match, Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import { beforeAll, describe, expect, it } from 'vitest';
import { BackupAlerts } from '../../cdk/constructs/backup-alerts.ts';
import { bareStacks } from './bare-stack.ts';

const stack = bareStacks();

describe('BackupAlerts', () => {
  it('rejects an alert address that is not an email', () => {
    const scope = stack();
    const cluster = new ecs.Cluster(scope, 'Cluster', { vpc: new ec2.Vpc(scope, 'Vpc', { natGateways: 0 }) });
    expect(() => new BackupAlerts(scope, 'Alerts', { cluster, emails: ['oncall'] })).toThrow(
      `'emails' must hold email addresses, got "oncall"; use one like "oncall@example.com"`,
    );
  });

  describe('alerts of a backup cluster, to one address', () => {
    let template: Template;
    let topicRef: () => unknown;
    beforeAll(() => {
      const scope = stack();
      const cluster = new ecs.Cluster(scope, 'Cluster', {
        vpc: new ec2.Vpc(scope, 'Vpc', { natGateways: 0 }),
      });
      const alerts = new BackupAlerts(scope, 'Alerts', { cluster, emails: ['oncall@example.com'] });
      template = Template.fromStack(scope);
      topicRef = () => scope.resolve(alerts.topic.topicArn);
    });

    it('sends alerts to an encrypted topic with the configured email subscription', () => {
      template.hasResourceProperties('AWS::SNS::Topic', {
        KmsMasterKeyId: { 'Fn::GetAtt': [Match.stringLikeRegexp('^AlertsKey'), 'Arn'] },
      });
      template.hasResourceProperties('AWS::SNS::Subscription', {
        Protocol: 'email',
        Endpoint: 'oncall@example.com',
      });
      template.hasResourceProperties('AWS::KMS::Key', {
        EnableKeyRotation: true,
        KeyPolicy: {
          Statement: Match.arrayWith([
            Match.objectLike({
              Principal: { Service: ['cloudwatch.amazonaws.com', 'events.amazonaws.com'] },
              Action: ['kms:Decrypt', 'kms:GenerateDataKey*'],
            }),
          ]),
        },
      });
    });

    it("lets CloudWatch and EventBridge publish, and use the topic's key, only for this account's alarms and rules", () => {
      const denies = [
        {
          sid: 'DenyForeignAlarms',
          service: 'cloudwatch.amazonaws.com',
          arn: 'arn:aws:cloudwatch:eu-west-1:123456789012:alarm:*',
        },
        {
          sid: 'DenyForeignRules',
          service: 'events.amazonaws.com',
          arn: 'arn:aws:events:eu-west-1:123456789012:rule/*',
        },
      ];
      for (const deny of denies) {
        const Condition = {
          StringNotEqualsIfExists: { 'aws:SourceAccount': '123456789012' },
          ArnNotLikeIfExists: { 'aws:SourceArn': deny.arn },
        };
        template.hasResourceProperties('AWS::SNS::TopicPolicy', {
          PolicyDocument: {
            Statement: Match.arrayWith([
              {
                Sid: deny.sid,
                Effect: 'Deny',
                Principal: { Service: deny.service },
                Action: 'sns:Publish',
                Resource: topicRef(),
                Condition,
              },
            ]),
          },
        });
        template.hasResourceProperties('AWS::KMS::Key', {
          KeyPolicy: {
            Statement: Match.arrayWith([
              {
                Sid: deny.sid,
                Effect: 'Deny',
                Principal: { Service: deny.service },
                Action: ['kms:Decrypt', 'kms:GenerateDataKey*'],
                Resource: '*',
                Condition,
              },
            ]),
          },
        });
      }
    });

    it('turns a backup task that stops with a non-zero exit into a readable message', () => {
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
        Targets: [
          Match.objectLike({
            Arn: topicRef(),
            InputTransformer: Match.objectLike({
              InputPathsMap: Match.objectLike({ 'detail-startedBy': '$.detail.startedBy' }),
              InputTemplate: Match.stringLikeRegexp(
                'pgproof backup FAILED: <detail-startedBy> stopped with exit code',
              ),
            }),
          }),
        ],
      });
    });
  });
});
