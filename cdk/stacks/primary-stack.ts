import { join } from 'node:path';
import { Annotations, CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { Platform } from 'aws-cdk-lib/aws-ecr-assets';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import {
  type DatabaseConfig,
  type DeploymentConfig,
  type NetworkConfig,
  retentionDays,
} from '../../core/config.ts';
import { databasePrefix, drillReportsPrefix } from '../../core/layout.ts';
import { type DatabaseSchedules, STACK_OUTPUTS } from '../../core/stack-outputs.ts';
import { toolchain } from '../../core/toolchain.ts';
import { BackupAlerts } from '../constructs/backup-alerts.ts';
import { BackupDashboard } from '../constructs/backup-dashboard.ts';
import { BackupLauncher } from '../constructs/backup-launcher.ts';
import { BackupNetwork } from '../constructs/backup-network.ts';
import { BackupVault, type ObjectLockMode } from '../constructs/backup-vault.ts';
import { pascalCase } from '../constructs/construct-id.ts';
import { DatabaseBackup } from '../constructs/database-backup.ts';
import { KeyChangeRule, keyChangeMessage } from '../constructs/key-change-rule.ts';
import { RestoreDrill } from '../constructs/restore-drill.ts';
import {
  databaseBackupSettings,
  drillDatabaseProps,
  networkProps,
  taskArchitecture,
} from './config-props.ts';

/** The repository root: the runner image is built from it with containers/pg-dump/Dockerfile. */
const REPOSITORY_ROOT = join(import.meta.dirname, '../..');

/** What the image build never needs; keeps the asset hash (and the image) stable across unrelated edits. */
const IMAGE_EXCLUDES = [
  'node_modules',
  'cdk.out',
  'cdk.out*',
  '.git',
  '.ci',
  'test',
  'bench',
  '.bench-data',
  'coverage',
  'dist',
  '*.log',
  'cdk.context*.json',
  'pgproof.config*.json',
];

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
  /**
   * The backup runner image for an architecture.
   * @default - built from containers/pg-dump/Dockerfile at the repository root
   */
  readonly runnerImage?: (architecture: ecs.CpuArchitecture) => ecs.ContainerImage;
}

/**
 * The primary region: key and backup bucket (replicated), the network and cluster of the backup
 * tasks, one task definition, schedule and RPO alarm per database, the launcher, the restore drill,
 * alerts and dashboard.
 */
export class PrimaryStack extends Stack {
  /** Key, backup bucket (replicated) and its access-log bucket. */
  public readonly vault: BackupVault;
  /** VPC, subnets, endpoints and the shared task security group. */
  public readonly network: BackupNetwork;
  /** The Fargate cluster of all pgproof tasks. */
  public readonly cluster: ecs.Cluster;
  /** The alerts topic and the failed-task rule. */
  public readonly alerts: BackupAlerts;
  /** The start-backup Lambda, its dead-letter queue and alarms. */
  public readonly launcher: BackupLauncher;
  /** One per configured database, in config order. */
  public readonly backups: readonly DatabaseBackup[];
  /** The restore drill workflow, its task definitions, schedules and alarms. */
  public readonly restoreDrill: RestoreDrill;
  /** Last backup, size and duration per database. */
  public readonly dashboard: BackupDashboard;
  /**
   * Sends any call to delete, disable or re-police the vault key, or the replica key (forwarded by
   * the replica stack), to the alerts topic.
   */
  public readonly keyChangeRule: KeyChangeRule;

  constructor(scope: Construct, id: string, props: PrimaryStackProps) {
    super(scope, id, props);
    const prefix = props.backupPrefix ?? '';

    this.vault = new BackupVault(this, 'Vault', {
      objectLockMode: props.objectLockMode,
      breakGlassRoleName: props.breakGlassRoleName,
      rotation: props.databases.map((db) => ({
        prefix: databasePrefix(prefix, db.name),
        retentionDays: retentionDays(db),
      })),
      drillReports: { prefix: drillReportsPrefix(prefix) },
      replica: {
        bucket: s3.Bucket.fromBucketAttributes(this, 'ReplicaBucket', {
          bucketName: props.replicaBucketName,
          region: props.replicaRegion,
        }),
        key: kms.Key.fromKeyArn(this, 'ReplicaKey', props.replicaKey.keyArn),
      },
    });

    this.network = new BackupNetwork(this, 'Network', {
      ...networkProps(this, props.network),
      buckets: [this.vault.bucket],
    });
    this.cluster = new ecs.Cluster(this, 'Cluster', {
      vpc: this.network.vpc,
      containerInsightsV2: ecs.ContainerInsights.ENABLED,
    });
    this.alerts = new BackupAlerts(this, 'Alerts', {
      cluster: this.cluster,
      emails: props.notificationEmails,
    });
    this.launcher = new BackupLauncher(this, 'Launcher', {
      cluster: this.cluster,
      vpc: this.network.vpc,
      subnets: this.network.subnets,
      vault: this.vault,
      prefix,
    });

    const images = new Map<ecs.CpuArchitecture, ecs.ContainerImage>();
    const imageFor = (architecture: ecs.CpuArchitecture) => {
      let image = images.get(architecture);
      if (!image) {
        image =
          props.runnerImage?.(architecture) ??
          ecs.ContainerImage.fromAsset(REPOSITORY_ROOT, {
            file: 'containers/pg-dump/Dockerfile',
            platform:
              architecture === ecs.CpuArchitecture.ARM64 ? Platform.LINUX_ARM64 : Platform.LINUX_AMD64,
            exclude: IMAGE_EXCLUDES,
            buildArgs: { NODE_MAJOR: String(toolchain.nodeMajor) },
          });
        images.set(architecture, image);
      }
      return image;
    };

    const names = new Map<string, string>();
    this.backups = props.databases.map((db) => {
      const name = pascalCase(db.name);
      const other = names.get(name);
      if (other !== undefined) {
        throw new Error(
          `'databases' names "${other}" and "${db.name}" differ only in "_" or "-" or case of the first letter; rename one`,
        );
      }
      names.set(name, db.name);
      // A namespace per database for its imports (no resources, so no logical ids depend on it).
      const imports = new Construct(this, name);
      // `Database<Name>` rather than `Databases/<Name>`: logical ids hash the construct path, and the
      // deployed backups' retained log groups (and the ingress rule below) must keep theirs.
      const id = `Database${name}`;
      return new DatabaseBackup(this, id, {
        ...databaseBackupSettings(db),
        credentials: secretsmanager.Secret.fromSecretAttributes(imports, 'Credentials', {
          secretCompleteArn: db.secretArn,
          ...(db.secretKeyArn && {
            encryptionKey: kms.Key.fromKeyArn(imports, 'CredentialsKey', db.secretKeyArn),
          }),
        }),
        vault: this.vault,
        prefix,
        cluster: this.cluster,
        vpc: this.network.vpc,
        image: imageFor(taskArchitecture(db)),
        launcher: this.launcher,
        objectLockMode: props.objectLockMode,
        additionalSecurityGroups: [this.network.taskSecurityGroup],
        databaseSecurityGroup:
          db.databaseSecurityGroupId === undefined
            ? undefined
            : // The ingress rule to the backup task is made under this import: its id stays as deployed.
              ec2.SecurityGroup.fromSecurityGroupId(
                this,
                `${id}DatabaseSecurityGroup`,
                db.databaseSecurityGroupId,
              ),
      });
    });

    this.restoreDrill = new RestoreDrill(this, 'RestoreDrill', {
      bucket: this.vault.bucket,
      key: this.vault.key,
      prefix,
      cluster: this.cluster,
      vpc: this.network.vpc,
      subnets: this.network.subnets,
      // The shared group is the one the interface endpoints (ECR, CloudWatch Logs) admit.
      securityGroup: this.network.taskSecurityGroup,
      image: imageFor(ecs.CpuArchitecture.ARM64),
      architecture: ecs.CpuArchitecture.ARM64,
      topic: this.alerts.topic,
      databases: props.databases.map(drillDatabaseProps),
      postgresMajors: props.drill?.postgresMajors,
    });
    const keeper = this.restoreDrill.keepProvenFunction.role;
    if (keeper) {
      this.vault.guardLegalHolds(
        keeper,
        prefix,
        props.databases.map((db) => db.name),
      );
    }
    for (const db of props.databases.filter((d) => d.drill === undefined)) {
      Annotations.of(this.restoreDrill).addInfo(
        `database "${db.name}" has no "drill" in the config: no schedule or alarm proves its backups restore; it can still be drilled on demand`,
      );
    }

    this.keyChangeRule = new KeyChangeRule(this, 'KeyChangeAlarm', {
      keyArns: [this.vault.key.keyArn, props.replicaKey.keyArn],
      target: new targets.SnsTopic(this.alerts.topic, { message: keyChangeMessage() }),
    });

    const alarms = [
      ...this.backups.map((backup) => backup.rpoAlarm),
      this.launcher.errorsAlarm,
      this.launcher.deadLetterAlarm,
      ...(this.vault.replicationFailedAlarm ? [this.vault.replicationFailedAlarm] : []),
    ];
    const drillAlarms = [this.restoreDrill.failedAlarm, ...this.restoreDrill.overdueAlarms.values()];
    // The one place alarms are routed: every alarm's ALARM and OK go to the alerts topic.
    this.alerts.notifyOn(...alarms, ...drillAlarms);
    this.dashboard = new BackupDashboard(this, 'Dashboard', {
      databases: this.backups.map((backup, index) => ({
        name: props.databases[index]?.name ?? '',
        logGroup: backup.logGroup,
      })),
      alarms: [...alarms, ...drillAlarms],
    });

    // What the `pgproof` CLI reads to find this deployment (cli/deployment.ts).
    new CfnOutput(this, STACK_OUTPUTS.bucket, { value: this.vault.bucket.bucketName });
    new CfnOutput(this, STACK_OUTPUTS.prefix, { value: prefix });
    new CfnOutput(this, STACK_OUTPUTS.launcher, { value: this.launcher.function.functionName });
    new CfnOutput(this, STACK_OUTPUTS.stateMachine, {
      value: this.restoreDrill.stateMachine.stateMachineArn,
    });
    const schedules: DatabaseSchedules = Object.fromEntries(
      this.backups.map((backup, index) => [
        props.databases[index]?.name ?? '',
        { schedule: backup.schedule.scheduleName, group: 'default' },
      ]),
    );
    new CfnOutput(this, STACK_OUTPUTS.databases, { value: this.toJsonString(schedules) });
  }
}
