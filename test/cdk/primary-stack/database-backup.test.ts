import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Match, type Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { logicalIdsOf, type SynthesizedDeployment, synthesize } from '../synth.ts';
import { PRIMARY_TEST_CONFIG, primaryTemplateQueries } from './fixture.ts';

/** The {@link DatabaseBackup} parts of the primary stack, synthesized from the test config. */
let deployment: SynthesizedDeployment;
let template: Template;
beforeAll(() => {
  deployment = synthesize(PRIMARY_TEST_CONFIG);
  template = deployment.primary;
});
afterAll(() => deployment?.cleanup());
const { bucketId, keyId, resource } = primaryTemplateQueries(() => template);

describe('primary stack: DatabaseBackup', () => {
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
});
