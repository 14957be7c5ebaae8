import { Match, type Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STACK_OUTPUTS } from '../../../core/stack-outputs.ts';
import { logicalIdsOf, type SynthesizedDeployment, synthesize } from '../synth.ts';
import { PRIMARY_TEST_CONFIG, primaryTemplateQueries } from './fixture.ts';

/** The {@link RestoreDrill} parts of the primary stack, synthesized from the test config. */
let deployment: SynthesizedDeployment;
let template: Template;
beforeAll(() => {
  deployment = synthesize(PRIMARY_TEST_CONFIG);
  template = deployment.primary;
});
afterAll(() => deployment?.cleanup());
const { bucketId, keyId, resource, topicRef } = primaryTemplateQueries(() => template);

describe('primary stack: RestoreDrill', () => {
  describe('restore drill', () => {
    const stateMachineRef = () => ({
      Ref: logicalIdsOf(template, 'AWS::StepFunctions::StateMachine').find((id) =>
        id.startsWith('RestoreDrillStateMachine'),
      ),
    });
    const drillTaskRoleId = () =>
      Object.keys(
        template.findResources('AWS::IAM::Role', {
          Properties: { Description: Match.stringLikeRegexp('restore drill task') },
        }),
      )[0] ?? '';

    it('creates one drill state machine, logging every event and traced', () => {
      template.resourceCountIs('AWS::StepFunctions::StateMachine', 1);
      template.hasResourceProperties('AWS::StepFunctions::StateMachine', {
        StateMachineType: 'STANDARD',
        TracingConfiguration: { Enabled: true },
        LoggingConfiguration: Match.objectLike({ Level: 'ALL', IncludeExecutionData: true }),
      });
    });

    it('schedules the drill of each database with a drill in the config, in its time zone', () => {
      const drillSchedules = template.findResources('AWS::Scheduler::Schedule', {
        Properties: { Target: { Arn: stateMachineRef() } },
      });
      expect(
        Object.values(drillSchedules).map((s) => {
          const p = (s as { Properties: Record<string, unknown> }).Properties;
          return [p.ScheduleExpression, p.ScheduleExpressionTimezone, (p.Target as { Input: string }).Input];
        }),
      ).toEqual([['cron(0 5 ? * SUN *)', 'Europe/Berlin', JSON.stringify({ database: 'orders' })]]);
    });

    it("gives ResolveBackup each database's drill settings: billing without a drill has no RTO", () => {
      template.hasResourceProperties('AWS::Lambda::Function', {
        Environment: {
          Variables: Match.objectLike({
            BACKUP_PREFIX: 'pg/',
            DRILL_DATABASES: JSON.stringify({
              orders: {
                rtoMinutes: 60,
                checks: [
                  {
                    name: 'yesterday has orders',
                    sql: "select count(*) > 0 from public.orders where created_at >= now() - interval '2 days'",
                  },
                ],
              },
              billing: { checks: [] },
            }),
            DRILL_TASKS: Match.anyValue(),
          }),
        },
      });
    });

    it('provides a scratch server of each configured PostgreSQL major', () => {
      const images = Object.values(template.findResources('AWS::ECS::TaskDefinition'))
        .flatMap(
          (t) =>
            (t as { Properties: { ContainerDefinitions: { Name: string; Image: unknown }[] } }).Properties
              .ContainerDefinitions,
        )
        .filter((c) => c.Name === 'postgres')
        .map((c) => c.Image);
      expect(images).toEqual(
        [15, 16, 17].map((major) => ({
          'Fn::Join': [
            '',
            [
              '123456789012.dkr.ecr.eu-west-1.',
              { Ref: 'AWS::URLSuffix' },
              `/pgproof-ecr-public/docker/library/postgres:${major}`,
            ],
          ],
        })),
      );
    });

    it('pulls the scratch servers through an ECR cache of ECR Public (no internet route needed)', () => {
      template.hasResourceProperties('AWS::ECR::PullThroughCacheRule', {
        EcrRepositoryPrefix: 'pgproof-ecr-public',
        UpstreamRegistryUrl: 'public.ecr.aws',
      });
      const policies = JSON.stringify(template.findResources('AWS::IAM::Policy'));
      expect(policies).toContain('ecr:BatchImportUpstreamImage');
      expect(policies).toContain(':repository/pgproof-ecr-public/*');
    });

    it('runs the restore runner from the backup image, in the network subnets with the shared task group', () => {
      template.hasResourceProperties('AWS::ECS::TaskDefinition', {
        ContainerDefinitions: Match.arrayWith([
          Match.objectLike({ Name: 'restore-runner', Command: ['node', '/app/pg-restore.mjs'] }),
        ]),
        RuntimePlatform: { CpuArchitecture: 'ARM64', OperatingSystemFamily: 'LINUX' },
      });
      const definition = JSON.stringify(
        resource('AWS::StepFunctions::StateMachine', 'RestoreDrillStateMachine').Properties.DefinitionString,
      );
      const sharedGroup = logicalIdsOf(template, 'AWS::EC2::SecurityGroup').find((id) =>
        id.startsWith('NetworkTaskSecurityGroup'),
      );
      expect(sharedGroup).toBeDefined();
      expect(definition).toContain(`"Fn::GetAtt":["${sharedGroup}","GroupId"]`);
      expect(definition).toContain('"AssignPublicIp\\":\\"DISABLED');
      for (const subnet of logicalIdsOf(template, 'AWS::EC2::Subnet')) {
        expect(definition).toContain(`"Ref":"${subnet}"`);
      }
      // No group of its own: the interface endpoints admit only the shared one.
      expect(
        logicalIdsOf(template, 'AWS::EC2::SecurityGroup').filter((id) => id.startsWith('RestoreDrill')),
      ).toEqual([]);
    });

    it('lets the drill task read backups and decrypt them, and write only reports under drills/', () => {
      const bucketArn = { 'Fn::GetAtt': [bucketId(), 'Arn'] };
      template.hasResourceProperties('AWS::IAM::Policy', {
        Roles: [{ Ref: drillTaskRoleId() }],
        PolicyDocument: {
          Statement: [
            {
              Effect: 'Allow',
              Action: 's3:GetObject',
              Resource: { 'Fn::Join': ['', [bucketArn, '/pg/*']] },
            },
            {
              Effect: 'Allow',
              Action: 's3:PutObject',
              Resource: { 'Fn::Join': ['', [bucketArn, '/pg/drills/*']] },
            },
            {
              Effect: 'Allow',
              Action: ['kms:Decrypt', 'kms:GenerateDataKey'],
              Resource: { 'Fn::GetAtt': [keyId(), 'Arn'] },
              Condition: { StringEquals: { 'kms:ViaService': 's3.eu-west-1.amazonaws.com' } },
            },
          ],
        },
      });
      // That policy is the role's only one: no delete, no list, no other prefix.
      expect(
        logicalIdsOf(template, 'AWS::IAM::Policy', { Properties: { Roles: [{ Ref: drillTaskRoleId() }] } }),
      ).toHaveLength(1);
    });

    it('notifies the alerts topic once on a failed drill and when it recovers', () => {
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Metrics: Match.arrayWith([Match.objectLike({ Expression: 'failed + timedOut + aborted' })]),
        AlarmActions: [topicRef()],
        OKActions: [topicRef()],
      });
    });

    it('alarms when orders had no passed drill for 7 days, and not for billing, which has no drill', () => {
      const overdue = template.findResources('AWS::CloudWatch::Alarm', {
        Properties: { MetricName: 'DrillPassed' },
      });
      expect(Object.values(overdue)).toEqual([
        {
          Type: 'AWS::CloudWatch::Alarm',
          Properties: expect.objectContaining({
            Dimensions: [
              { Name: 'Database', Value: 'orders' },
              { Name: 'service', Value: 'pgproof' },
            ],
            EvaluationPeriods: 7,
            DatapointsToAlarm: 7,
            TreatMissingData: 'breaching',
            AlarmActions: [topicRef()],
            OKActions: [topicRef()],
          }),
        },
      ]);
    });

    it('shows the drill alarms on the dashboard', () => {
      const body = JSON.stringify(
        resource('AWS::CloudWatch::Dashboard', 'Dashboard').Properties.DashboardBody,
      );
      for (const alarm of logicalIdsOf(template, 'AWS::CloudWatch::Alarm').filter((id) =>
        id.startsWith('RestoreDrill'),
      )) {
        expect(body).toContain(`"${alarm}","Arn"`);
      }
    });

    it('expires drill reports under drills/ after 400 days, whatever their tags', () => {
      const rules = (
        resource('AWS::S3::Bucket', 'VaultBucket').Properties.LifecycleConfiguration as { Rules: unknown[] }
      ).Rules;
      expect(rules).toContainEqual({
        Id: 'drill-reports',
        Prefix: 'pg/drills/',
        ExpirationInDays: 400,
        Status: 'Enabled',
      });
    });

    it('outputs the state machine ARN for the CLI', () => {
      const outputs = template.toJSON().Outputs as Record<string, { Value: unknown }>;
      expect(outputs[STACK_OUTPUTS.stateMachine]?.Value).toEqual(stateMachineRef());
    });
  });
});
