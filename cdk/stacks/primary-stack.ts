import { Stack, type StackProps } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import type * as ecs from 'aws-cdk-lib/aws-ecs';
import type * as kms from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';
import type { DatabaseConfig, DeploymentConfig, NetworkConfig } from '../../core/config.ts';
import type { BackupAlerts } from '../constructs/backup-alerts.ts';
import type { BackupDashboard } from '../constructs/backup-dashboard.ts';
import type { BackupEvents } from '../constructs/backup-events.ts';
import type { BackupLauncher } from '../constructs/backup-launcher.ts';
import type { BackupNetwork } from '../constructs/backup-network.ts';
import type { BackupVault, ObjectLockMode } from '../constructs/backup-vault.ts';
import { DatabaseConstructIds } from '../constructs/construct-id.ts';
import type { DatabaseBackup } from '../constructs/database-backup.ts';
import type { KeyChangeRule } from '../constructs/key-change-rule.ts';
import { type DatabaseOptions, PgproofBackups } from '../constructs/pgproof-backups.ts';
import type { RestoreDrill } from '../constructs/restore-drill.ts';
import { chatNotifications, databaseAuthentication, networkProps } from './config-props.ts';

/** Props of {@link PrimaryStack}: the deployment config's primary-region settings and the replica to write to. */
export interface PrimaryStackProps extends StackProps {
  /**
   * Name and region of the replica bucket. A name rather than the bucket: the replication role's
   * policy then names it literally (no cross-region lookup), and cdk-nag findings stay predictable.
   */
  readonly replicaBucketName: string;
  readonly replicaRegion: string;
  /** The replica bucket's key (re-imported here, so the two stacks do not reference each other in a cycle). */
  readonly replicaKey: kms.IKey;
  /** Where backup tasks run: a new VPC or existing subnets. */
  readonly network: NetworkConfig;
  /**
   * The databases to back up. Each is drillable on demand; one with a `drill` also gets a drill
   * schedule, an RTO and an alarm when no drill passed for too long.
   */
  readonly databases: readonly DatabaseConfig[];
  /**
   * Deployment-wide drill settings.
   * @default - scratch servers of every major the version matrix proves (13 to 18)
   */
  readonly drill?: DeploymentConfig['drill'];
  /**
   * Key prefix of all backups (`BACKUP_PREFIX`).
   * @default '' - backups start at the bucket's root
   */
  readonly backupPrefix?: string;
  /** Object Lock mode of the bucket and of each object. @default 'GOVERNANCE' */
  readonly objectLockMode?: ObjectLockMode;
  /**
   * The one role that may delete, disable or re-police the vault key.
   * @default 'pgproof-break-glass' (see BackupVaultProps.breakGlassRoleName)
   */
  readonly breakGlassRoleName?: string;
  /** Addresses subscribed to the alerts topic. @default - no email subscriptions */
  readonly notificationEmails?: readonly string[];
  /** Slack, Microsoft Teams or webhooks that receive pgproof's events. @default - none */
  readonly chat?: DeploymentConfig['chat'];
  /**
   * The backup runner image for an architecture.
   * @default - built from containers/pg-dump/Dockerfile at the repository root
   */
  readonly runnerImage?: (architecture: ecs.CpuArchitecture) => ecs.ContainerImage;
}

/**
 * The primary region of the config file's deployment: a {@link PgproofBackups} holding everything
 * (key and replicated bucket, network, cluster, launcher, per-database backups, restore drill, alerts,
 * events, dashboard), with each configured database added to it.
 */
export class PrimaryStack extends Stack {
  /** Everything pgproof deploys in this region. */
  public readonly pgproof: PgproofBackups;
  /** One per configured database, in config order. */
  public readonly backups: readonly DatabaseBackup[];

  constructor(scope: Construct, id: string, props: PrimaryStackProps) {
    super(scope, id, props);
    // `Default`: the construct adds no level to the logical ids, so they stay those first deployed
    // when the stack built these resources itself.
    this.pgproof = new PgproofBackups(this, 'Default', {
      replica: { bucketName: props.replicaBucketName, region: props.replicaRegion, key: props.replicaKey },
      network: networkProps(this, props.network),
      backupPrefix: props.backupPrefix,
      objectLockMode: props.objectLockMode,
      breakGlassRoleName: props.breakGlassRoleName,
      notificationEmails: props.notificationEmails,
      ...(props.chat && { chat: chatNotifications(this, props.chat) }),
      drill: props.drill,
      runnerImage: props.runnerImage,
    });
    const ids = new DatabaseConstructIds();
    this.backups = props.databases.map((db) => {
      const constructId = ids.claim(db.name, "'databases' names");
      return this.pgproof.addDatabase(db.name, configDatabaseOptions(this, constructId, db));
    });
  }

  /** Key, backup bucket (replicated) and its access-log bucket. */
  get vault(): BackupVault {
    return this.pgproof.vault;
  }
  /** VPC, subnets, endpoints and the shared task security group. */
  get network(): BackupNetwork {
    return this.pgproof.network;
  }
  /** The Fargate cluster of all pgproof tasks. */
  get cluster(): ecs.Cluster {
    return this.pgproof.cluster;
  }
  /** The alerts topic and the failed-task rule. */
  get alerts(): BackupAlerts {
    return this.pgproof.alerts;
  }
  /** The start-backup Lambda, its dead-letter queue and alarms. */
  get launcher(): BackupLauncher {
    return this.pgproof.launcher;
  }
  /** The restore drill workflow, its task definitions, schedules and alarms. */
  get restoreDrill(): RestoreDrill {
    return this.pgproof.restoreDrill;
  }
  /** Every backup and drill outcome as an event on the default bus. */
  get events(): BackupEvents {
    return this.pgproof.events;
  }
  /** Last backup, size and duration per database. */
  get dashboard(): BackupDashboard {
    return this.pgproof.dashboard;
  }
  /** Sends any call to delete, disable or re-police the vault key or the replica key to the alerts topic. */
  get keyChangeRule(): KeyChangeRule {
    return this.pgproof.keyChangeRule;
  }
}

/**
 * A configured database as {@link PgproofBackups.addDatabase} options: its endpoint, its login (the
 * secret or IAM user the config names, imported under `<scope>/<constructId>`), the security group the
 * config names (imported as `Database<Id>DatabaseSecurityGroup`: the ingress rule made under it keeps
 * its deployed logical id), and its settings as they are.
 */
function configDatabaseOptions(scope: Construct, constructId: string, db: DatabaseConfig): DatabaseOptions {
  const {
    name: _name,
    host,
    port,
    secretArn: _secretArn,
    secretKeyArn: _secretKeyArn,
    iamAuth: _iamAuth,
    databaseSecurityGroupId,
    ...settings
  } = db;
  const securityGroup =
    databaseSecurityGroupId === undefined
      ? undefined
      : ec2.SecurityGroup.fromSecurityGroupId(
          scope,
          `Database${constructId}DatabaseSecurityGroup`,
          databaseSecurityGroupId,
        );
  const login = databaseAuthentication(new Construct(scope, constructId), db);
  return {
    endpoint: { host, port, ...(securityGroup && { securityGroup }) },
    ...(login.credentials && { credentials: login.credentials }),
    ...(login.iamAuth && { iamAuth: login.iamAuth }),
    ...settings,
  };
}
