import { Match, type Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SynthesizedDeployment, synthesize } from '../synth.ts';
import { PRIMARY_TEST_CONFIG, primaryTemplateQueries } from './fixture.ts';

/** The {@link BackupVault} parts of the primary stack, synthesized from the test config. */
let deployment: SynthesizedDeployment;
let template: Template;
beforeAll(() => {
  deployment = synthesize(PRIMARY_TEST_CONFIG);
  template = deployment.primary;
});
afterAll(() => deployment?.cleanup());
const { bucketId, keyId, resource, topicRef } = primaryTemplateQueries(() => template);

describe('primary stack: BackupVault', () => {
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
});
