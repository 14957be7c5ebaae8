import { createHash } from 'node:crypto';
import { Stack, Token } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as s3 from 'aws-cdk-lib/aws-s3';

/**
 * What a primary in another account may do to the replica bucket: S3 replicating with its role, and
 * nothing else. Ownership of a replica passes to the replica account; it can then be deleted, overwritten
 * or unlocked only from there (Object Lock still holds it for its retention).
 */

/**
 * The actions S3 takes on the destination when it replicates with the primary's role: write a replica
 * version (its Object Lock retention and legal hold come with it), copy its tags, hand it to the bucket
 * owner, and check that the bucket is versioned. Not `s3:ReplicateDelete` (no delete marker is
 * replicated) nor `s3:PutBucketVersioning`, which AWS's cross-account example also grants.
 */
export const REPLICA_OBJECT_ACTIONS = [
  's3:ReplicateObject',
  's3:ReplicateTags',
  's3:ObjectOwnerOverrideToBucketOwner',
] as const;
export const REPLICA_BUCKET_ACTIONS = ['s3:GetBucketVersioning'] as const;

/** IAM's longest role name. */
const MAX_ROLE_NAME = 64;

/**
 * The name of the role a primary in another account replicates into `replicaBucketName` with. Both
 * sides derive it from the replica bucket's name, so the replica's policies name the role without a
 * reference across accounts. A name too long for IAM keeps its start and ends in a hash of the whole.
 */
export function replicationRoleName(replicaBucketName: string): string {
  if (Token.isUnresolved(replicaBucketName)) {
    throw new Error(
      `a replica in another account needs its bucket's name at synth, got a token; give the replica bucket a physical name ('bucketName')`,
    );
  }
  const name = `pgproof-replication-${replicaBucketName}`;
  if (name.length <= MAX_ROLE_NAME) return name;
  const hash = createHash('sha256').update(replicaBucketName).digest('hex').slice(0, 8);
  return `${name.slice(0, MAX_ROLE_NAME - hash.length - 1)}-${hash}`;
}

/** Arguments of {@link allowReplicationFromAccount}. */
export interface ReplicaAccessProps {
  /** The replica bucket. */
  readonly bucket: s3.IBucket;
  /** Its physical name, known at synth: the primary's role is named after it. */
  readonly bucketName: string;
  /** The replica bucket's key. */
  readonly key: kms.IKey;
  /** The account of the primary bucket that replicates here. */
  readonly primaryAccount: string;
}

/**
 * Lets the primary account's replication role (by name, {@link replicationRoleName}) replicate into the
 * bucket and encrypt the replicas under the key, and denies every other principal of that account, its
 * root and administrators included, every other action on the bucket and its objects.
 *
 * The principal is the primary account with the role's ARN as a condition, not the role itself: S3 and
 * KMS refuse a policy naming a role that does not exist yet, and the replica stack deploys first.
 */
export function allowReplicationFromAccount(props: ReplicaAccessProps): void {
  const { bucket, bucketName, key, primaryAccount } = props;
  const partition = Stack.of(bucket).partition;
  const roleArn = `arn:${partition}:iam::${primaryAccount}:role/${replicationRoleName(bucketName)}`;
  // By name: the bucket's own ARN attribute in its key's policy would make the two depend on each other.
  const bucketArn = `arn:${partition}:s3:::${bucketName}`;
  const primary = new iam.AccountPrincipal(primaryAccount);
  const onlyTheRole = { ArnEquals: { 'aws:PrincipalArn': roleArn } };
  bucket.addToResourcePolicy(
    new iam.PolicyStatement({
      sid: 'AllowReplicationFromPrimaryAccount',
      principals: [primary],
      actions: [...REPLICA_OBJECT_ACTIONS],
      resources: [bucket.arnForObjects('*')],
      conditions: onlyTheRole,
    }),
  );
  bucket.addToResourcePolicy(
    new iam.PolicyStatement({
      sid: 'AllowReplicationCheckFromPrimaryAccount',
      principals: [primary],
      actions: [...REPLICA_BUCKET_ACTIONS],
      resources: [bucket.bucketArn],
      conditions: onlyTheRole,
    }),
  );
  // Holds whatever the replica account later allows the primary account by mistake.
  bucket.addToResourcePolicy(
    new iam.PolicyStatement({
      sid: 'DenyPrimaryAccountAllButReplication',
      effect: iam.Effect.DENY,
      principals: [new iam.AnyPrincipal()],
      notActions: [...REPLICA_OBJECT_ACTIONS, ...REPLICA_BUCKET_ACTIONS],
      resources: [bucket.bucketArn, bucket.arnForObjects('*')],
      conditions: { StringEquals: { 'aws:PrincipalAccount': primaryAccount } },
    }),
  );
  key.addToResourcePolicy(
    new iam.PolicyStatement({
      sid: 'AllowReplicaEncryptionFromPrimaryAccount',
      principals: [primary],
      actions: ['kms:Encrypt', 'kms:GenerateDataKey'],
      resources: ['*'],
      conditions: {
        ...onlyTheRole,
        // S3 of whichever region replicates calls KMS for the role, for this bucket (with S3 Bucket
        // Keys the bucket's ARN is the context) or one of its objects.
        StringLike: {
          'kms:ViaService': 's3.*.amazonaws.com',
          'kms:EncryptionContext:aws:s3:arn': [bucketArn, `${bucketArn}/*`],
        },
      },
    }),
  );
}
