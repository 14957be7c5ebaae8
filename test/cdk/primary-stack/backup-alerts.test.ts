import { Match, type Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SynthesizedDeployment, synthesize } from '../synth.ts';
import { PRIMARY_TEST_CONFIG, primaryTemplateQueries } from './fixture.ts';

/** The {@link BackupAlerts and BackupDashboard} parts of the primary stack, synthesized from the test config. */
let deployment: SynthesizedDeployment;
let template: Template;
beforeAll(() => {
  deployment = synthesize(PRIMARY_TEST_CONFIG);
  template = deployment.primary;
});
afterAll(() => deployment?.cleanup());
const { resource, topicRef } = primaryTemplateQueries(() => template);

describe('primary stack: BackupAlerts and BackupDashboard', () => {
  describe('alerts and dashboard', () => {
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

    it('alarms per database when no backup succeeded within its RPO, missing data included', () => {
      for (const [database, hours] of [
        ['orders', 26],
        ['billing', 7],
      ] as const) {
        template.hasResourceProperties('AWS::CloudWatch::Alarm', {
          Namespace: 'pgproof',
          MetricName: 'BackupSucceeded',
          Dimensions: [
            { Name: 'Database', Value: database },
            { Name: 'service', Value: 'pgproof' },
          ],
          Statistic: 'Sum',
          Period: 3600,
          EvaluationPeriods: hours,
          DatapointsToAlarm: hours,
          Threshold: 1,
          ComparisonOperator: 'LessThanThreshold',
          TreatMissingData: 'breaching',
          AlarmActions: [topicRef()],
          OKActions: [topicRef()],
        });
      }
    });

    it('shows last backup, size and duration per database on a dashboard', () => {
      const body = JSON.stringify(
        resource('AWS::CloudWatch::Dashboard', 'Dashboard').Properties.DashboardBody,
      );
      for (const text of [
        'BackupSucceeded = 1',
        'lastSuccessfulBackup',
        'BackupBytes',
        'BackupDurationSeconds',
        '"orders"',
        '"billing"',
      ]) {
        expect(body).toContain(text.replaceAll('"', '\\"'));
      }
    });
  });
});
