import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BackupVault } from '../../cdk/constructs/backup-vault.ts';
import { retentionDays } from '../../core/config.ts';
import { databasePrefix } from '../../core/layout.ts';
import { cdkJsonContext, logicalIdsOf } from './synth.ts';
import { testDatabases } from './test-config.ts';

// An App makes its outdir when constructed, even if nothing is synthesized: keep them all in one temp dir.
const outdirs = mkdtempSync(join(tmpdir(), 'pgproof-constructs-'));
afterAll(() => rmSync(outdirs, { recursive: true, force: true }));
const stack = () =>
  new Stack(new App({ outdir: mkdtempSync(join(outdirs, 'app-')), context: cdkJsonContext() }), 'Test', {
    env: { account: '123456789012', region: 'eu-west-1' },
  });
const retention = { daily: 7, weekly: 35, monthly: 372, yearly: 2562 };
const REPLICA_BUCKET = 'pgproof-replica-123456789012-eu-central-1';
const REPLICA_KEY_ARN = 'arn:aws:kms:eu-central-1:123456789012:key/replica';

/** A vault as the primary stack makes it: the test databases under `pg/`, drill reports, a replica. */
let vault: BackupVault;
let template: Template;
beforeAll(() => {
  const scope = stack();
  vault = new BackupVault(scope, 'Vault', {
    objectLockMode: 'COMPLIANCE',
    rotation: testDatabases().map((db) => ({
      prefix: databasePrefix('pg/', db.name),
      retentionDays: retentionDays(db),
    })),
    drillReports: { prefix: 'pg/drills/' },
    replica: {
      bucket: s3.Bucket.fromBucketAttributes(scope, 'ReplicaBucket', {
        bucketName: REPLICA_BUCKET,
        region: 'eu-central-1',
      }),
      key: kms.Key.fromKeyArn(scope, 'ReplicaKey', REPLICA_KEY_ARN),
    },
  });
  template = Template.fromStack(scope);
});
const bucketId = () =>
  logicalIdsOf(template, 'AWS::S3::Bucket').find((id) => id.startsWith('VaultBucket')) ?? '';
const keyId = () => logicalIdsOf(template, 'AWS::KMS::Key').find((id) => id.startsWith('VaultKey')) ?? '';
/** The one resource of `type` whose logical id contains `fragment`. */
function resource(type: string, fragment: string): { Properties: Record<string, unknown> } {
  const matches = Object.entries(template.findResources(type)).filter(([id]) => id.includes(fragment));
  expect(matches.map(([id]) => id)).toHaveLength(1);
  return matches[0]?.[1] as { Properties: Record<string, unknown> };
}

describe('BackupVault', () => {
  describe('key and backup bucket', () => {
    it('creates a customer-managed key with rotation, kept when the stack is deleted', () => {
      template.hasResource('AWS::KMS::Key', {
        Properties: { EnableKeyRotation: true, Description: 'pgproof: encrypts PostgreSQL backups' },
        DeletionPolicy: 'Retain',
        UpdateReplacePolicy: 'Retain',
      });
    });

    it('denies every principal deleting, disabling or re-policing the key, but the break-glass role and CloudFormation', () => {
      template.hasResourceProperties('AWS::KMS::Key', {
        PendingWindowInDays: 30,
        KeyPolicy: {
          Statement: Match.arrayWith([
            {
              Sid: 'DenyKeyDestructionExceptBreakGlass',
              Effect: 'Deny',
              Principal: { AWS: '*' },
              Action: ['kms:DisableKey', 'kms:PutKeyPolicy', 'kms:ScheduleKeyDeletion'],
              Resource: '*',
              Condition: {
                ArnNotLike: {
                  'aws:PrincipalArn': [
                    'arn:aws:iam::123456789012:role/pgproof-break-glass',
                    'arn:aws:iam::123456789012:role/cdk-*-cfn-exec-role-123456789012-eu-west-1',
                  ],
                },
                'ForAllValues:StringNotEquals': { 'aws:CalledVia': ['cloudformation.amazonaws.com'] },
              },
            },
          ]),
        },
      });
    });

    it('names the configured break-glass role in the key guard', () => {
      const scope = stack();
      new BackupVault(scope, 'Vault', { rotation: [], breakGlassRoleName: 'KeyCustodian' });
      Template.fromStack(scope).hasResourceProperties('AWS::KMS::Key', {
        KeyPolicy: {
          Statement: Match.arrayWith([
            Match.objectLike({
              Sid: 'DenyKeyDestructionExceptBreakGlass',
              Condition: Match.objectLike({
                ArnNotLike: {
                  'aws:PrincipalArn': Match.arrayWith(['arn:aws:iam::123456789012:role/KeyCustodian']),
                },
              }),
            }),
          ]),
        },
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

    it('denies overwriting a backup, SSE-C, and any encryption but the vault key, to every principal', () => {
      const bucketArn = { 'Fn::GetAtt': [bucketId(), 'Arn'] };
      const objects = (pattern: string) => ({ 'Fn::Join': ['', [bucketArn, pattern]] });
      template.hasResourceProperties('AWS::S3::BucketPolicy', {
        Bucket: { Ref: bucketId() },
        PolicyDocument: {
          Statement: Match.arrayWith([
            {
              Sid: 'DenyBackupOverwrites',
              Effect: 'Deny',
              Principal: { AWS: '*' },
              Action: 's3:PutObject',
              // Every database's folder; drill reports (pg/drills/) may be written without the header.
              Resource: [objects('/pg/billing/*'), objects('/pg/orders/*')],
              Condition: {
                Null: { 's3:if-none-match': 'true' },
                Bool: { 's3:ObjectCreationOperation': 'true' },
              },
            },
            {
              Sid: 'DenyCustomerProvidedKeys',
              Effect: 'Deny',
              Principal: { AWS: '*' },
              Action: 's3:PutObject',
              Resource: objects('/*'),
              Condition: { Null: { 's3:x-amz-server-side-encryption-customer-algorithm': 'false' } },
            },
            {
              Sid: 'DenyOtherEncryption',
              Effect: 'Deny',
              Principal: { AWS: '*' },
              Action: 's3:PutObject',
              Resource: objects('/*'),
              Condition: { StringNotEqualsIfExists: { 's3:x-amz-server-side-encryption': 'aws:kms' } },
            },
            {
              Sid: 'DenyOtherKmsKeys',
              Effect: 'Deny',
              Principal: { AWS: '*' },
              Action: 's3:PutObject',
              Resource: objects('/*'),
              Condition: {
                StringNotEqualsIfExists: {
                  's3:x-amz-server-side-encryption-aws-kms-key-id': { 'Fn::GetAtt': [keyId(), 'Arn'] },
                },
              },
            },
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

    it('expires drill reports under drills/ after 400 days, whatever their tags', () => {
      expect(rules()).toContainEqual({
        Id: 'drill-reports',
        Prefix: 'pg/drills/',
        ExpirationInDays: 400,
        Status: 'Enabled',
      });
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
                ReplicaKmsKeyID: REPLICA_KEY_ARN,
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
      });
      // The stack routes it to the alerts topic (primary-stack.test.ts).
      expect(vault.replicationFailedAlarm).toBeDefined();
    });
  });

  it("lets an operator's role read the exact versions a manifest names, and decrypt them", () => {
    const scope = stack();
    const restoring = new BackupVault(scope, 'Vault', {
      objectLockMode: 'COMPLIANCE',
      rotation: [],
      drillReports: { prefix: 'pg/drills/' },
    });
    const operator = new iam.Role(scope, 'Operator', { assumedBy: new iam.AccountRootPrincipal() });
    restoring.grantRestoreRead(operator, 'pg/');
    const statements = Object.values(Template.fromStack(scope).findResources('AWS::IAM::Policy')).flatMap(
      (p) =>
        (p as { Properties: { PolicyDocument: { Statement: { Action: unknown }[] } } }).Properties
          .PolicyDocument.Statement,
    );
    expect(statements.map((s) => s.Action)).toEqual([['s3:GetObject', 's3:GetObjectVersion'], 'kms:Decrypt']);
  });

  it('rejects drill reports in the folder of a database, whose tiers their rule would expire', () => {
    expect(
      () =>
        new BackupVault(stack(), 'Vault', {
          rotation: [{ prefix: 'pg/drills/', retentionDays: retention }],
          drillReports: { prefix: 'pg/drills/' },
        }),
    ).toThrow(
      `'drillReports.prefix' "pg/drills/" overlaps the backups under "pg/drills/"; rename that database so its backups and the drill reports stay apart`,
    );
  });

  it('rejects drill reports kept for zero days', () => {
    expect(
      () =>
        new BackupVault(stack(), 'Vault', {
          rotation: [],
          drillReports: { prefix: 'drills/', expirationDays: 0 },
        }),
    ).toThrow("'drillReports.expirationDays' must be a whole number of at least 1, got 0");
  });

  it('rejects a retention of zero days naming the prefix and tier', () => {
    expect(
      () =>
        new BackupVault(stack(), 'Vault', {
          rotation: [{ prefix: 'orders/', retentionDays: { ...retention, weekly: 0 } }],
        }),
    ).toThrow("'rotation[orders/].retentionDays.weekly' must be a whole number of at least 1, got 0");
  });

  it('delivers access logs by bucket policy in an app without the feature flag (a library user has no cdk.json of ours)', () => {
    const scope = new Stack(new App({ outdir: mkdtempSync(join(outdirs, 'app-')) }), 'Test');
    new BackupVault(scope, 'Vault', { rotation: [] });
    const template = Template.fromStack(scope);
    template.hasResourceProperties('AWS::S3::BucketPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Principal: { Service: 'logging.s3.amazonaws.com' }, Action: 's3:PutObject' }),
        ]),
      },
    });
    expect(JSON.stringify(template.findResources('AWS::S3::Bucket'))).not.toContain('AccessControl');
  });

  it('rejects an app that turns the feature flag off, naming it', () => {
    const app = new App({
      outdir: mkdtempSync(join(outdirs, 'app-')),
      context: { '@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy': false },
    });
    expect(() => new BackupVault(new Stack(app, 'Test'), 'Vault', { rotation: [] })).toThrow(
      'BackupVault needs the feature flag "@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy", which this app sets to false: access logs are delivered by bucket policy, never by ACLs; remove it from the app\'s context or set it to true',
    );
  });

  describe('legal hold guard', () => {
    const vaultWithGuard = (guard: (vault: BackupVault, holder: iam.IRole) => void) => {
      const scope = stack();
      const vault = new BackupVault(scope, 'Vault', { rotation: [] });
      guard(
        vault,
        new iam.Role(scope, 'Keeper', { assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com') }),
      );
      return Template.fromStack(scope);
    };
    /** The guard's statement, wherever it is among the vault's bucket policies. */
    const guardStatement = (template: Template) =>
      Object.values(template.findResources('AWS::S3::BucketPolicy'))
        .flatMap((policy) => policy.Properties.PolicyDocument.Statement as { Sid?: string }[])
        .find((statement) => statement.Sid === 'DenyLegalHoldChangesExceptProvenBackups');

    it('guards databases added later in the same statement as databases given at once', () => {
      const given = vaultWithGuard((vault, holder) =>
        vault.guardLegalHolds(holder, 'pg/', ['orders', 'billing']),
      );
      const added = vaultWithGuard((vault, holder) => {
        const guard = vault.guardLegalHolds(holder, 'pg/');
        guard.addDatabase('orders');
        guard.addDatabase('billing');
      });
      expect(guardStatement(added)).toEqual(guardStatement(given));
      expect(JSON.stringify(guardStatement(given))).toContain('/pg/billing/*');
    });

    it('rejects a guard of no database, which S3 would refuse', () => {
      expect(() => vaultWithGuard((vault, holder) => vault.guardLegalHolds(holder, 'pg/'))).toThrow(
        'guardLegalHolds() guards no database: pass its names or call addDatabase() on the guard it returns',
      );
    });
  });
});
