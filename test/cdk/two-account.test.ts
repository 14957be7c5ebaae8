import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPLICA_BUCKET_ACTIONS, REPLICA_OBJECT_ACTIONS } from '../../cdk/constructs/replica-access.ts';
import { addPgproofStacks } from '../../cdk/stacks/deployment.ts';
import { parseDeploymentConfig } from '../../core/config.ts';
import { cdkJsonContext, exampleConfigJson, type SynthesizedDeployment, synthesize } from './synth.ts';

const PRIMARY_ACCOUNT = '123456789012';
const REPLICA_ACCOUNT = '210987654321';
const REPLICA_KEY_ARN = `arn:aws:kms:eu-central-1:${REPLICA_ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab`;
const REPLICA_BUCKET = `pgproof-replica-${REPLICA_ACCOUNT}-eu-central-1`;
const ROLE_NAME = `pgproof-replication-${REPLICA_BUCKET}`;
const ROLE_ARN = `arn:aws:iam::${PRIMARY_ACCOUNT}:role/${ROLE_NAME}`;
const PRIMARY_ROOT = { AWS: `arn:aws:iam::${PRIMARY_ACCOUNT}:root` };
const twoAccountConfig = (fields: Record<string, unknown> = { replicaKeyArn: REPLICA_KEY_ARN }) => ({
  ...exampleConfigJson(),
  replicaAccount: REPLICA_ACCOUNT,
  ...fields,
});
const runnerImage = () => ecs.ContainerImage.fromRegistry('public.ecr.aws/pgproof/runner');

/** What would delete, overwrite, unlock or re-police a replica, or the bucket that holds them. */
const DESTRUCTIVE_ACTIONS = [
  's3:DeleteObject',
  's3:DeleteObjectVersion',
  's3:DeleteBucket',
  's3:PutObject',
  's3:PutBucketPolicy',
  's3:DeleteBucketPolicy',
  's3:PutLifecycleConfiguration',
  's3:BypassGovernanceRetention',
  's3:PutObjectRetention',
  's3:PutObjectLegalHold',
  's3:PutBucketVersioning',
  's3:ReplicateDelete',
];

interface Statement {
  Sid?: string;
  Effect: 'Allow' | 'Deny';
  Action?: string | string[];
  NotAction?: string | string[];
  Resource?: unknown;
  Principal?: unknown;
  Condition?: Record<string, Record<string, unknown>>;
}
const list = <T>(value: T | T[] | undefined): T[] =>
  value === undefined ? [] : Array.isArray(value) ? value : [value];
/** Whether the IAM action pattern `pattern` (with `*` and `?`) covers `action`. */
const covers = (pattern: string, action: string) =>
  new RegExp(
    `^${pattern
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '.*')
      .replace(/\?/g, '.')}$`,
    'i',
  ).test(action);

/** Every statement of every identity policy (inline, managed, a role's own) in `template`. */
function identityStatements(template: Template): Statement[] {
  const documents = [
    ...Object.values(template.findResources('AWS::IAM::Policy')).map(
      (r) => (r as { Properties: { PolicyDocument: unknown } }).Properties.PolicyDocument,
    ),
    ...Object.values(template.findResources('AWS::IAM::ManagedPolicy')).map(
      (r) => (r as { Properties: { PolicyDocument: unknown } }).Properties.PolicyDocument,
    ),
    ...Object.values(template.findResources('AWS::IAM::Role')).flatMap((r) =>
      ((r as { Properties: { Policies?: { PolicyDocument: unknown }[] } }).Properties.Policies ?? []).map(
        (p) => p.PolicyDocument,
      ),
    ),
  ];
  return documents.flatMap((d) => list((d as { Statement: Statement | Statement[] }).Statement));
}

/** The statements of every resource policy of `type` (bucket policies, key policies) in `template`. */
function resourcePolicy(template: Template, type: string, path: 'PolicyDocument' | 'KeyPolicy'): Statement[] {
  return Object.values(template.findResources(type)).flatMap((r) =>
    list(
      (r as { Properties: Record<string, { Statement: Statement[] } | undefined> }).Properties[path]
        ?.Statement,
    ),
  );
}

const mentionsPrimary = (s: Statement) => JSON.stringify(s.Principal ?? {}).includes(PRIMARY_ACCOUNT);

describe('config: replicaAccount and replicaKeyArn', () => {
  const problems = (json: unknown) => {
    try {
      parseDeploymentConfig(json, 'test');
    } catch (error) {
      return (error as { problems: readonly string[] }).problems;
    }
    return [];
  };

  it('rejects a replica account that is the primary account', () => {
    expect(problems({ ...exampleConfigJson(), replicaAccount: PRIMARY_ACCOUNT })).toEqual([
      'replicaAccount: is the primary account too; give the replica an account of its own, or leave replicaAccount out to keep the replica in this account',
    ]);
  });

  it('rejects a replica account that is not 12 digits', () => {
    expect(problems({ ...exampleConfigJson(), replicaAccount: '2109876543' })).toEqual([
      'replicaAccount: must be a 12-digit AWS account id; e.g. "210987654321"',
    ]);
  });

  it('rejects a key alias where the key ARN belongs', () => {
    expect(
      problems(
        twoAccountConfig({ replicaKeyArn: `arn:aws:kms:eu-central-1:${REPLICA_ACCOUNT}:alias/pgproof` }),
      ),
    ).toEqual([
      `replicaKeyArn: is not a KMS key ARN (an alias will not do: S3 would resolve it in the primary account); use the replica stack's output ReplicaKeyArn, e.g. "arn:aws:kms:eu-central-1:210987654321:key/1234abcd-12ab-34cd-56ef-1234567890ab"`,
    ]);
  });

  it('rejects a key ARN without a replica account, or of another account or region', () => {
    expect(problems({ ...exampleConfigJson(), replicaKeyArn: REPLICA_KEY_ARN })).toEqual([
      'replicaKeyArn: is set but replicaAccount is not; set replicaAccount to the account of the replica stack, or remove replicaKeyArn (a replica in this account needs none)',
    ]);
    expect(
      problems(twoAccountConfig({ replicaKeyArn: REPLICA_KEY_ARN.replace('eu-central-1', 'eu-west-1') })),
    ).toEqual([
      `replicaKeyArn: is a key of account ${REPLICA_ACCOUNT} in eu-west-1, not of the replica (${REPLICA_ACCOUNT} in eu-central-1); use the replica stack's output ReplicaKeyArn`,
    ]);
  });
});

describe('two-account layout', () => {
  let deployment: SynthesizedDeployment;
  let primary: Template;
  let replica: Template;
  beforeAll(() => {
    deployment = synthesize(twoAccountConfig(), runnerImage);
    primary = deployment.primary;
    replica = deployment.replica;
  });
  afterAll(() => deployment.cleanup());

  it('passes cdk-nag AwsSolutions with no unsuppressed finding', () => {
    expect(deployment.nagFindings).toEqual([]);
  });

  it('deploys the replica stack into the replica account, before the primary stack', () => {
    const { replica: replicaStack, primary: primaryStack } = deployment.stacks;
    expect([replicaStack.account, replicaStack.region]).toEqual([REPLICA_ACCOUNT, 'eu-central-1']);
    expect([primaryStack.account, primaryStack.region]).toEqual([PRIMARY_ACCOUNT, 'eu-west-1']);
    expect(primaryStack.dependencies).toContain(replicaStack);
    Annotations.fromStack(primaryStack).hasNoError('*', Match.anyValue());
  });

  it("forwards the replica key's guarded calls to the primary account's bus, which admits only those", () => {
    replica.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: Match.objectLike({ source: ['aws.kms'] }),
      Targets: [
        Match.objectLike({
          Arn: Match.anyValue(),
          RoleArn: Match.anyValue(),
        }),
      ],
    });
    const rule = Object.values(replica.findResources('AWS::Events::Rule')).find((r) =>
      JSON.stringify(r).includes('aws.kms'),
    );
    expect(JSON.stringify(rule)).toContain(`:${PRIMARY_ACCOUNT}:event-bus/default`);
    primary.hasResourceProperties('AWS::Events::EventBusPolicy', {
      EventBusName: 'default',
      Statement: {
        Effect: 'Allow',
        Principal: { AWS: `arn:aws:iam::${REPLICA_ACCOUNT}:root` },
        Action: 'events:PutEvents',
        Resource: Match.anyValue(),
        Condition: { 'ForAllValues:StringEquals': { 'events:source': ['aws.kms'] } },
      },
    });
  });

  it('keeps the replicas in an Object-Locked, versioned bucket of the replica account that outputs its key', () => {
    replica.hasResource('AWS::S3::Bucket', {
      Properties: Match.objectLike({
        BucketName: REPLICA_BUCKET,
        VersioningConfiguration: { Status: 'Enabled' },
        ObjectLockEnabled: true,
        ObjectLockConfiguration: Match.objectLike({ ObjectLockEnabled: 'Enabled' }),
        OwnershipControls: { Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] },
      }),
      DeletionPolicy: 'Retain',
    });
    replica.hasOutput('ReplicaKeyArn', {
      Value: { 'Fn::GetAtt': [Match.stringLikeRegexp('^VaultKey'), 'Arn'] },
    });
  });

  it("replicates into the replica account's bucket, owned there, under the replica key, without deletes", () => {
    primary.hasResourceProperties('AWS::S3::Bucket', {
      ReplicationConfiguration: {
        Role: { 'Fn::GetAtt': [Match.stringLikeRegexp('^VaultReplicationRole'), 'Arn'] },
        Rules: [
          Match.objectLike({
            Id: 'replicate-backups',
            DeleteMarkerReplication: { Status: 'Disabled' },
            Destination: Match.objectLike({
              Bucket: `arn:aws:s3:::${REPLICA_BUCKET}`,
              Account: REPLICA_ACCOUNT,
              AccessControlTranslation: { Owner: 'Destination' },
              EncryptionConfiguration: { ReplicaKmsKeyID: REPLICA_KEY_ARN },
            }),
          }),
        ],
      },
    });
  });

  it('replicates with a role named after the replica bucket, which may hand replicas to their new owner', () => {
    primary.hasResourceProperties('AWS::IAM::Role', {
      RoleName: ROLE_NAME,
      AssumeRolePolicyDocument: {
        Statement: [Match.objectLike({ Principal: { Service: 's3.amazonaws.com' } })],
      },
    });
    const onReplica = identityStatements(primary).filter((s) =>
      JSON.stringify(s.Resource).includes(REPLICA_BUCKET),
    );
    expect(onReplica).toEqual([
      expect.objectContaining({
        Effect: 'Allow',
        Action: ['s3:ObjectOwnerOverrideToBucketOwner', 's3:ReplicateObject', 's3:ReplicateTags'],
      }),
    ]);
    expect(identityStatements(primary)).toContainEqual(
      expect.objectContaining({ Action: ['kms:Encrypt', 'kms:GenerateDataKey'], Resource: REPLICA_KEY_ARN }),
    );
  });

  it('grants no principal of the primary account a call that deletes, overwrites or unlocks a replica', () => {
    // Identity side: nothing in the primary account is allowed a destructive call on the replica bucket
    // (a statement naming it or any resource).
    const reaching = identityStatements(primary).filter(
      (s) =>
        s.Effect === 'Allow' &&
        list(s.Resource as unknown).some((r) => r === '*' || JSON.stringify(r).includes(REPLICA_BUCKET)),
    );
    const granted = reaching.flatMap((s) =>
      DESTRUCTIVE_ACTIONS.filter((action) => list(s.Action).some((pattern) => covers(pattern, action))),
    );
    expect(granted).toEqual([]);

    // Resource side, which a cross-account call also needs: the replica bucket allows the primary
    // account only the replication role, only the replication actions.
    const bucketPolicy = resourcePolicy(replica, 'AWS::S3::BucketPolicy', 'PolicyDocument');
    const allowed = bucketPolicy.filter((s) => s.Effect === 'Allow' && mentionsPrimary(s));
    expect(allowed).toEqual([
      expect.objectContaining({
        Principal: PRIMARY_ROOT,
        Action: [...REPLICA_OBJECT_ACTIONS].sort(),
        Condition: { ArnEquals: { 'aws:PrincipalArn': ROLE_ARN } },
      }),
      expect.objectContaining({
        Principal: PRIMARY_ROOT,
        Action: REPLICA_BUCKET_ACTIONS[0],
        Condition: { ArnEquals: { 'aws:PrincipalArn': ROLE_ARN } },
      }),
    ]);
    for (const action of DESTRUCTIVE_ACTIONS) {
      expect(allowed.flatMap((s) => list(s.Action)).some((pattern) => covers(pattern, action))).toBe(false);
    }
    // No other Allow names a principal outside the replica account (a service, or the replica account).
    const others = bucketPolicy.filter((s) => s.Effect === 'Allow' && !mentionsPrimary(s));
    for (const s of others) expect(JSON.stringify(s.Principal)).not.toMatch(/"AWS":/);
  });

  it('denies the whole primary account, root and administrators included, all but replication on the replica bucket', () => {
    const bucketPolicy = resourcePolicy(replica, 'AWS::S3::BucketPolicy', 'PolicyDocument');
    const deny = bucketPolicy.find((s) => s.Sid === 'DenyPrimaryAccountAllButReplication');
    expect(deny).toEqual(
      expect.objectContaining({
        Effect: 'Deny',
        Principal: { AWS: '*' },
        NotAction: [...REPLICA_OBJECT_ACTIONS, ...REPLICA_BUCKET_ACTIONS],
        Condition: { StringEquals: { 'aws:PrincipalAccount': PRIMARY_ACCOUNT } },
      }),
    );
    expect(list(deny?.Resource)).toHaveLength(2);
    for (const action of DESTRUCTIVE_ACTIONS) {
      expect(list(deny?.NotAction).some((pattern) => covers(pattern, action))).toBe(false);
    }
  });

  it('lets only the replication role, through S3, encrypt under the replica key', () => {
    const keyPolicy = resourcePolicy(replica, 'AWS::KMS::Key', 'KeyPolicy');
    const fromPrimary = keyPolicy.filter((s) => s.Effect === 'Allow' && mentionsPrimary(s));
    expect(fromPrimary).toEqual([
      expect.objectContaining({
        Principal: PRIMARY_ROOT,
        Action: ['kms:Encrypt', 'kms:GenerateDataKey'],
        Condition: {
          ArnEquals: { 'aws:PrincipalArn': ROLE_ARN },
          StringLike: {
            'kms:ViaService': 's3.*.amazonaws.com',
            'kms:EncryptionContext:aws:s3:arn': [
              `arn:aws:s3:::${REPLICA_BUCKET}`,
              `arn:aws:s3:::${REPLICA_BUCKET}/*`,
            ],
          },
        },
      }),
    ]);
  });
});

describe('two-account layout before the replica key is known', () => {
  it('makes only the replica stack, to deploy first, and says what to do next', () => {
    const outdir = mkdtempSync(join(tmpdir(), 'pgproof-two-account-'));
    try {
      const app = new App({ outdir, context: cdkJsonContext() });
      const config = parseDeploymentConfig(twoAccountConfig({}), 'test');
      const stacks = addPgproofStacks(app, config, { runnerImage });
      app.synth();
      expect(stacks.primary).toBeUndefined();
      expect(
        app.node
          .findAll()
          .filter((c) => c instanceof Stack)
          .map((c) => c.node.id),
      ).toEqual(['Pgproof-Replica']);
      Annotations.fromStack(stacks.replica).hasWarning(
        '/Pgproof-Replica',
        `replicaKeyArn: is missing, so Pgproof-Primary is left out; deploy Pgproof-Replica into account ${REPLICA_ACCOUNT}, set replicaKeyArn to its output ReplicaKeyArn, then deploy Pgproof-Primary [ack: pgproof:primary-awaits-replica-key]`,
      );
      Template.fromStack(stacks.replica).hasOutput('ReplicaKeyArn', Match.anyValue());
    } finally {
      rmSync(outdir, { recursive: true, force: true });
    }
  });
});

describe('one-account layout', () => {
  it('keeps replicas in the primary account, with no owner override and no cross-account policy', () => {
    const deployment = synthesize(exampleConfigJson(), runnerImage);
    try {
      const rule = JSON.stringify(deployment.primary.findResources('AWS::S3::Bucket'));
      expect(rule).not.toContain('AccessControlTranslation');
      expect(rule).not.toContain('"Account"');
      expect(deployment.stacks.replica.account).toBe(PRIMARY_ACCOUNT);
      expect(Object.keys(deployment.replica.findOutputs('*'))).not.toContain('ReplicaKeyArn');
      const policies = JSON.stringify(deployment.replica.findResources('AWS::S3::BucketPolicy'));
      expect(policies).not.toContain('DenyPrimaryAccountAllButReplication');
      // The replica's key changes reach this account's bus without a bus policy.
      deployment.primary.resourceCountIs('AWS::Events::EventBusPolicy', 0);
      deployment.primary.hasResourceProperties('AWS::IAM::Role', {
        RoleName: Match.absent(),
        AssumeRolePolicyDocument: {
          Statement: [Match.objectLike({ Principal: { Service: 's3.amazonaws.com' } })],
        },
      });
    } finally {
      deployment.cleanup();
    }
  });
});
