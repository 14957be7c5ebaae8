import { Duration, RemovalPolicy, TimeZone, Token, Tokenization, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import type * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { defaultDumpStreams, MAX_DUMP_STREAMS } from '../../core/config.ts';
import type { StartBackupEvent } from '../../core/launch.ts';
import { DATABASE_NAME_RULE, databasePrefix, isDatabaseName } from '../../core/layout.ts';
import type { VerifyLevel } from '../../core/manifest.ts';
import type { Tier } from '../../core/retention-tiers.ts';
import { databaseMetricDimensions, METRICS, METRICS_NAMESPACE } from '../../core/telemetry.ts';
import { addMissingSuccessAlarm } from './alarms.ts';
import type { BackupLauncher } from './backup-launcher.ts';
import type { IBackupVault, ObjectLockMode } from './backup-vault.ts';
import { revokeDefaultEgress } from './egress.ts';
import { acknowledgeWildcards } from './nag.ts';
import { addScratchVolumes } from './task-volumes.ts';

/** Name of the runner container in every backup task definition. */
export const RUNNER_CONTAINER_NAME = 'pg-dump';

/**
 * IAM database authentication of a backup: the runner logs in as {@link user} with a token its task role
 * signs for each connection, and no password exists anywhere.
 */
export interface DatabaseIamAuth {
  /** The database user the runner logs in as; the database must `GRANT rds_iam TO` it. */
  readonly user: string;
  /**
   * Grants `rds-db:connect` as exactly {@link user}, and nothing wider: for an `rds.IDatabaseInstance`
   * `(grantee) => instance.grantConnect(grantee, user)`, for a cluster `cluster.grantConnect(grantee, user)`.
   */
  readonly grantConnect: (grantee: iam.IGrantable) => iam.Grant;
}

/** Props of {@link DatabaseBackup}: one database from the deployment config, plus where its backups go. */
export interface DatabaseBackupProps {
  /** The database's name in the key layout (`BACKUP_NAME`): its backups go under `<prefix><name>/`. */
  readonly name: string;
  /** Endpoint of the PostgreSQL server. */
  readonly host: string;
  /**
   * Port of the PostgreSQL server.
   * @default 5432
   */
  readonly port?: number;
  /** The database to dump. */
  readonly database: string;
  /**
   * Secret with the JSON keys `username` and `password` (the RDS layout); injected as ECS secrets.
   * Exactly one of this and {@link iamAuth} is required.
   * @default - none: {@link iamAuth} logs in
   */
  readonly credentials?: secretsmanager.ISecret;
  /**
   * IAM database authentication: the task role may connect as one user, and the task holds no secret.
   * Exactly one of this and {@link credentials} is required; TLS must then verify the server
   * ({@link sslMode} `verify-full` or `verify-ca`), the token being the password.
   * @default - none: {@link credentials} logs in
   */
  readonly iamAuth?: DatabaseIamAuth;
  /** The backup bucket and its key (`KMS_KEY_ID`): the task may write only under `<prefix><name>/`. */
  readonly vault: IBackupVault;
  /**
   * Key prefix of all backups (`BACKUP_PREFIX`).
   * @default '' - backups start at the bucket's root
   */
  readonly prefix?: string;
  /** The cluster the task runs in. */
  readonly cluster: ecs.ICluster;
  /** The VPC of the task's security group. */
  readonly vpc: ec2.IVpc;
  /** The backup runner image (containers/pg-dump). */
  readonly image: ecs.ContainerImage;
  /** The launcher the schedule invokes. */
  readonly launcher: BackupLauncher;
  /** EventBridge Scheduler cron expression, e.g. `cron(0 2 * * ? *)`. */
  readonly schedule: string;
  /** IANA time zone of {@link schedule}; tiers follow its calendar. */
  readonly timeZone: string;
  /** Days each tier is kept (Object Lock retention and lifecycle expiry). */
  readonly retentionDays: Readonly<Record<Tier, number>>;
  /** The alarm fires when no backup succeeded within this time (whole hours, at most 7 days). */
  readonly rpo: Duration;
  /**
   * Object Lock mode the runner sets on each object.
   * @default 'GOVERNANCE'
   */
  readonly objectLockMode?: ObjectLockMode;
  /** pg_dump `--table` patterns. @default - every table */
  readonly includeTables?: readonly string[];
  /** pg_dump `--exclude-table` patterns. @default - none */
  readonly excludeTables?: readonly string[];
  /** pg_dump `--schema` patterns. @default - every schema */
  readonly includeSchemas?: readonly string[];
  /** pg_dump `--exclude-schema` patterns. @default - none */
  readonly excludeSchemas?: readonly string[];
  /**
   * Also save roles and tablespaces (no passwords).
   * @default true
   */
  readonly dumpGlobals?: boolean;
  /**
   * How the manifest records the data for later verification.
   * @default 'counts' - exact row counts per table
   */
  readonly verify?: VerifyLevel;
  /**
   * How many pg_dump processes dump the database at once, in its one snapshot (`DUMP_STREAMS`, 1 to 16).
   * More than the task's vCPUs gains nothing: each stream compresses on a CPU of its own.
   * @default - one per vCPU of {@link cpu} (`cpu / 1024`, at least 1)
   */
  readonly dumpStreams?: number;
  /** Fargate CPU units. @default 1024 - one vCPU */
  readonly cpu?: number;
  /** Fargate memory. @default 2048 */
  readonly memoryMiB?: number;
  /** Task disk. @default - Fargate's 20 GiB */
  readonly ephemeralStorageGiB?: number;
  /** CPU architecture of the task (and of its image). @default ecs.CpuArchitecture.ARM64 */
  readonly architecture?: ecs.CpuArchitecture;
  /**
   * The database's security groups (an RDS instance's or cluster's `connections.securityGroups`): each
   * gets an ingress rule on the port from this backup task's group, the only place the task may reach.
   * @default - no rule; the database must already admit the task's subnets
   */
  readonly databaseSecurityGroups?: readonly ec2.ISecurityGroup[];
  /**
   * Groups the task carries besides its own, e.g. the one the VPC endpoints admit. The task's own group
   * lets out only the database's port.
   * @default - none: the task's own group then also lets out HTTPS (to the AWS services)
   */
  readonly additionalSecurityGroups?: readonly ec2.ISecurityGroup[];
  /** How long task logs are kept. @default logs.RetentionDays.THREE_MONTHS */
  readonly logRetention?: logs.RetentionDays;
  /**
   * libpq's `PGSSLMODE` towards the database. The image trusts the Amazon RDS certificate authorities.
   * With {@link iamAuth}, `require` is refused: the token is the password, and must go only to the real server.
   * @default 'verify-full' - TLS only, with the server's certificate and host name verified
   */
  readonly sslMode?: 'verify-full' | 'verify-ca' | 'require';
}

/**
 * Everything one database's backups need: a Fargate task definition of the runner with the
 * database's settings, credentials as ECS secrets (or, with IAM authentication, none: the task role may
 * connect as one database user) and a task role that may only write that database's prefix; a security group let into the database; the schedule that invokes the
 * launcher; and the alarm that fires when no backup succeeded within the RPO.
 */
export class DatabaseBackup extends Construct {
  /** The runner's Fargate task; the launcher starts it with RunTask. */
  public readonly taskDefinition: ecs.FargateTaskDefinition;
  /** The runner container, named {@link RUNNER_CONTAINER_NAME}. */
  public readonly container: ecs.ContainerDefinition;
  /** The task's security group: out to the database's port only (HTTPS too without other groups); the database admits it. */
  public readonly securityGroup: ec2.SecurityGroup;
  /** The runner's logs, including its EMF metrics. */
  public readonly logGroup: logs.LogGroup;
  /** Invokes the launcher with this database's payload at each scheduled time. */
  public readonly schedule: scheduler.Schedule;
  /** Fires when no successful backup was recorded within the RPO, including when there is no data at all. */
  public readonly rpoAlarm: cloudwatch.Alarm;
  /** The database's name in the key layout (`BACKUP_NAME`), its metrics' `Database` dimension. */
  public readonly name: string;

  constructor(scope: Construct, id: string, props: DatabaseBackupProps) {
    super(scope, id);
    this.name = props.name;
    const prefix = props.prefix ?? '';
    const rpoHours = props.rpo.toHours({ integral: false });
    if (!Token.isUnresolved(rpoHours) && (!Number.isInteger(rpoHours) || rpoHours < 1 || rpoHours > 168)) {
      throw new Error(
        `'rpo' must be whole hours from 1 to 168 (an alarm looks back at most 7 days), got ${rpoHours}`,
      );
    }
    if (!isDatabaseName(props.name)) {
      throw new Error(`'name' ${DATABASE_NAME_RULE}, got "${props.name}"`);
    }
    const cpu = props.cpu ?? 1024;
    // Always set, so that the runner never counts the CPUs of the Fargate host instead of the task's.
    const dumpStreams = props.dumpStreams ?? defaultDumpStreams(cpu);
    if (
      !Token.isUnresolved(dumpStreams) &&
      (!Number.isInteger(dumpStreams) || dumpStreams < 1 || dumpStreams > MAX_DUMP_STREAMS)
    ) {
      throw new Error(
        `'dumpStreams' must be a whole number from 1 to ${MAX_DUMP_STREAMS} (parallel pg_dump processes; default: the task's vCPUs), got ${dumpStreams}`,
      );
    }
    const ownPrefix = databasePrefix(prefix, props.name);
    const login = databaseLogin(props);

    this.logGroup = new logs.LogGroup(this, 'Logs', {
      retention: props.logRetention ?? logs.RetentionDays.THREE_MONTHS,
      removalPolicy: RemovalPolicy.RETAIN,
    });

    this.taskDefinition = new ecs.FargateTaskDefinition(this, 'Task', {
      cpu,
      memoryLimitMiB: props.memoryMiB ?? 2048,
      ephemeralStorageGiB: props.ephemeralStorageGiB,
      runtimePlatform: {
        cpuArchitecture: props.architecture ?? ecs.CpuArchitecture.ARM64,
        operatingSystemFamily: ecs.OperatingSystemFamily.LINUX,
      },
    });
    const list = (values: readonly string[] | undefined) => (values?.length ? values.join(',') : undefined);
    const environment: Record<string, string | undefined> = {
      PGHOST: props.host,
      // A token when the port is another construct's (an RDS instance's endpoint port).
      PGPORT: Tokenization.stringifyNumber(props.port ?? 5432),
      PGDATABASE: props.database,
      PGSSLMODE: login.sslMode,
      ...(props.iamAuth ? { PGUSER: props.iamAuth.user, PG_IAM_AUTH: 'true' } : {}),
      BACKUP_BUCKET: props.vault.bucket.bucketName,
      BACKUP_PREFIX: prefix || undefined,
      BACKUP_NAME: props.name,
      KMS_KEY_ID: props.vault.key.keyArn,
      // The launcher overrides these per run with the tier it picked.
      BACKUP_TIER: 'daily',
      RETENTION_DAYS: String(props.retentionDays.daily),
      OBJECT_LOCK_MODE: props.objectLockMode ?? 'GOVERNANCE',
      INCLUDE_TABLES: list(props.includeTables),
      EXCLUDE_TABLES: list(props.excludeTables),
      INCLUDE_SCHEMAS: list(props.includeSchemas),
      EXCLUDE_SCHEMAS: list(props.excludeSchemas),
      DUMP_GLOBALS: String(props.dumpGlobals ?? true),
      VERIFY: props.verify ?? 'counts',
      DUMP_STREAMS: Tokenization.stringifyNumber(dumpStreams),
    };
    this.container = this.taskDefinition.addContainer('Runner', {
      containerName: RUNNER_CONTAINER_NAME,
      image: props.image,
      essential: true,
      // The runner streams the dump to S3 and writes no file; /tmp is a task volume for what its tools might.
      readonlyRootFilesystem: true,
      environment: Object.fromEntries(
        Object.entries(environment).filter((entry): entry is [string, string] => entry[1] !== undefined),
      ),
      ...(login.credentials
        ? {
            secrets: {
              PGUSER: ecs.Secret.fromSecretsManager(login.credentials, 'username'),
              PGPASSWORD: ecs.Secret.fromSecretsManager(login.credentials, 'password'),
            },
          }
        : {}),
      logging: ecs.LogDrivers.awsLogs({ logGroup: this.logGroup, streamPrefix: props.name }),
    });
    addScratchVolumes(this.taskDefinition, this.container, [{ name: 'tmp', containerPath: '/tmp' }]);
    props.vault.grantBackupWrite(this.taskDefinition.taskRole, ownPrefix, {
      name: props.name,
      maxRetentionDays: Math.max(...Object.values(props.retentionDays)),
    });
    // ECS reads the secret with the execution role; a secret under a customer-managed key needs it too.
    login.credentials?.encryptionKey?.grantDecrypt(this.taskDefinition.obtainExecutionRole());
    props.iamAuth?.grantConnect(this.taskDefinition.taskRole);
    Validations.of(this.taskDefinition).acknowledge({
      id: 'AwsSolutions-ECS2',
      reason: login.credentials
        ? 'The environment holds only non-secret settings (host, bucket, selections); the credentials come from Secrets Manager as ECS secrets.'
        : 'The environment holds only non-secret settings (host, user, bucket, selections); no password exists: the runner signs an IAM token for each connection.',
    });
    acknowledgeWildcards(
      this.taskDefinition.taskRole,
      `The runner names its objects at run time; it may write only under ${ownPrefix}.`,
      { resources: [props.vault.bucket.arnForObjects(`${ownPrefix}*`)] },
    );
    acknowledgeWildcards(
      this.taskDefinition.obtainExecutionRole(),
      'ecr:GetAuthorizationToken, needed to pull the runner image, has no resource to name.',
      { resources: ['*'] },
    );

    // Out to the database's port only; the task's other groups (the network's task group) let it
    // reach the AWS service endpoints. Without other groups, this one lets out HTTPS too.
    this.securityGroup = new ec2.SecurityGroup(this, 'SecurityGroup', {
      vpc: props.vpc,
      description: `pgproof backup task of ${props.name}`,
      allowAllOutbound: false,
    });
    const databasePort = ec2.Port.tcp(props.port ?? 5432);
    const databaseGroups = props.databaseSecurityGroups ?? [];
    for (const peer of databaseGroups.length > 0 ? databaseGroups : [ec2.Peer.anyIpv4()]) {
      this.securityGroup.addEgressRule(peer, databasePort, `PostgreSQL of ${props.name}`);
    }
    if (!props.additionalSecurityGroups?.length) {
      this.securityGroup.addEgressRule(ec2.Peer.anyIpv4(), ec2.Port.tcp(443), 'HTTPS to the AWS services');
    } else if (databaseGroups.length > 0) {
      // The rules to the database's groups are resources of their own, not inline rules.
      revokeDefaultEgress(this.securityGroup);
    }
    for (const group of databaseGroups) {
      group.addIngressRule(this.securityGroup, databasePort, `pgproof backup task of ${props.name}`);
    }

    props.launcher.allowToStart(this.taskDefinition);
    const payload: StartBackupEvent = {
      database: props.name,
      scheduledTime: scheduler.ContextAttribute.scheduledTime,
      timeZone: props.timeZone,
      taskDefinitionArn: this.taskDefinition.taskDefinitionArn,
      containerName: RUNNER_CONTAINER_NAME,
      securityGroupIds: [
        this.securityGroup.securityGroupId,
        ...(props.additionalSecurityGroups ?? []).map((group) => group.securityGroupId),
      ],
      retentionDays: { ...props.retentionDays },
    };
    this.schedule = new scheduler.Schedule(this, 'Schedule', {
      description: `pgproof: back up ${props.name}`,
      schedule: scheduler.ScheduleExpression.expression(props.schedule, TimeZone.of(props.timeZone)),
      target: props.launcher.target(scheduler.ScheduleTargetInput.fromObject(payload)),
    });

    this.rpoAlarm = addMissingSuccessAlarm(this, 'RpoAlarm', this.metricBackupSucceeded(), {
      description: `pgproof: no successful backup of ${props.name} in the last ${rpoHours} hours (its RPO). Check the task log and the schedule.`,
      // Every hour of the RPO window without a success breaches, missing data included.
      periods: rpoHours,
    });
  }

  /**
   * `BackupSucceeded` of this database (the runner publishes 1 per successful backup).
   * @default - hourly sum
   */
  metricBackupSucceeded(options: cloudwatch.MetricOptions = {}): cloudwatch.Metric {
    return new cloudwatch.Metric({
      namespace: METRICS_NAMESPACE,
      metricName: METRICS.backupSucceeded,
      dimensionsMap: databaseMetricDimensions(this.name),
      statistic: 'Sum',
      period: Duration.hours(1),
      ...options,
    });
  }
}

/**
 * How the task logs in: exactly one of a secret and IAM authentication, and the TLS mode towards the
 * database (one that verifies the server when an IAM token is the password).
 */
function databaseLogin(props: DatabaseBackupProps): {
  readonly credentials: secretsmanager.ISecret | undefined;
  readonly sslMode: NonNullable<DatabaseBackupProps['sslMode']>;
} {
  if ((props.credentials === undefined) === (props.iamAuth === undefined)) {
    throw new Error(
      `exactly one of 'credentials' (a secret with username and password) and 'iamAuth' (IAM database authentication) is required, got ${props.credentials ? 'both' : 'neither'}`,
    );
  }
  const sslMode = props.sslMode ?? 'verify-full';
  if (props.iamAuth) {
    const { user } = props.iamAuth;
    if (!Token.isUnresolved(user) && user.trim() === '') {
      throw new Error("'iamAuth.user' must name the database user granted rds_iam, got an empty string");
    }
    if (sslMode !== 'verify-full' && sslMode !== 'verify-ca') {
      throw new Error(
        `'sslMode' must be 'verify-full' or 'verify-ca' with 'iamAuth' (the IAM token travels as the password), got '${sslMode}'`,
      );
    }
  }
  return { credentials: props.credentials, sslMode };
}
