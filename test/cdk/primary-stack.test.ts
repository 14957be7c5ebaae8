import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Match, type Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBackupEventSchema } from '../../core/launch.ts';
import { STACK_OUTPUTS } from '../../core/stack-outputs.ts';
import {
  exampleConfigJson,
  joinToText,
  logicalIdsOf,
  type SynthesizedDeployment,
  synthesize,
} from './synth.ts';

/**
 * The example config (two databases, a new VPC) plus a backup prefix and an object lock mode, with
 * billing's drill left out: orders is drilled on its schedule, billing only on demand.
 */
const example = exampleConfigJson() as { databases: Record<string, unknown>[] };
const config = {
  ...example,
  backupPrefix: 'pg/',
  objectLockMode: 'COMPLIANCE',
  databases: example.databases.map(({ drill, ...db }) => (db.name === 'billing' ? db : { ...db, drill })),
};

let deployment: SynthesizedDeployment;
let template: Template;

beforeAll(() => {
  deployment = synthesize(config);
  template = deployment.primary;
});
afterAll(() => deployment.cleanup());

/** The one resource of `type` whose logical id contains `fragment`. */
function resource(
  type: string,
  fragment: string,
): { Properties: Record<string, unknown> } & Record<string, unknown> {
  const matches = Object.entries(template.findResources(type)).filter(([id]) => id.includes(fragment));
  expect(matches.map(([id]) => id)).toHaveLength(1);
  return matches[0]?.[1] as { Properties: Record<string, unknown> };
}

const bucketId = () =>
  logicalIdsOf(template, 'AWS::S3::Bucket').find((id) => id.startsWith('VaultBucket')) ?? '';
const keyId = () => logicalIdsOf(template, 'AWS::KMS::Key').find((id) => id.startsWith('VaultKey')) ?? '';
const topicRef = () => ({ Ref: logicalIdsOf(template, 'AWS::SNS::Topic')[0] });

describe('primary stack', () => {
  it('passes cdk-nag AwsSolutions with no unsuppressed finding', () => {
    expect(deployment.nagFindings).toEqual([]);
  });

  describe('key and backup bucket', () => {
    it('creates a customer-managed key with rotation, kept when the stack is deleted', () => {
      template.hasResource('AWS::KMS::Key', {
        Properties: { EnableKeyRotation: true, Description: 'pgproof: encrypts PostgreSQL backups' },
        DeletionPolicy: 'Retain',
        UpdateReplacePolicy: 'Retain',
      });
    });

    it('encrypts with that key and an S3 Bucket Key, blocks public access, versions, locks and logs access', () => {
      template.hasResource('AWS::S3::Bucket', {
        Properties: Match.objectLike({
          BucketEncryption: {
            ServerSideEncryptionConfiguration: [
              {
                BucketKeyEnabled: true,
                ServerSideEncryptionByDefault: {
                  SSEAlgorithm: 'aws:kms',
                  KMSMasterKeyID: { 'Fn::GetAtt': [keyId(), 'Arn'] },
                },
              },
            ],
          },
          PublicAccessBlockConfiguration: {
            BlockPublicAcls: true,
            BlockPublicPolicy: true,
            IgnorePublicAcls: true,
            RestrictPublicBuckets: true,
          },
          VersioningConfiguration: { Status: 'Enabled' },
          ObjectLockEnabled: true,
          ObjectLockConfiguration: {
            ObjectLockEnabled: 'Enabled',
            Rule: { DefaultRetention: { Mode: 'COMPLIANCE', Days: 1 } },
          },
          LoggingConfiguration: {
            DestinationBucketName: { Ref: Match.stringLikeRegexp('^VaultAccessLogs') },
            LogFilePrefix: 'backup-bucket/',
          },
        }),
        DeletionPolicy: 'Retain',
        UpdateReplacePolicy: 'Retain',
      });
    });

    it('denies every request without TLS', () => {
      template.hasResourceProperties('AWS::S3::BucketPolicy', {
        Bucket: { Ref: bucketId() },
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({
              Effect: 'Deny',
              Action: 's3:*',
              Principal: { AWS: '*' },
              Condition: { Bool: { 'aws:SecureTransport': 'false' } },
            }),
          ]),
        },
      });
    });

    it('keeps server access logs in a retained, encrypted, private bucket of their own', () => {
      template.hasResource('AWS::S3::Bucket', {
        Properties: Match.objectLike({
          BucketEncryption: {
            ServerSideEncryptionConfiguration: [
              { ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } },
            ],
          },
          PublicAccessBlockConfiguration: Match.objectLike({
            BlockPublicAcls: true,
            RestrictPublicBuckets: true,
          }),
        }),
        DeletionPolicy: 'Retain',
      });
    });
  });

  describe('rotation', () => {
    const rules = () =>
      (resource('AWS::S3::Bucket', 'VaultBucket').Properties.LifecycleConfiguration as { Rules: unknown[] })
        .Rules;

    it('expires each tier of each database after its retention, by prefix and tier tag', () => {
      expect(rules()).toEqual(
        expect.arrayContaining([
          {
            Id: 'pg/orders/daily',
            Prefix: 'pg/orders/',
            TagFilters: [{ Key: 'pgproof:tier', Value: 'daily' }],
            ExpirationInDays: 7,
            Status: 'Enabled',
          },
          {
            Id: 'pg/orders/weekly',
            Prefix: 'pg/orders/',
            TagFilters: [{ Key: 'pgproof:tier', Value: 'weekly' }],
            ExpirationInDays: 35,
            Status: 'Enabled',
          },
          {
            Id: 'pg/billing/daily',
            Prefix: 'pg/billing/',
            TagFilters: [{ Key: 'pgproof:tier', Value: 'daily' }],
            ExpirationInDays: 14,
            Status: 'Enabled',
          },
        ]),
      );
      // Four tiers per database, the drill reports, and the bucket-wide rule.
      expect(rules()).toHaveLength(2 * 4 + 2);
    });

    it('moves monthly and yearly backups to cheaper storage first', () => {
      expect(rules()).toEqual(
        expect.arrayContaining([
          {
            Id: 'pg/orders/monthly',
            Prefix: 'pg/orders/',
            TagFilters: [{ Key: 'pgproof:tier', Value: 'monthly' }],
            ExpirationInDays: 372,
            Transitions: [{ StorageClass: 'GLACIER_IR', TransitionInDays: 30 }],
            Status: 'Enabled',
          },
          {
            Id: 'pg/billing/yearly',
            Prefix: 'pg/billing/',
            TagFilters: [{ Key: 'pgproof:tier', Value: 'yearly' }],
            ExpirationInDays: 3653,
            Transitions: [
              { StorageClass: 'GLACIER_IR', TransitionInDays: 30 },
              { StorageClass: 'DEEP_ARCHIVE', TransitionInDays: 365 },
            ],
            Status: 'Enabled',
          },
        ]),
      );
    });

    it('aborts incomplete multipart uploads after a day and expires noncurrent versions', () => {
      expect(rules()).toContainEqual({
        Id: 'incomplete-uploads-and-old-versions',
        AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 },
        NoncurrentVersionExpiration: { NoncurrentDays: 7 },
        ExpiredObjectDeleteMarker: true,
        Status: 'Enabled',
      });
    });
  });

  describe('replication', () => {
    it('replicates every SSE-KMS object to the replica bucket under the replica key, without delete markers', () => {
      const replication = resource('AWS::S3::Bucket', 'VaultBucket').Properties.ReplicationConfiguration;
      expect(replication).toMatchObject({
        Rules: [
          {
            Id: 'replicate-backups',
            Status: 'Enabled',
            Priority: 0,
            Filter: { Prefix: '' },
            DeleteMarkerReplication: { Status: 'Disabled' },
            SourceSelectionCriteria: { SseKmsEncryptedObjects: { Status: 'Enabled' } },
            Destination: {
              Bucket: 'arn:aws:s3:::pgproof-replica-123456789012-eu-central-1',
              EncryptionConfiguration: {
                ReplicaKmsKeyID: {
                  'Fn::GetStackOutput': { StackName: 'Pgproof-Replica', Region: 'eu-central-1' },
                },
              },
              Metrics: { Status: 'Enabled' },
            },
          },
        ],
      });
    });

    it('lets the replication role read object locks and write only to the replica', () => {
      template.hasResourceProperties('AWS::IAM::Policy', {
        Roles: [{ Ref: Match.stringLikeRegexp('^VaultReplicationRole') }],
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({
              Action: Match.arrayWith(['s3:GetObjectLegalHold', 's3:GetObjectRetention']),
            }),
            {
              Action: ['s3:ReplicateObject', 's3:ReplicateTags'],
              Effect: 'Allow',
              Resource: 'arn:aws:s3:::pgproof-replica-123456789012-eu-central-1/*',
            },
          ]),
        },
      });
    });

    it('alarms on failed replication', () => {
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Namespace: 'AWS/S3',
        MetricName: 'OperationsFailedReplication',
        Dimensions: Match.arrayWith([{ Name: 'RuleId', Value: 'replicate-backups' }]),
        ComparisonOperator: 'GreaterThanThreshold',
        Threshold: 0,
        AlarmActions: [topicRef()],
      });
    });
  });

  describe('network', () => {
    it('runs tasks in isolated subnets: no internet or NAT gateway, flow logs on', () => {
      template.resourceCountIs('AWS::EC2::InternetGateway', 0);
      template.resourceCountIs('AWS::EC2::NatGateway', 0);
      template.resourceCountIs('AWS::EC2::Subnet', 2);
      template.allResourcesProperties('AWS::EC2::Subnet', { MapPublicIpOnLaunch: false });
      template.resourceCountIs('AWS::EC2::FlowLog', 1);
    });

    it('reaches S3 through a gateway endpoint and ECR, Secrets Manager and Logs through interface endpoints', () => {
      template.hasResourceProperties('AWS::EC2::VPCEndpoint', {
        VpcEndpointType: 'Gateway',
        ServiceName: { 'Fn::Join': ['', ['com.amazonaws.', { Ref: 'AWS::Region' }, '.s3']] },
      });
      const services = Object.values(
        template.findResources('AWS::EC2::VPCEndpoint', { Properties: { VpcEndpointType: 'Interface' } }),
      )
        .map((r) => String((r as { Properties: { ServiceName: string } }).Properties.ServiceName))
        .sort();
      expect(services).toEqual([
        'com.amazonaws.eu-west-1.ecr.api',
        'com.amazonaws.eu-west-1.ecr.dkr',
        'com.amazonaws.eu-west-1.logs',
        'com.amazonaws.eu-west-1.secretsmanager',
      ]);
      template.hasResourceProperties('AWS::EC2::SecurityGroup', {
        GroupDescription: 'pgproof interface endpoints: HTTPS from pgproof tasks',
      });
      template.hasResourceProperties('AWS::EC2::SecurityGroupIngress', {
        FromPort: 443,
        ToPort: 443,
        GroupId: { 'Fn::GetAtt': [Match.stringLikeRegexp('^NetworkEndpointSecurityGroup'), 'GroupId'] },
        SourceSecurityGroupId: {
          'Fn::GetAtt': [Match.stringLikeRegexp('^NetworkTaskSecurityGroup'), 'GroupId'],
        },
      });
    });

    it('opens the database security group to the backup task on the database port', () => {
      template.hasResourceProperties('AWS::EC2::SecurityGroupIngress', {
        GroupId: 'sg-0123456789abcdef0',
        IpProtocol: 'tcp',
        FromPort: 5432,
        ToPort: 5432,
        SourceSecurityGroupId: {
          'Fn::GetAtt': [Match.stringLikeRegexp('^DatabaseOrdersSecurityGroup'), 'GroupId'],
        },
      });
      template.resourceCountIs('AWS::EC2::SecurityGroupIngress', 2);
    });
  });

  describe('backup tasks', () => {
    it('runs in a cluster with Container Insights', () => {
      template.hasResourceProperties('AWS::ECS::Cluster', {
        ClusterSettings: [{ Name: 'containerInsights', Value: 'enabled' }],
      });
    });

    it('defines one ARM64 Fargate task per database with its size', () => {
      // Plus the restore drill's, one per configured PostgreSQL major (15, 16, 17).
      template.resourceCountIs('AWS::ECS::TaskDefinition', 2 + 3);
      expect(
        logicalIdsOf(template, 'AWS::ECS::TaskDefinition').filter((id) => !id.startsWith('RestoreDrillTask')),
      ).toEqual([
        expect.stringMatching(/^DatabaseOrdersTask/),
        expect.stringMatching(/^DatabaseBillingTask/),
      ]);
      template.hasResourceProperties('AWS::ECS::TaskDefinition', {
        Cpu: '1024',
        Memory: '2048',
        EphemeralStorage: { SizeInGiB: 50 },
        RequiresCompatibilities: ['FARGATE'],
        RuntimePlatform: { CpuArchitecture: 'ARM64', OperatingSystemFamily: 'LINUX' },
      });
      template.hasResourceProperties('AWS::ECS::TaskDefinition', { Cpu: '2048', Memory: '4096' });
    });

    it('configures the runner by the environment contract, with credentials only as secrets', () => {
      const [container] = resource('AWS::ECS::TaskDefinition', 'DatabaseOrders').Properties
        .ContainerDefinitions as [
        {
          Environment: { Name: string; Value: unknown }[];
          Secrets: unknown;
          Name: string;
          LogConfiguration: unknown;
        },
      ];
      const environment = Object.fromEntries(container.Environment.map((e) => [e.Name, e.Value]));
      expect(environment).toEqual({
        PGHOST: 'orders.cluster-abc123.eu-west-1.rds.amazonaws.com',
        PGPORT: '5432',
        PGSSLMODE: 'verify-full',
        PGDATABASE: 'orders',
        BACKUP_BUCKET: { Ref: bucketId() },
        BACKUP_PREFIX: 'pg/',
        BACKUP_NAME: 'orders',
        KMS_KEY_ID: { 'Fn::GetAtt': [keyId(), 'Arn'] },
        BACKUP_TIER: 'daily',
        RETENTION_DAYS: '7',
        OBJECT_LOCK_MODE: 'COMPLIANCE',
        EXCLUDE_TABLES: 'public.audit_log',
        DUMP_GLOBALS: 'true',
        VERIFY: 'counts',
      });
      expect(container.Name).toBe('pg-dump');
      expect(container.Secrets).toEqual([
        {
          Name: 'PGUSER',
          ValueFrom: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:pgproof/orders-AbCdEf:username::',
        },
        {
          Name: 'PGPASSWORD',
          ValueFrom: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:pgproof/orders-AbCdEf:password::',
        },
      ]);
      expect(container.LogConfiguration).toMatchObject({
        LogDriver: 'awslogs',
        Options: { 'awslogs-group': { Ref: expect.stringMatching(/^DatabaseOrdersLogs/) } },
      });
    });

    it('passes the selections and verify level of the second database', () => {
      const [container] = resource('AWS::ECS::TaskDefinition', 'DatabaseBilling').Properties
        .ContainerDefinitions as [{ Environment: { Name: string; Value: unknown }[] }];
      expect(container.Environment).toEqual(
        expect.arrayContaining([
          { Name: 'INCLUDE_SCHEMAS', Value: 'public,ledger' },
          { Name: 'VERIFY', Value: 'checksums' },
          { Name: 'RETENTION_DAYS', Value: '14' },
        ]),
      );
    });

    it('keeps task logs for three months', () => {
      template.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 90 });
      template.allResourcesProperties('AWS::Logs::LogGroup', { RetentionInDays: Match.anyValue() });
    });

    it('builds the runner image from containers/pg-dump/Dockerfile at the repository root, for ARM64', () => {
      const manifest = JSON.parse(
        readFileSync(join(deployment.outdir, 'Pgproof-Primary.assets.json'), 'utf8'),
      ) as {
        dockerImages: Record<
          string,
          { source: { dockerFile?: string; platform?: string; directory: string } }
        >;
      };
      const images = Object.values(manifest.dockerImages).map((image) => image.source);
      expect(images).toEqual([
        expect.objectContaining({ dockerFile: 'containers/pg-dump/Dockerfile', platform: 'linux/arm64' }),
      ]);
    });

    it('lets the task write and read only its own prefix, use the key through S3, and delete nothing', () => {
      template.hasResourceProperties('AWS::IAM::Policy', {
        Roles: [{ Ref: Match.stringLikeRegexp('^DatabaseOrdersTaskTaskRole') }],
        PolicyDocument: {
          Statement: [
            {
              Action: [
                's3:AbortMultipartUpload',
                's3:GetObject',
                's3:PutObject',
                's3:PutObjectRetention',
                's3:PutObjectTagging',
              ],
              Effect: 'Allow',
              Resource: { 'Fn::Join': ['', [{ 'Fn::GetAtt': [bucketId(), 'Arn'] }, '/pg/orders/*']] },
            },
            { Action: 's3:ListBucket', Effect: 'Allow', Resource: { 'Fn::GetAtt': [bucketId(), 'Arn'] } },
            {
              Action: ['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey'],
              Condition: { StringEquals: { 'kms:ViaService': 's3.eu-west-1.amazonaws.com' } },
              Effect: 'Allow',
              Resource: { 'Fn::GetAtt': [keyId(), 'Arn'] },
            },
          ],
        },
      });
      const actions = JSON.stringify(template.findResources('AWS::IAM::Policy'));
      expect(actions).not.toMatch(/s3:Delete|s3:\*|s3:BypassGovernanceRetention/);
    });
  });

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
});
