import { Match, type Template } from 'aws-cdk-lib/assertions';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exampleConfigJson, type SynthesizedDeployment, synthesize } from './synth.ts';

let deployment: SynthesizedDeployment;
let template: Template;

beforeAll(() => {
  // The replica does not depend on the runner image: a registry image keeps this synth quick.
  deployment = synthesize(exampleConfigJson(), () =>
    ecs.ContainerImage.fromRegistry('public.ecr.aws/pgproof/runner'),
  );
  template = deployment.replica;
});
afterAll(() => deployment.cleanup());

describe('replica stack', () => {
  it('passes cdk-nag AwsSolutions with no unsuppressed finding', () => {
    expect(deployment.nagFindings).toEqual([]);
  });

  it('lives in the replica region and is deployed before the primary stack', () => {
    const { replica, primary } = deployment.stacks;
    expect(replica.region).toBe('eu-central-1');
    expect(primary.region).toBe('eu-west-1');
    expect(primary.dependencies).toContain(replica);
  });

  it('has its own customer-managed key with rotation, kept on stack deletion', () => {
    template.resourceCountIs('AWS::KMS::Key', 1);
    template.hasResource('AWS::KMS::Key', {
      Properties: { EnableKeyRotation: true },
      DeletionPolicy: 'Retain',
    });
  });

  it('guards its key like the primary one and forwards any guarded call on it to the primary region', () => {
    template.hasResourceProperties('AWS::KMS::Key', {
      PendingWindowInDays: 30,
      KeyPolicy: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Sid: 'DenyKeyDestructionExceptBreakGlass',
            Effect: 'Deny',
            Action: ['kms:DisableKey', 'kms:PutKeyPolicy', 'kms:ScheduleKeyDeletion'],
          }),
        ]),
      },
    });
    const keyId = Object.keys(template.findResources('AWS::KMS::Key'))[0];
    template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: {
        source: ['aws.kms'],
        'detail-type': ['AWS API Call via CloudTrail'],
        detail: {
          eventSource: ['kms.amazonaws.com'],
          eventName: ['ScheduleKeyDeletion', 'DisableKey', 'PutKeyPolicy'],
          resources: { ARN: [{ 'Fn::GetAtt': [keyId, 'Arn'] }] },
        },
      },
      Targets: [Match.objectLike({ Arn: 'arn:aws:events:eu-west-1:123456789012:event-bus/default' })],
    });
  });

  it('protects the replica bucket like the primary one', () => {
    template.hasResource('AWS::S3::Bucket', {
      Properties: Match.objectLike({
        BucketName: 'pgproof-replica-123456789012-eu-central-1',
        BucketEncryption: {
          ServerSideEncryptionConfiguration: [
            {
              BucketKeyEnabled: true,
              ServerSideEncryptionByDefault: {
                SSEAlgorithm: 'aws:kms',
                KMSMasterKeyID: { 'Fn::GetAtt': [Match.stringLikeRegexp('^VaultKey'), 'Arn'] },
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
          Rule: { DefaultRetention: { Mode: 'GOVERNANCE', Days: 1 } },
        },
        LoggingConfiguration: Match.objectLike({ LogFilePrefix: 'backup-bucket/' }),
      }),
      DeletionPolicy: 'Retain',
    });
    template.hasResourceProperties('AWS::S3::BucketPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
  });

  it('rotates replicas with the same lifecycle rules as the primary bucket', () => {
    const rules = (t: Template) =>
      Object.values(t.findResources('AWS::S3::Bucket'))
        .map(
          (r) => (r as { Properties: { LifecycleConfiguration?: { Rules: { Id: string }[] } } }).Properties,
        )
        .flatMap((p) => p.LifecycleConfiguration?.Rules ?? [])
        .filter((rule) => rule.Id !== 'expire-access-logs');
    expect(rules(template)).toEqual(rules(deployment.primary));
    // Four tiers per database, the drill reports, and the bucket-wide rule.
    expect(rules(template)).toHaveLength(10);
  });

  it('replicates nowhere itself', () => {
    for (const bucket of Object.values(template.findResources('AWS::S3::Bucket'))) {
      expect((bucket as { Properties: object }).Properties).not.toHaveProperty('ReplicationConfiguration');
    }
  });
});
