import { Annotations } from 'aws-cdk-lib';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as kms from 'aws-cdk-lib/aws-kms';
import type { Construct } from 'constructs';
import { type DeploymentConfig, retentionDays } from '../../core/config.ts';
import { databasePrefix, drillReportsPrefix } from '../../core/layout.ts';
import { PrimaryStack } from './primary-stack.ts';
import { REPLICA_KEY_ARN_OUTPUT, ReplicaStack } from './replica-stack.ts';

/** The two stacks of one deployment. */
export interface PgproofStacks {
  readonly replica: ReplicaStack;
  /**
   * The primary stack; undefined in the two-account layout until `replicaKeyArn` is set (the replica
   * stack is then deployed first, alone, and outputs the key's ARN).
   */
  readonly primary?: PrimaryStack;
}

/** Options of {@link addPgproofStacks}. */
export interface PgproofStacksOptions {
  /**
   * The backup runner image for an architecture.
   * @default - built from containers/pg-dump/Dockerfile at the repository root
   */
  readonly runnerImage?: (architecture: ecs.CpuArchitecture) => ecs.ContainerImage;
}

/**
 * Adds a deployment's stacks to `scope` (an App or Stage): `<prefix>-Replica` in the replica region
 * (and in `replicaAccount`, when set), then `<prefix>-Primary` replicating into it. Both have an
 * explicit environment and cross-region references, as replication across two stacks requires. With
 * a replica account nothing is referenced across the accounts: the primary names the replica key by
 * `replicaKeyArn` (S3 replication takes a key ARN), and is left out, with a warning, until it is set.
 */
export function addPgproofStacks(
  scope: Construct,
  config: DeploymentConfig,
  options: PgproofStacksOptions = {},
): PgproofStacks {
  const rotation = config.databases.map((db) => ({
    prefix: databasePrefix(config.backupPrefix, db.name),
    retentionDays: retentionDays(db),
  }));
  const replicaAccount = config.replicaAccount ?? config.account;
  // Account and region make the name unique; it must be a literal for the primary stack's policies.
  const replicaBucketName = `${config.stackNamePrefix.toLowerCase().slice(0, 16)}-replica-${replicaAccount}-${config.replicaRegion}`;
  const replica = new ReplicaStack(scope, `${config.stackNamePrefix}-Replica`, {
    env: { account: replicaAccount, region: config.replicaRegion },
    crossRegionReferences: true,
    description: 'pgproof: replica of the PostgreSQL backups in a second region',
    rotation,
    drillReports: { prefix: drillReportsPrefix(config.backupPrefix) },
    objectLockMode: config.objectLockMode,
    bucketName: replicaBucketName,
    primaryRegion: config.primaryRegion,
    breakGlassRoleName: config.breakGlassRoleName,
    ...(config.replicaAccount !== undefined && { primaryAccount: config.account }),
    ...(config.drDrill && {
      drDrill: {
        ...config.drDrill,
        databases: config.databases,
        backupPrefix: config.backupPrefix,
        postgresMajors: config.drill.postgresMajors,
        notificationEmails: config.notificationEmails,
        image: options.runnerImage?.(ecs.CpuArchitecture.ARM64),
      },
    }),
  });
  const primaryStackName = `${config.stackNamePrefix}-Primary`;
  if (config.replicaAccount !== undefined && config.replicaKeyArn === undefined) {
    Annotations.of(replica).addWarningV2(
      'pgproof:primary-awaits-replica-key',
      `replicaKeyArn: is missing, so ${primaryStackName} is left out; deploy ${replica.stackName} into account ${config.replicaAccount}, set replicaKeyArn to its output ${REPLICA_KEY_ARN_OUTPUT}, then deploy ${primaryStackName}`,
    );
    return { replica };
  }
  const primary = new PrimaryStack(scope, primaryStackName, {
    env: { account: config.account, region: config.primaryRegion },
    crossRegionReferences: true,
    description: 'pgproof: scheduled, encrypted, replicated PostgreSQL backups',
    replicaBucketName,
    replicaRegion: config.replicaRegion,
    // Across accounts, the key by its literal ARN: a reference would cross accounts.
    replicaKey:
      config.replicaKeyArn === undefined
        ? replica.key
        : kms.Key.fromKeyArn(replica, 'KeyForPrimary', config.replicaKeyArn),
    network: config.network,
    databases: config.databases,
    drill: config.drill,
    backupPrefix: config.backupPrefix,
    objectLockMode: config.objectLockMode,
    notificationEmails: config.notificationEmails,
    chat: config.chat,
    breakGlassRoleName: config.breakGlassRoleName,
    runnerImage: options.runnerImage,
  });
  primary.addStackDependency(replica, 'the primary bucket replicates into the replica bucket');
  return { replica, primary };
}
