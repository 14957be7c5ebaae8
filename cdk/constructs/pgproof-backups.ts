import { Annotations, CfnOutput, Lazy, Stack, Token } from 'aws-cdk-lib';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import type * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import type * as rds from 'aws-cdk-lib/aws-rds';
import * as s3 from 'aws-cdk-lib/aws-s3';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import {
  type DatabaseSettings,
  type DatabaseSettingsInput,
  parseDatabaseSettings,
  RESERVED_FOLDERS,
} from '../../core/config.ts';
import { retentionDays } from '../../core/config-retention.ts';
import { databasePrefix, drillReportsPrefix, isKeyPrefix, KEY_PREFIX_RULE } from '../../core/layout.ts';
import { type DatabaseSchedules, STACK_OUTPUTS } from '../../core/stack-outputs.ts';
import type { BackupAlerts } from './backup-alerts.ts';
import { BackupDashboard } from './backup-dashboard.ts';
import { BackupEvents, type ChatNotifications } from './backup-events.ts';
import { BackupLauncher } from './backup-launcher.ts';
import type { BackupNetwork, BackupNetworkProps } from './backup-network.ts';
import { BackupVault, type ObjectLockMode } from './backup-vault.ts';
import { DatabaseConstructIds } from './construct-id.ts';
import { DatabaseBackup, type DatabaseBackupProps } from './database-backup.ts';
import { databaseBackupSettings, drillDatabaseProps, taskArchitecture } from './database-settings.ts';
import { KeyChangeRule, keyChangeMessage } from './key-change-rule.ts';
import { runnerImageAsset } from './package-assets.ts';
import type { IPgproofReplica } from './pgproof-replica.ts';
import { RestoreDrill } from './restore-drill.ts';
import { addTaskPlatform } from './task-platform.ts';

/** Props of {@link PgproofBackups}; all optional. */
export interface PgproofBackupsProps {
  /**
   * Where every backup is replicated: a {@link PgproofReplica} in another region (or account).
   * @default - no replica: a region's outage can take the backups with it (a warning says so)
   */
  readonly replica?: IPgproofReplica;
  /**
   * Where the backup and drill tasks run. Give your VPC (and subnets) to reach your databases.
   * @default - a new VPC with isolated subnets and the endpoints the tasks need
   */
  readonly network?: Omit<BackupNetworkProps, 'buckets'>;
  /**
   * Key prefix of all backups (`BACKUP_PREFIX`): a folder ending in "/", or ''.
   * @default ''
   */
  readonly backupPrefix?: string;
  /** Object Lock mode of the bucket and of each object. @default 'GOVERNANCE' */
  readonly objectLockMode?: ObjectLockMode;
  /**
   * The one role that may delete, disable or re-police the vault key (pgproof does not create it).
   * @default 'pgproof-break-glass'
   */
  readonly breakGlassRoleName?: string;
  /** Addresses subscribed to the alerts topic. @default - none; subscribe to `alerts.topic` yourself */
  readonly notificationEmails?: readonly string[];
  /** Slack, Microsoft Teams or webhooks that receive every pgproof event. @default - none */
  readonly chat?: ChatNotifications;
  /**
   * Deployment-wide drill settings.
   * @default - scratch servers of every major the version matrix proves (13 to 18)
   */
  readonly drill?: { readonly postgresMajors?: readonly number[] };
  /**
   * The runner image for an architecture.
   * @default - built from this package's containers/pg-dump/Dockerfile
   */
  readonly runnerImage?: (architecture: ecs.CpuArchitecture) => ecs.ContainerImage;
}

/** How a backup task logs in to its database: a stored password, or an IAM token (no password at all). */
export interface DatabaseLogin {
  /**
   * Secret with the JSON keys `username` and `password` (the layout RDS uses).
   * @default - the instance's or cluster's own generated secret, when it has one
   */
  readonly credentials?: secretsmanager.ISecret;
  /**
   * Log in with IAM database authentication as this user: the task signs a token per connection, and
   * its role may connect as this user only. The database needs `GRANT rds_iam TO <user>`.
   * @default - log in with {@link credentials}
   */
  readonly iamAuth?: {
    readonly user: string;
    /**
     * Grants `rds-db:connect` as {@link user}.
     * @default - the instance's or cluster's `grantConnect`
     */
    readonly grantConnect?: (grantee: iam.IGrantable) => iam.Grant;
  };
}

/** Where a database is: an RDS instance, an Aurora cluster, or any endpoint. */
export interface DatabaseLocation {
  /** An RDS for PostgreSQL instance: its endpoint, port and security groups. */
  readonly instance?: rds.IDatabaseInstance;
  /** An Aurora PostgreSQL cluster: its writer endpoint, port and security groups. */
  readonly cluster?: rds.IDatabaseCluster;
  /** Any PostgreSQL server: its host, port (default 5432) and the security group to let the task into. */
  readonly endpoint?: {
    readonly host: string;
    readonly port?: number;
    readonly securityGroup?: ec2.ISecurityGroup;
  };
}

/**
 * One database of {@link PgproofBackups.addDatabase}: where it is and how to log in (CDK objects), and
 * what to back up, when and how long to keep it — the same settings, with the same names and defaults,
 * as a database of pgproof.config.json.
 */
export interface DatabaseOptions
  extends DatabaseLocation,
    DatabaseLogin,
    Omit<DatabaseSettingsInput, keyof typeof LIBRARY_DATABASE_DEFAULTS | 'database'>,
    Partial<Pick<DatabaseSettingsInput, keyof typeof LIBRARY_DATABASE_DEFAULTS | 'database'>> {}

/** The settings {@link PgproofBackups.addDatabase} gives a database left without them. */
export const LIBRARY_DATABASE_DEFAULTS = {
  /** Daily at 02:00 in {@link timeZone}. */
  schedule: 'cron(0 2 * * ? *)',
  timeZone: 'UTC',
  /** A daily backup a couple of hours late alarms. */
  rpoHours: 26,
} as const;

/**
 * A whole pgproof deployment's primary region, as one construct: the KMS key and the Object-Locked,
 * replicated backup bucket; the network, cluster and launcher of the backup tasks; the restore drill;
 * alerts, events and a dashboard. Databases are added with {@link addDatabase}, one line each: the
 * schedule, the task, the network path to the database, the login, and its drill.
 */
export class PgproofBackups extends Construct {
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
  /** The restore drill workflow, its task definitions, schedules and alarms. */
  public readonly restoreDrill: RestoreDrill;
  /** Every backup and drill outcome on the default event bus (`source: pgproof`), and chat. */
  public readonly events: BackupEvents;
  /** Last backup, size and duration per database. */
  public readonly dashboard: BackupDashboard;
  /** Sends any call to delete, disable or re-police the vault key (or the replica's) to the alerts topic. */
  public readonly keyChangeRule: KeyChangeRule;
  /** Key prefix of all backups. */
  public readonly backupPrefix: string;
  private readonly databases = new Map<string, DatabaseBackup>();
  private readonly constructIds = new DatabaseConstructIds();
  private readonly props: PgproofBackupsProps;
  private readonly images = new Map<ecs.CpuArchitecture, ecs.ContainerImage>();

  constructor(scope: Construct, id: string, props: PgproofBackupsProps = {}) {
    super(scope, id);
    this.props = props;
    const prefix = props.backupPrefix ?? '';
    if (!isKeyPrefix(prefix)) throw new Error(`'backupPrefix' ${KEY_PREFIX_RULE}, got "${prefix}"`);
    this.backupPrefix = prefix;
    const stack = Stack.of(this);
    const replica = props.replica;
    const drillReports = { prefix: drillReportsPrefix(prefix) };

    this.vault = new BackupVault(this, 'Vault', {
      objectLockMode: props.objectLockMode,
      breakGlassRoleName: props.breakGlassRoleName,
      rotation: [],
      drillReports,
      eventBridgeEnabled: true,
      ...(replica && {
        replica: {
          bucket: s3.Bucket.fromBucketAttributes(this, 'ReplicaBucket', {
            bucketName: replica.bucketName,
            region: replica.region,
            ...(replica.account === undefined ? {} : { account: replica.account }),
          }),
          ...(replica.account === undefined ? {} : { account: replica.account }),
          // Re-imported by ARN, so the two stacks do not reference each other in a cycle.
          key: kms.Key.fromKeyArn(this, 'ReplicaKey', replica.key.keyArn),
        },
      }),
    });
    if (replica) {
      replica.attachPrimary?.({ region: stack.region, drillReports });
      this.admitReplicaKeyChanges(replica);
      const replicaStack = replica instanceof Construct ? Stack.of(replica) : undefined;
      if (replicaStack && replicaStack !== stack) {
        stack.addStackDependency(replicaStack, 'the primary bucket replicates into the replica bucket');
      }
    } else {
      Annotations.of(this).addWarningV2(
        'pgproof:no-replica',
        "no 'replica': backups stay in one region, and a regional outage takes them with it; give a PgproofReplica in another region",
      );
    }

    ({
      network: this.network,
      cluster: this.cluster,
      alerts: this.alerts,
    } = addTaskPlatform(this, {
      network: props.network,
      bucket: this.vault.bucket,
      notificationEmails: props.notificationEmails,
    }));
    this.launcher = new BackupLauncher(this, 'Launcher', {
      cluster: this.cluster,
      vpc: this.network.vpc,
      subnets: this.network.subnets,
      vault: this.vault,
      prefix,
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
      image: this.imageFor(ecs.CpuArchitecture.ARM64),
      architecture: ecs.CpuArchitecture.ARM64,
      topic: this.alerts.topic,
      databases: [],
      postgresMajors: props.drill?.postgresMajors,
    });
    const keeper = this.restoreDrill.keepProvenFunction.role;
    if (!keeper) throw new Error('the KeepProvenBackup function has no role');
    this.legalHoldGuard = this.vault.guardLegalHolds(keeper, prefix, []);

    this.keyChangeRule = new KeyChangeRule(this, 'KeyChangeAlarm', {
      keyArns: [this.vault.key.keyArn, ...(replica ? [replica.key.keyArn] : [])],
      target: new targets.SnsTopic(this.alerts.topic, { message: keyChangeMessage() }),
    });

    const sharedAlarms = [
      this.launcher.errorsAlarm,
      this.launcher.deadLetterAlarm,
      ...(this.vault.replicationFailedAlarm ? [this.vault.replicationFailedAlarm] : []),
      this.restoreDrill.failedAlarm,
    ];
    this.alerts.notifyOn(...sharedAlarms);
    this.dashboard = new BackupDashboard(this, 'Dashboard', { databases: [], alarms: sharedAlarms });
    this.events = new BackupEvents(this, 'Events', {
      vault: this.vault,
      prefix,
      cluster: this.cluster,
      drillStateMachine: this.restoreDrill.stateMachine,
      chat: props.chat,
    });
    this.alerts.notifyOn(this.events.errorsAlarm);
    this.dashboard.addAlarms(this.events.errorsAlarm);

    this.node.addValidation({
      validate: () =>
        this.databases.size > 0
          ? []
          : [
              `PgproofBackups ${this.node.path} backs up no database: call addDatabase(name, { instance | cluster | endpoint, ... })`,
            ],
    });

    // What the `pgproof` CLI reads to find this deployment (cli/deployment.ts).
    new CfnOutput(this, STACK_OUTPUTS.bucket, { value: this.vault.bucket.bucketName });
    new CfnOutput(this, STACK_OUTPUTS.prefix, { value: prefix });
    new CfnOutput(this, STACK_OUTPUTS.launcher, { value: this.launcher.function.functionName });
    new CfnOutput(this, STACK_OUTPUTS.stateMachine, {
      value: this.restoreDrill.stateMachine.stateMachineArn,
    });
    new CfnOutput(this, STACK_OUTPUTS.databases, {
      value: Lazy.string({
        produce: () => {
          const schedules: DatabaseSchedules = Object.fromEntries(
            [...this.databases].map(([name, backup]) => [
              name,
              { schedule: backup.schedule.scheduleName, group: 'default' },
            ]),
          );
          return stack.toJsonString(schedules);
        },
      }),
    });
  }

  private readonly legalHoldGuard: { addDatabase(name: string): void };

  /**
   * A replica in another account forwards its key's guarded calls (CloudTrail's, source aws.kms) to this
   * account's default bus, where the key-change rule sends them to the alerts topic: the bus admits
   * exactly those from that account. A replica in this account needs nothing.
   */
  private admitReplicaKeyChanges(replica: IPgproofReplica): void {
    const stack = Stack.of(this);
    const keyAccount = replica.key.env.account;
    const account = replica.account ?? (Token.isUnresolved(keyAccount) ? undefined : keyAccount);
    if (account === undefined || Token.isUnresolved(account) || account === stack.account) return;
    new events.CfnEventBusPolicy(this, 'ReplicaKeyChangesPolicy', {
      eventBusName: 'default',
      statementId: `pgproof-replica-key-changes-${account}`,
      statement: {
        Effect: 'Allow',
        Principal: { AWS: `arn:${stack.partition}:iam::${account}:root` },
        Action: 'events:PutEvents',
        Resource: stack.formatArn({ service: 'events', resource: 'event-bus', resourceName: 'default' }),
        // Sources under aws. cannot be put by a principal: only a rule forwarding AWS's own events can.
        Condition: { 'ForAllValues:StringEquals': { 'events:source': ['aws.kms'] } },
      },
    });
  }

  /** The databases added so far, by name, in the order they were added. */
  get backups(): ReadonlyMap<string, DatabaseBackup> {
    return this.databases;
  }

  /**
   * Adds a database: its backup task (its own role, writing only under `<prefix><name>/`), schedule and
   * RPO alarm; ingress on the database's port from that task only; read access to its secret (or
   * `rds-db:connect` as its IAM user); its rotation here and in the replica; and its drill (on demand,
   * and on a schedule with an RTO when `drill` is given).
   */
  addDatabase(name: string, options: DatabaseOptions): DatabaseBackup {
    const where = `addDatabase('${name}')`;
    const settings: DatabaseSettings = parseDatabaseSettings(
      { ...LIBRARY_DATABASE_DEFAULTS, database: name, ...settingsOf(options) },
      where,
    );
    if (RESERVED_FOLDERS[name]) {
      throw new Error(`${where}: "${name}" is ${RESERVED_FOLDERS[name]}; give the database another name`);
    }
    if (this.databases.has(name)) throw new Error(`${where}: a database of this name was added already`);
    const location = locate(where, options);
    const login = loginOf(where, options);
    const constructName = this.constructIds.claim(name, `${where}:`);

    // `Database<Name>`: logical ids hash the construct path, and deployed backups' retained log groups
    // (and the ingress rule) must keep theirs.
    const id = `Database${constructName}`;
    const backup = new DatabaseBackup(this, id, {
      ...databaseBackupSettings({ ...settings, name, host: location.host, port: location.port }),
      ...login,
      vault: this.vault,
      prefix: this.backupPrefix,
      cluster: this.cluster,
      vpc: this.network.vpc,
      image: this.imageFor(taskArchitecture(settings)),
      launcher: this.launcher,
      objectLockMode: this.props.objectLockMode,
      additionalSecurityGroups: [this.network.taskSecurityGroup],
      databaseSecurityGroups: location.securityGroups,
    });
    this.databases.set(name, backup);

    const rotation = {
      prefix: databasePrefix(this.backupPrefix, name),
      retentionDays: retentionDays(settings),
    };
    this.vault.addRotation(rotation);
    this.props.replica?.addRotation?.(rotation);
    this.restoreDrill.addDatabase(drillDatabaseProps({ ...settings, name }));
    this.props.replica?.addDrillDatabase?.(drillDatabaseProps({ ...settings, name }));
    this.legalHoldGuard.addDatabase(name);
    if (settings.drill === undefined) {
      Annotations.of(this.restoreDrill).addInfo(
        `database "${name}" has no "drill": no schedule or alarm proves its backups restore; it can still be drilled on demand`,
      );
    }

    const overdue = this.restoreDrill.overdueAlarms.get(name);
    const alarms = overdue ? [backup.rpoAlarm, overdue] : [backup.rpoAlarm];
    // The one place alarms are routed: every alarm's ALARM and OK go to the alerts topic.
    this.alerts.notifyOn(...alarms);
    this.dashboard.addDatabase({ name, logGroup: backup.logGroup });
    this.dashboard.addAlarms(...alarms);
    this.events.watchRpoAlarm(name, backup.rpoAlarm);
    if (overdue) this.events.watchDrillOverdueAlarm(name, overdue);
    return backup;
  }

  private imageFor(architecture: ecs.CpuArchitecture): ecs.ContainerImage {
    let image = this.images.get(architecture);
    if (!image) {
      image = this.props.runnerImage?.(architecture) ?? runnerImageAsset(architecture);
      this.images.set(architecture, image);
    }
    return image;
  }
}

/** The task's login: the secret (given, or the database's own) or the IAM user with its connect grant. */
function loginOf(
  where: string,
  options: DatabaseOptions,
): Pick<DatabaseBackupProps, 'credentials' | 'iamAuth'> {
  if (options.iamAuth && options.credentials) {
    throw new Error(`${where}: give 'credentials' or 'iamAuth', not both`);
  }
  if (options.iamAuth) {
    const { user } = options.iamAuth;
    const database = options.instance ?? options.cluster;
    const grantConnect =
      options.iamAuth.grantConnect ??
      (database && ((grantee: iam.IGrantable) => database.grantConnect(grantee, user)));
    if (!grantConnect) {
      throw new Error(
        `${where}: 'iamAuth' with an 'endpoint' needs 'iamAuth.grantConnect' (rds-db:connect as ${user}); with 'instance' or 'cluster' it is theirs`,
      );
    }
    return { iamAuth: { user, grantConnect } };
  }
  // A generated secret of an instance or cluster made in this app.
  const credentials =
    options.credentials ??
    (options.instance as rds.DatabaseInstance | undefined)?.secret ??
    (options.cluster as rds.DatabaseCluster | undefined)?.secret;
  if (!credentials) {
    throw new Error(
      `${where}: give 'credentials' (a secret with "username" and "password") or 'iamAuth' ({ user }); the database has no generated secret to use`,
    );
  }
  return { credentials };
}

/** The settings part of a database's options (what pgproof.config.json also says). */
function settingsOf(options: DatabaseOptions): Partial<DatabaseSettingsInput> {
  const {
    instance: _instance,
    cluster: _cluster,
    endpoint: _endpoint,
    credentials: _credentials,
    iamAuth: _iamAuth,
    ...settings
  } = options;
  // A setting given as undefined takes its default, as one left out does.
  return Object.fromEntries(Object.entries(settings).filter(([, value]) => value !== undefined));
}

/** Host, port and the security groups to let the task into, from exactly one of the three forms. */
function locate(
  where: string,
  options: DatabaseLocation,
): { host: string; port: number; securityGroups: readonly ec2.ISecurityGroup[] } {
  const given = [options.instance, options.cluster, options.endpoint].filter((x) => x !== undefined);
  if (given.length !== 1) {
    throw new Error(
      `${where}: give exactly one of 'instance' (rds.IDatabaseInstance), 'cluster' (rds.IDatabaseCluster) or 'endpoint' ({ host, port })`,
    );
  }
  if (options.instance) {
    return {
      host: options.instance.dbInstanceEndpointAddress,
      port: Token.asNumber(options.instance.dbInstanceEndpointPort),
      securityGroups: options.instance.connections.securityGroups,
    };
  }
  if (options.cluster) {
    return {
      host: options.cluster.clusterEndpoint.hostname,
      port: options.cluster.clusterEndpoint.port,
      securityGroups: options.cluster.connections.securityGroups,
    };
  }
  const endpoint = options.endpoint as NonNullable<DatabaseLocation['endpoint']>;
  const port = endpoint.port ?? 5432;
  if (!Token.isUnresolved(port) && (!Number.isInteger(port) || port < 1 || port > 65_535)) {
    throw new Error(`${where}: 'endpoint.port' must be a port from 1 to 65535, got ${port}`);
  }
  return {
    host: endpoint.host,
    port,
    securityGroups: endpoint.securityGroup ? [endpoint.securityGroup] : [],
  };
}
