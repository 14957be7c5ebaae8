import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Match, type Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STACK_OUTPUTS } from '../../core/stack-outputs.ts';
import { logicalIdsOf, type SynthesizedDeployment, synthesize } from './synth.ts';
import { PRIMARY_TEST_CONFIG } from './test-config.ts';

let deployment: SynthesizedDeployment;
let template: Template;

beforeAll(() => {
  deployment = synthesize(PRIMARY_TEST_CONFIG);
  template = deployment.primary;
});
afterAll(() => deployment?.cleanup());

/** The one resource of `type` whose logical id contains `fragment`. */
function resource(type: string, fragment: string): { Properties: Record<string, unknown> } {
  const matches = Object.entries(template.findResources(type)).filter(([id]) => id.includes(fragment));
  expect(matches.map(([id]) => id)).toHaveLength(1);
  return matches[0]?.[1] as { Properties: Record<string, unknown> };
}
const bucketId = () =>
  logicalIdsOf(template, 'AWS::S3::Bucket').find((id) => id.startsWith('VaultBucket')) ?? '';
const keyId = () => logicalIdsOf(template, 'AWS::KMS::Key').find((id) => id.startsWith('VaultKey')) ?? '';
const topicRef = () => ({ Ref: logicalIdsOf(template, 'AWS::SNS::Topic')[0] });

/**
 * The stacks' wiring, from one synth of the test config: each construct's own resources are tested
 * on a bare stack in its own file (backup-vault.test.ts, database-backup.test.ts, ...).
 */
describe('primary stack', () => {
  it('passes cdk-nag AwsSolutions with no unsuppressed finding', () => {
    expect(deployment.nagFindings).toEqual([]);
  });

  it('exposes what the restore drill wires into', () => {
    const { primary } = deployment.stacks;
    expect(primary.vault.bucket).toBeDefined();
    expect(primary.vault.key).toBeDefined();
    expect(primary.cluster).toBeDefined();
    expect(primary.network.vpc).toBeDefined();
    expect(primary.network.taskSecurityGroup).toBeDefined();
    expect(primary.alerts.topic).toBeDefined();
    expect(primary.restoreDrill.stateMachine).toBeDefined();
    // The toBeDefined checks above hold by type; these fail if the drill is wired to something else.
    expect(primary.restoreDrill.securityGroup).toBe(primary.network.taskSecurityGroup);
    expect(primary.restoreDrill.taskDefinitions.size).toBe(3);
    for (const task of primary.restoreDrill.taskDefinitions.values()) {
      expect(task.taskRole).toBe(primary.restoreDrill.taskRole);
    }
    // Every configured database can be drilled, each with its own role.
    expect([...primary.restoreDrill.databaseTaskRoles.keys()]).toEqual(['orders', 'billing']);
  });

  it('outputs what the pgproof CLI looks the deployment up by', () => {
    const outputs = template.toJSON().Outputs as Record<string, { Value: unknown }>;
    expect(outputs.BackupBucketName?.Value).toEqual({ Ref: bucketId() });
    expect(outputs.BackupPrefix?.Value).toBe('pg/');
    expect(JSON.stringify(outputs.LauncherFunctionName?.Value)).toContain('LauncherFunction');
    const schedules = JSON.stringify(outputs.BackupSchedules?.Value);
    for (const text of [
      'orders',
      'billing',
      'DatabaseOrdersSchedule',
      'DatabaseBillingSchedule',
      'default',
    ]) {
      expect(schedules).toContain(text);
    }
  });

  it('runs the backup tasks in a cluster with Container Insights', () => {
    template.hasResourceProperties('AWS::ECS::Cluster', {
      ClusterSettings: [{ Name: 'containerInsights', Value: 'enabled' }],
    });
  });

  it("adds up the constructs: a task and a schedule per database, plus the drill's, and one database ingress", () => {
    // Plus the restore drill's, one per configured PostgreSQL major (15, 16, 17).
    template.resourceCountIs('AWS::ECS::TaskDefinition', 2 + 3);
    // Plus the drill schedule of orders (billing has no drill).
    template.resourceCountIs('AWS::Scheduler::Schedule', 2 + 1);
    // The interface endpoints' HTTPS rule and orders' database port.
    template.resourceCountIs('AWS::EC2::SecurityGroupIngress', 2);
  });

  it('builds the runner image from containers/pg-dump/Dockerfile at the repository root, for ARM64', () => {
    const manifest = JSON.parse(
      readFileSync(join(deployment.outdir, 'Pgproof-Primary.assets.json'), 'utf8'),
    ) as {
      dockerImages: Record<string, { source: { dockerFile?: string; platform?: string; directory: string } }>;
    };
    const images = Object.values(manifest.dockerImages).map((image) => image.source);
    expect(images).toEqual([
      expect.objectContaining({ dockerFile: 'containers/pg-dump/Dockerfile', platform: 'linux/arm64' }),
    ]);
  });

  it('lets no principal delete backups', () => {
    const actions = JSON.stringify(template.findResources('AWS::IAM::Policy'));
    expect(actions).not.toMatch(/s3:Delete|s3:\*|s3:BypassGovernanceRetention/);
  });

  it("lets no principal but KeepProvenBackup and the break-glass role change a legal hold on a database's backups", () => {
    const policy = resource('AWS::S3::BucketPolicy', 'VaultBucketPolicy');
    const statements = (policy.Properties.PolicyDocument as { Statement: Record<string, unknown>[] })
      .Statement;
    const guard = statements.find((s) => s.Sid === 'DenyLegalHoldChangesExceptProvenBackups');
    expect(guard).toMatchObject({
      Effect: 'Deny',
      Principal: { AWS: '*' },
      Action: 's3:PutObjectLegalHold',
    });
    const guarded = JSON.stringify(guard?.Resource);
    expect(guarded).toContain('"/pg/orders/*"');
    expect(guarded).toContain('"/pg/billing/*"');
    const allowed = JSON.stringify(
      (guard?.Condition as Record<string, Record<string, unknown>> | undefined)?.ArnNotLike,
    );
    expect(allowed).toMatch(/KeepProvenBackup/);
    expect(allowed).toContain(':role/pgproof-break-glass');
  });

  it('alerts on any call to delete, disable or re-police the vault key or the replica key', () => {
    template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: {
        source: ['aws.kms'],
        'detail-type': ['AWS API Call via CloudTrail'],
        detail: {
          eventSource: ['kms.amazonaws.com'],
          eventName: ['ScheduleKeyDeletion', 'DisableKey', 'PutKeyPolicy'],
          resources: {
            ARN: [
              { 'Fn::GetAtt': [keyId(), 'Arn'] },
              {
                'Fn::GetStackOutput': Match.objectLike({
                  StackName: 'Pgproof-Replica',
                  Region: 'eu-central-1',
                }),
              },
            ],
          },
        },
      },
      Targets: [
        Match.objectLike({
          Arn: topicRef(),
          InputTransformer: Match.objectLike({
            InputTemplate: Match.stringLikeRegexp('pgproof ALERT: <detail-eventName> on backup key'),
          }),
        }),
      ],
    });
  });

  it("replicates under the replica stack's key, read from its output in the replica region", () => {
    const replication = resource('AWS::S3::Bucket', 'VaultBucket').Properties.ReplicationConfiguration;
    expect(replication).toMatchObject({
      Rules: [
        {
          Destination: {
            Bucket: 'arn:aws:s3:::pgproof-replica-123456789012-eu-central-1',
            EncryptionConfiguration: {
              ReplicaKmsKeyID: {
                'Fn::GetStackOutput': { StackName: 'Pgproof-Replica', Region: 'eu-central-1' },
              },
            },
          },
        },
      ],
    });
  });

  it('routes the alarms of the vault, the backups and the launcher to the alerts topic', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/S3',
      MetricName: 'OperationsFailedReplication',
      AlarmActions: [topicRef()],
    });
    for (const database of ['orders', 'billing']) {
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        MetricName: 'BackupSucceeded',
        Dimensions: [
          { Name: 'Database', Value: database },
          { Name: 'service', Value: 'pgproof' },
        ],
        AlarmActions: [topicRef()],
        OKActions: [topicRef()],
      });
    }
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/SQS',
      MetricName: 'ApproximateNumberOfMessagesVisible',
      AlarmActions: [topicRef()],
    });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/Lambda',
      MetricName: 'Errors',
      AlarmActions: [topicRef()],
    });
  });

  it("gives the launcher and the backup tasks the vault's bucket and key", () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: Match.objectLike({ BACKUP_BUCKET: { Ref: bucketId() }, BACKUP_PREFIX: 'pg/' }),
      },
    });
    const [container] = resource('AWS::ECS::TaskDefinition', 'DatabaseOrders').Properties
      .ContainerDefinitions as [{ Environment: { Name: string; Value: unknown }[] }];
    expect(container.Environment).toEqual(
      expect.arrayContaining([
        { Name: 'BACKUP_BUCKET', Value: { Ref: bucketId() } },
        { Name: 'KMS_KEY_ID', Value: { 'Fn::GetAtt': [keyId(), 'Arn'] } },
      ]),
    );
  });

  describe('restore drill', () => {
    const stateMachineRef = () => ({
      Ref: logicalIdsOf(template, 'AWS::StepFunctions::StateMachine').find((id) =>
        id.startsWith('RestoreDrillStateMachine'),
      ),
    });
    /** The drill task role of database `name` (one per configured database). */
    const drillTaskRoleId = (name: string) =>
      Object.keys(
        template.findResources('AWS::IAM::Role', {
          Properties: { Description: Match.stringLikeRegexp(`restore drill task of ${name} `) },
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

    it('gives each configured database a drill role that reads only its backups and writes only its reports', () => {
      const bucketArn = { 'Fn::GetAtt': [bucketId(), 'Arn'] };
      for (const name of ['orders', 'billing']) {
        template.hasResourceProperties('AWS::IAM::Policy', {
          Roles: [{ Ref: drillTaskRoleId(name) }],
          PolicyDocument: {
            Statement: [
              {
                Effect: 'Allow',
                Action: 's3:ListBucket',
                Resource: bucketArn,
                Condition: { StringLike: { 's3:prefix': [`pg/${name}/*`] } },
              },
              {
                Effect: 'Allow',
                Action: ['s3:GetObject', 's3:GetObjectVersion'],
                Resource: { 'Fn::Join': ['', [bucketArn, `/pg/${name}/*`]] },
              },
              {
                Effect: 'Allow',
                Action: 's3:PutObject',
                Resource: { 'Fn::Join': ['', [bucketArn, `/pg/drills/${name}/*`]] },
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
        // That policy is the role's only one: no delete, no other prefix.
        expect(
          logicalIdsOf(template, 'AWS::IAM::Policy', {
            Properties: { Roles: [{ Ref: drillTaskRoleId(name) }] },
          }),
        ).toHaveLength(1);
      }
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
