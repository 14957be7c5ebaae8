import { Match, type Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBackupEventSchema } from '../../../core/launch.ts';
import { joinToText, logicalIdsOf, type SynthesizedDeployment, synthesize } from '../synth.ts';
import { PRIMARY_TEST_CONFIG, primaryTemplateQueries } from './fixture.ts';

/** The {@link BackupLauncher} parts of the primary stack, synthesized from the test config. */
let deployment: SynthesizedDeployment;
let template: Template;
beforeAll(() => {
  deployment = synthesize(PRIMARY_TEST_CONFIG);
  template = deployment.primary;
});
afterAll(() => deployment?.cleanup());
const { bucketId, resource, topicRef } = primaryTemplateQueries(() => template);

describe('primary stack: BackupLauncher', () => {
  describe('launcher and schedules', () => {
    it('runs the launcher on Node.js 24, ARM64, with the cluster, subnets and bucket', () => {
      template.hasResourceProperties('AWS::Lambda::Function', {
        Runtime: 'nodejs24.x',
        Architectures: ['arm64'],
        Handler: 'index.handler',
        Environment: {
          Variables: {
            CLUSTER_ARN: { 'Fn::GetAtt': [Match.stringLikeRegexp('^Cluster'), 'Arn'] },
            SUBNET_IDS: {
              'Fn::Join': [
                '',
                [{ Ref: Match.stringLikeRegexp('Subnet1') }, ',', { Ref: Match.stringLikeRegexp('Subnet2') }],
              ],
            },
            BACKUP_BUCKET: { Ref: bucketId() },
            BACKUP_PREFIX: 'pg/',
          },
        },
      });
    });

    it('lets the launcher start exactly the backup task definitions and see the cluster tasks', () => {
      template.hasResourceProperties('AWS::IAM::Policy', {
        Roles: [{ Ref: Match.stringLikeRegexp('^LauncherRole') }],
        PolicyDocument: {
          Statement: Match.arrayWith([
            {
              Action: ['ecs:DescribeTasks', 'ecs:ListTasks'],
              Condition: {
                ArnEquals: { 'ecs:cluster': { 'Fn::GetAtt': [Match.stringLikeRegexp('^Cluster'), 'Arn'] } },
              },
              Effect: 'Allow',
              Resource: '*',
            },
            {
              Action: 'ecs:RunTask',
              Effect: 'Allow',
              Resource: [
                { Ref: Match.stringLikeRegexp('^DatabaseBillingTask') },
                { Ref: Match.stringLikeRegexp('^DatabaseOrdersTask') },
              ],
            },
          ]),
        },
      });
    });

    it('schedules each database with its cron, time zone, retries and dead-letter queue', () => {
      // Plus the drill schedule of orders (billing has no drill).
      template.resourceCountIs('AWS::Scheduler::Schedule', 2 + 1);
      expect(
        logicalIdsOf(template, 'AWS::Scheduler::Schedule', {
          Properties: {
            Target: { Arn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^LauncherFunction'), 'Arn'] } },
          },
        }),
      ).toHaveLength(2);
      template.hasResourceProperties('AWS::Scheduler::Schedule', {
        ScheduleExpression: 'cron(30 */6 * * ? *)',
        ScheduleExpressionTimezone: 'America/New_York',
        FlexibleTimeWindow: { Mode: 'OFF' },
        Target: Match.objectLike({
          Arn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^LauncherFunction'), 'Arn'] },
          RetryPolicy: { MaximumRetryAttempts: 3, MaximumEventAgeInSeconds: 3600 },
          DeadLetterConfig: {
            Arn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^LauncherDeadLetterQueue'), 'Arn'] },
          },
        }),
      });
    });

    it('sends a payload the launcher accepts, with the scheduled time filled in by the Scheduler', () => {
      const target = resource('AWS::Scheduler::Schedule', 'DatabaseOrders').Properties.Target as {
        Input: unknown;
      };
      const text = joinToText(target.Input, (reference) => {
        const id = String(reference.Ref ?? (reference['Fn::GetAtt'] as string[] | undefined)?.[0]);
        return id.includes('SecurityGroup')
          ? `sg-${id.includes('Network') ? 'shared' : 'own'}`
          : `arn:aws:ecs:eu-west-1:123456789012:task-definition/${id}:1`;
      });
      const payload = JSON.parse(text) as Record<string, unknown>;
      expect(payload.scheduledTime).toBe('<aws.scheduler.scheduled-time>');
      const parsed = startBackupEventSchema.parse({ ...payload, scheduledTime: '2026-03-10T01:00:00Z' });
      expect(parsed).toMatchObject({
        database: 'orders',
        timeZone: 'Europe/Berlin',
        containerName: 'pg-dump',
        securityGroupIds: ['sg-own', 'sg-shared'],
        retentionDays: { daily: 7, weekly: 35, monthly: 372, yearly: 2562 },
      });
    });

    it('keeps failed schedule deliveries in an encrypted queue and alarms on them', () => {
      template.hasResourceProperties('AWS::SQS::Queue', {
        SqsManagedSseEnabled: true,
        MessageRetentionPeriod: 1209600,
      });
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Namespace: 'AWS/SQS',
        MetricName: 'ApproximateNumberOfMessagesVisible',
        Threshold: 1,
        AlarmActions: [topicRef()],
      });
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Namespace: 'AWS/Lambda',
        MetricName: 'Errors',
        AlarmActions: [topicRef()],
      });
    });
  });
});
