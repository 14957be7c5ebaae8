import type * as ecs from 'aws-cdk-lib/aws-ecs';
import type { Construct } from 'constructs';
import { type DeploymentConfig, retentionDays } from '../../core/config.ts';
import { databasePrefix, drillReportsPrefix } from '../../core/layout.ts';
import { PrimaryStack } from './primary-stack.ts';
import { ReplicaStack } from './replica-stack.ts';

/** The two stacks of one deployment. */
export interface PgproofStacks {
  readonly replica: ReplicaStack;
  readonly primary: PrimaryStack;
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
 * Adds a deployment's stacks to `scope` (an App or Stage): `<prefix>-Replica` in the replica region,
 * then `<prefix>-Primary` replicating into it. Both have an explicit environment and cross-region
 * references, as replication across two stacks requires.
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
  // Account and region make the name unique; it must be a literal for the primary stack's policies.
  const replicaBucketName = `${config.stackNamePrefix.toLowerCase().slice(0, 16)}-replica-${config.account}-${config.replicaRegion}`;
  const replica = new ReplicaStack(scope, `${config.stackNamePrefix}-Replica`, {
    env: { account: config.account, region: config.replicaRegion },
    crossRegionReferences: true,
    description: 'pgproof: replica of the PostgreSQL backups in a second region',
    rotation,
    drillReports: { prefix: drillReportsPrefix(config.backupPrefix) },
    objectLockMode: config.objectLockMode,
    bucketName: replicaBucketName,
    primaryRegion: config.primaryRegion,
    breakGlassRoleName: config.breakGlassRoleName,
  });
  const primary = new PrimaryStack(scope, `${config.stackNamePrefix}-Primary`, {
    env: { account: config.account, region: config.primaryRegion },
    crossRegionReferences: true,
    description: 'pgproof: scheduled, encrypted, replicated PostgreSQL backups',
    replicaBucketName,
    replicaRegion: config.replicaRegion,
    replicaKey: replica.key,
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
