import { Duration, Stack, Token } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import type * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type * as scheduler from 'aws-cdk-lib/aws-scheduler';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { DR_DRILL_DEFAULT_WINDOW_DAYS } from '../../core/config-dr-drill.ts';
import { readScratchImage } from '../../core/config-drill.ts';
import type { DrillDatabase, RetrievalTier, SqlCheck } from '../../core/drill.ts';
import type { DrillKind } from '../../core/drill-report.ts';
import { DATABASE_NAME_RULE, isDatabaseName, isKeyPrefix, KEY_PREFIX_RULE } from '../../core/layout.ts';
import { databaseMetricDimensions, METRICS, METRICS_NAMESPACE } from '../../core/telemetry.ts';
import { toolchain } from '../../core/toolchain.ts';
import { BackupVault } from './backup-vault.ts';
import { pascalCase } from './construct-id.ts';
import { addDrillAlarms, type DrillAlarms } from './drill-alarms.ts';
import { addDrDrillWatch, type DrDrillWatch } from './drill-dr-watch.ts';
import { addDrillFunctions, type DrillFunctions } from './drill-functions.ts';
import { addDrillRetrieval, type DrillRetrieval } from './drill-retrieval.ts';
import { allowRunningDrillTasks, type DrillRunTaskPermissions } from './drill-run-task-permissions.ts';
import { addDrillSchedules, type DrillSchedules, type ScheduledSample } from './drill-schedules.ts';
import { addDrillTasks, type DrillTasks, POSTGRES_CACHE_PREFIX } from './drill-tasks.ts';
import { addDrillWorkflow } from './drill-workflow.ts';

export {
  POSTGRES_CACHE_PREFIX,
  POSTGRES_CONTAINER_NAME,
  RESTORE_CONTAINER_NAME,
  RESTORE_WORK_DIR,
  SCRATCH_SUPERUSER,
} from './drill-tasks.ts';
export { DRILL_STARTED_BY } from './drill-workflow.ts';

/** One database the drill can restore. */
export interface DrillDatabaseProps {
  /** The database's name in the key layout (`BACKUP_NAME`), as the drill's input names it. */
  readonly name: string;
  /**
   * Recovery time objective: a drill whose download and restore take longer fails.
   * @default - none: the drill is judged by verification alone; its report still measures the restore time
   */
  readonly rto?: Duration;
  /**
   * EventBridge Scheduler expression of the drill, e.g. `cron(0 5 ? * SUN *)`.
   * @default - no schedule: the drill runs only when started from the console
   */
  readonly schedule?: string;
  /**
   * IANA time zone of {@link schedule}.
   * @default 'UTC'
   */
  readonly timeZone?: string;
  /**
   * The overdue alarm fires after this many whole days without a passed drill: 1 to 7 (CloudWatch looks
   * back at most 7 days); in a DR drill ({@link RestoreDrillProps.kind} `dr`, whose daily watch reads the
   * metric's history) 1 to 400.
   * @default 7 - a weekly drill that fails once alarms; in a DR drill 35, a monthly drill that misses once
   */
  readonly maxDaysWithoutSuccess?: number;
  /**
   * Whether an alarm fires when no drill of this database passed within {@link maxDaysWithoutSuccess}.
   * Turn it off for a database drilled only on demand, which would otherwise always be in alarm.
   * @default true
   */
  readonly alarmWhenOverdue?: boolean;
  /**
   * The database's own SQL checks, run on the restored copy; each must return one row whose first
   * column is true.
   * @default - none: only row counts (and hashes) against the manifest
   */
  readonly checks?: readonly SqlCheck[];
  /**
   * The scratch server's image for this database's drills, `{major}` standing for the PostgreSQL
   * major, e.g. `public.ecr.aws/docker/library/postgres:{major}` or
   * `123456789012.dkr.ecr.eu-west-1.amazonaws.com/postgis:{major}-3.5`: an image built on Docker's
   * official `postgres` image (its entrypoint, `POSTGRES_USER`, `pg_isready`) for the drill's
   * {@link RestoreDrillProps.architecture}, with the extensions this database's backups need. It must be on
   * ECR Public (pulled through the drill's pull-through cache) or in the stack's own account and
   * region's ECR (the execution role may pull exactly that repository): drill tasks reach nothing else.
   * A string, not an `ecs.ContainerImage`: the construct decides how the task pulls it and grants that.
   * @default - {@link RestoreDrillProps.postgresImage}: each major's task definition shared by every database
   */
  readonly postgresImage?: string;
  /**
   * Extra drills of a random backup of a tier taken within a window, each on its own schedule (in
   * {@link timeZone}), e.g. `[{ tier: 'monthly', withinDays: 365, schedule: 'cron(0 6 1 * ? *)' }]`.
   * @default - none: only the latest backup is drilled on a schedule
   */
  readonly samples?: readonly ScheduledSample[];
  /**
   * How S3 retrieves this database's backups in Glacier Flexible Retrieval or Deep Archive before a
   * drill (a drill's input may say otherwise).
   * @default 'Standard' - Deep Archive within 12 hours; 'Bulk' takes up to 48 and costs less
   */
  readonly retrievalTier?: RetrievalTier;
}

/** Props of {@link RestoreDrill}. */
export interface RestoreDrillProps {
  /** The backup bucket and its key: the drill reads backups and writes reports under `<prefix>drills/`. */
  readonly bucket: s3.IBucket;
  readonly key: kms.IKey;
  /**
   * Key prefix of all backups (`BACKUP_PREFIX`).
   * @default '' - backups start at the bucket's root
   */
  readonly prefix?: string;
  /** Where drill tasks run. */
  readonly cluster: ecs.ICluster;
  readonly vpc: ec2.IVpc;
  /**
   * Subnets of drill tasks (no public IP; they need a route to S3, ECR and CloudWatch Logs).
   * @default - the VPC's private subnets
   */
  readonly subnets?: ec2.SubnetSelection;
  /**
   * Security group of drill tasks. Nothing needs to reach them: the scratch server listens on localhost.
   * Give one that lets out only HTTPS to S3 and the VPC's service endpoints (BackupNetwork's task group).
   * @default - a new group that admits nothing and lets out only HTTPS
   */
  readonly securityGroup?: ec2.ISecurityGroup;
  /** The runner image (containers/pg-dump's Dockerfile: it holds both runners). */
  readonly image: ecs.ContainerImage;
  /**
   * The restore runner's command in {@link image}.
   * @default ['node', '/app/pg-restore.mjs']
   */
  readonly command?: string[];
  /** Where drill results and failures are sent (the stack routes the drill's alarms). */
  readonly topic: sns.ITopic;
  /**
   * The databases the drill may restore; more can be added with {@link RestoreDrill.addDatabase}.
   * @default [] - none until added
   */
  readonly databases?: readonly DrillDatabaseProps[];
  /**
   * PostgreSQL majors a scratch server is provided for: a backup is restored into the major it was
   * taken from.
   * @default - every major the version matrix proves (scripts/toolchain.json: 13 to 18)
   */
  readonly postgresMajors?: readonly number[];
  /**
   * The scratch server's image of a major.
   * @default - Docker's official `postgres:<major>` from ECR Public, pulled through an ECR
   * pull-through cache rule (prefix {@link POSTGRES_CACHE_PREFIX}) that this construct creates: tasks in
   * subnets without an internet route pull it through the VPC's ECR endpoints
   */
  readonly postgresImage?: (major: number) => ecs.ContainerImage;
  /**
   * CPU architecture of drill tasks; {@link image} must be built for it.
   * @default ecs.CpuArchitecture.ARM64
   */
  readonly architecture?: ecs.CpuArchitecture;
  /** @default logs.RetentionDays.THREE_MONTHS */
  readonly logRetention?: logs.RetentionDays;
  /**
   * `dr`: a DR drill, of a replica bucket under its key in the replica region. Its runner measures the
   * replication (`DRILL_KIND=dr`: the report's `dr`); EvaluateReport says "DR drill" and publishes
   * `DrDrillPassed` (not `DrillPassed`); there is no KeepProvenBackup (the replica's legal holds are
   * replicated from the primary, and a DR drill may not manage them); and a daily watch feeds the overdue
   * alarms, whose windows may be longer than 7 days.
   * @default 'primary'
   */
  readonly kind?: DrillKind;
}

/**
 * The restore drill: a Step Functions workflow that restores a backup into a scratch PostgreSQL (a
 * sidecar of the backup's major in one Fargate task with the restore runner), verifies it against
 * its manifest, judges it against the database's RTO and notifies; drill schedules; and alarms for
 * a failed drill and for a database without a passed drill for too long.
 *
 * Each job is in a file of its own (drill-tasks, drill-functions, drill-workflow,
 * drill-run-task-permissions, drill-schedules, drill-alarms), and each adds its resources to this
 * construct's scope rather than to a child construct of its own: logical ids hash the construct path,
 * so a child would replace every deployed drill resource, retained log groups included.
 *
 * Databases come in the props or one at a time with {@link addDatabase}; either way the template is
 * the same: what is made from the list of databases (the Lambdas' environment, the policies naming
 * each database) reads it at synth.
 */
export class RestoreDrill extends Construct {
  public readonly stateMachine: sfn.StateMachine;
  /** One drill task definition per PostgreSQL major. */
  public readonly taskDefinitions: ReadonlyMap<number, ecs.FargateTaskDefinition>;
  /**
   * Per database with a {@link DrillDatabaseProps.postgresImage} of its own, its drill task definition of
   * each PostgreSQL major: its drills run these instead of {@link taskDefinitions}.
   */
  public readonly databaseTaskDefinitions: ReadonlyMap<
    string,
    ReadonlyMap<number, ecs.FargateTaskDefinition>
  >;
  /**
   * The drill task definitions' own task role, which may do nothing: each drill runs with its
   * database's role from {@link databaseTaskRoles}, passed as the RunTask override.
   */
  public readonly taskRole: iam.Role;
  /**
   * Per database name, the role its drills run with: reads only that database's backups
   * (`<prefix><name>/`) and writes only its reports (`<prefix>drills/<name>/`).
   */
  public readonly databaseTaskRoles: ReadonlyMap<string, iam.Role>;
  public readonly securityGroup: ec2.ISecurityGroup;
  public readonly resolveFunction: nodejs.NodejsFunction;
  public readonly evaluateFunction: nodejs.NodejsFunction;
  /** Restores an archived backup's objects before its drill (functions/retrieve-backup.ts). */
  public readonly retrieveFunction: lambda.Function;
  /** The drill's kind: `primary`, or `dr` in a replica region. */
  public readonly kind: DrillKind;
  /** A DR drill's daily watch of its databases' last passed DR drill; none in a primary drill. */
  public readonly drWatch?: DrDrillWatch;
  /** Logs of the drill tasks' containers. */
  public readonly taskLogGroup: logs.LogGroup;
  /** Every event of every execution. */
  public readonly executionLogGroup: logs.LogGroup;
  /** One per database with a schedule, in the order the databases were added. */
  public readonly schedules: readonly scheduler.Schedule[];
  /** Fires when an execution fails, times out or is aborted. */
  public readonly failedAlarm: cloudwatch.Alarm;
  /** Per database with `alarmWhenOverdue`: fires when no drill passed within its `maxDaysWithoutSuccess`. */
  public readonly overdueAlarms: ReadonlyMap<string, cloudwatch.Alarm>;

  private readonly majors: readonly number[];
  private readonly keepProven: nodejs.NodejsFunction | undefined;
  /** A DR drill's overdue windows in days, by database (`DR_DRILL_WINDOWS` of its watch). */
  private readonly drWindows = new Map<string, number>();
  private readonly tasks: DrillTasks;
  private readonly functions: DrillFunctions;
  private readonly retrieval: DrillRetrieval;
  private readonly runTaskPermissions: DrillRunTaskPermissions;
  private readonly drillSchedules: DrillSchedules;
  private readonly alarms: DrillAlarms;
  /** Each database's settings as ResolveBackup reads them (`DRILL_DATABASES`), in the order added. */
  private readonly drillDatabases = new Map<string, DrillDatabase>();
  /** Each database added, by its construct id (`pascalCase` of its name): two names may not share one. */
  private readonly databaseIds = new Map<string, string>();

  constructor(scope: Construct, id: string, props: RestoreDrillProps) {
    super(scope, id);
    const prefix = props.prefix ?? '';
    this.kind = props.kind ?? 'primary';
    this.majors = props.postgresMajors ?? toolchain.postgresServerMajors;
    const logRetention = props.logRetention ?? logs.RetentionDays.THREE_MONTHS;
    validateProps(prefix, this.majors);

    this.securityGroup =
      props.securityGroup ??
      new ec2.SecurityGroup(this, 'SecurityGroup', {
        vpc: props.vpc,
        description: 'pgproof restore drill tasks (no inbound: the scratch server listens on localhost)',
        allowAllOutbound: false,
      });
    if (!props.securityGroup) {
      // A drill reaches S3 and what it pulls (ECR, CloudWatch Logs), all over HTTPS, and nothing else.
      this.securityGroup.addEgressRule(ec2.Peer.anyIpv4(), ec2.Port.tcp(443), 'HTTPS to AWS services');
    }
    const vault = BackupVault.fromBucketAndKey(props.bucket, props.key);
    this.tasks = addDrillTasks(this, {
      vault,
      prefix,
      postgresMajors: this.majors,
      image: props.image,
      command: props.command ?? ['node', '/app/pg-restore.mjs'],
      postgresImage: props.postgresImage,
      architecture: props.architecture ?? ecs.CpuArchitecture.ARM64,
      logRetention,
      kind: this.kind,
    });
    this.taskDefinitions = this.tasks.taskDefinitions;
    this.databaseTaskDefinitions = this.tasks.databaseTaskDefinitions;
    this.taskRole = this.tasks.taskRole;
    this.databaseTaskRoles = this.tasks.databaseTaskRoles;
    this.taskLogGroup = this.tasks.taskLogGroup;

    this.functions = addDrillFunctions(this, {
      vault,
      prefix,
      databases: this.drillDatabases,
      taskDefinitions: this.tasks.taskDefinitions,
      databaseTaskDefinitions: this.tasks.databaseTaskDefinitions,
      taskRoles: this.tasks.databaseTaskRoles,
      logRetention,
      kind: this.kind,
    });
    this.resolveFunction = this.functions.resolveFunction;
    this.evaluateFunction = this.functions.evaluateFunction;
    this.keepProven = this.functions.keepProvenFunction;
    this.retrieval = addDrillRetrieval(this, { vault, prefix, logRetention });
    this.retrieveFunction = this.retrieval.retrieveFunction;

    const workflow = addDrillWorkflow(this, {
      resolveFunction: this.resolveFunction,
      retrieveFunction: this.retrieveFunction,
      evaluateFunction: this.evaluateFunction,
      keepProvenFunction: this.keepProven,
      cluster: props.cluster,
      vpc: props.vpc,
      subnets: props.subnets,
      securityGroup: this.securityGroup,
      topic: props.topic,
      logRetention,
    });
    this.stateMachine = workflow.stateMachine;
    this.executionLogGroup = workflow.executionLogGroup;
    this.runTaskPermissions = allowRunningDrillTasks(this.stateMachine, {
      cluster: props.cluster,
      taskDefinitions: [...this.tasks.taskDefinitions.values()],
      taskRole: this.tasks.taskRole,
      executionRole: this.tasks.executionRole,
      functions: [
        this.resolveFunction,
        this.evaluateFunction,
        ...(this.keepProven ? [this.keepProven] : []),
        this.retrieveFunction,
      ],
    });

    this.drillSchedules = addDrillSchedules(this, this.stateMachine);
    this.schedules = this.drillSchedules.schedules;
    const drWatch =
      this.kind === 'dr' ? addDrDrillWatch(this, { windows: this.drWindows, logRetention }) : undefined;
    this.drWatch = drWatch;
    this.alarms = addDrillAlarms(this, {
      failedDrills: this.metricFailedDrills(),
      drillPassed: (database) => this.metricDrillPassed(database),
      ...(drWatch ? { daysSinceDrDrillPassed: drWatch.metricDaysSincePassed } : {}),
    });
    this.failedAlarm = this.alarms.failedAlarm;
    this.overdueAlarms = this.alarms.overdueAlarms;
    this.node.addValidation({
      validate: () =>
        this.drillDatabases.size > 0
          ? []
          : ["RestoreDrill has no database to drill: give it 'databases' or call addDatabase()"],
    });

    for (const db of props.databases ?? []) this.addDatabase(db);
  }

  /**
   * Makes `db` drillable: its drill task role (and its own task definitions, with a `postgresImage`),
   * its schedule and overdue alarm, the workflow's permission to run them, KeepProvenBackup's on its
   * backups, and its entry in what ResolveBackup reads. The same as giving it in `databases`.
   */
  addDatabase(db: DrillDatabaseProps): void {
    validateDatabase(db, this.databaseIds, this.majors, Stack.of(this), this.kind);
    this.databaseIds.set(pascalCase(db.name), db.name);
    this.drillDatabases.set(db.name, {
      ...(db.rto === undefined ? {} : { rtoMinutes: db.rto.toMinutes() }),
      checks: (db.checks ?? []).map((c) => ({ name: c.name, sql: c.sql })),
      ...(db.retrievalTier === undefined ? {} : { retrievalTier: db.retrievalTier }),
    });
    const tasks = this.tasks.addDatabase(db.name, db.postgresImage);
    this.functions.addDatabase(db.name);
    this.retrieval.addDatabase(db.name);
    this.runTaskPermissions.addDatabase(tasks.role, tasks.taskDefinitions?.values());
    this.drillSchedules.addDatabase(db);
    if (this.kind === 'dr' && (db.alarmWhenOverdue ?? true)) {
      this.drWindows.set(db.name, db.maxDaysWithoutSuccess ?? DR_DRILL_DEFAULT_WINDOW_DAYS);
    }
    this.alarms.addDatabase(db);
  }

  /**
   * Keeps the last proven backup of each tier with legal holds (functions/keep-proven-backup.ts). A DR
   * drill has none: throws, naming the kind.
   */
  get keepProvenFunction(): nodejs.NodejsFunction {
    if (!this.keepProven) {
      throw new Error(
        "RestoreDrill of kind 'dr' has no KeepProvenBackup: the replica's legal holds are replicated from the primary",
      );
    }
    return this.keepProven;
  }

  /** Executions that failed, timed out or were aborted, summed per 5 minutes. */
  metricFailedDrills(): cloudwatch.MathExpression {
    return new cloudwatch.MathExpression({
      expression: 'failed + timedOut + aborted',
      usingMetrics: {
        failed: this.stateMachine.metricFailed({ statistic: 'Sum' }),
        timedOut: this.stateMachine.metricTimedOut({ statistic: 'Sum' }),
        aborted: this.stateMachine.metricAborted({ statistic: 'Sum' }),
      },
      period: Duration.minutes(5),
      label: 'failed drills',
    });
  }

  /**
   * `DrillPassed` of one database (EvaluateReport publishes 1 for a passed drill, 0 for a failed one);
   * in a DR drill `DrDrillPassed`.
   * @default - daily maximum: 1 on a day a drill of it passed
   */
  metricDrillPassed(database: string, options: cloudwatch.MetricOptions = {}): cloudwatch.Metric {
    return new cloudwatch.Metric({
      namespace: METRICS_NAMESPACE,
      metricName: this.kind === 'dr' ? METRICS.drDrillPassed : METRICS.drillPassed,
      dimensionsMap: databaseMetricDimensions(database),
      statistic: 'Maximum',
      period: Duration.days(1),
      ...options,
    });
  }
}

/** Throws on props that would deploy a drill that cannot work, naming the prop and the fix. */
function validateProps(prefix: string, majors: readonly number[]): void {
  if (!isKeyPrefix(prefix)) {
    throw new Error(`'prefix' ${KEY_PREFIX_RULE}, got "${prefix}"`);
  }
  for (const major of majors) {
    if (!Number.isInteger(major) || major < 10) {
      throw new Error(`'postgresMajors' must hold PostgreSQL major versions like 16, got ${major}`);
    }
  }
}

/**
 * Throws on a database a drill cannot work with, naming the prop and the fix: the same messages
 * whether it came in `databases` or through addDatabase. `ids` holds the databases already added.
 */
function validateDatabase(
  db: DrillDatabaseProps,
  ids: ReadonlyMap<string, string>,
  majors: readonly number[],
  stack: Stack,
  kind: DrillKind,
): void {
  if (!isDatabaseName(db.name)) {
    throw new Error(`'databases[].name' ${DATABASE_NAME_RULE}, got "${db.name}"`);
  }
  if (ids.has(pascalCase(db.name))) {
    throw new Error(`'databases' names "${db.name}" twice (or two names that differ only in "_" and "-")`);
  }
  const minutes = db.rto?.toMinutes({ integral: false });
  if (minutes !== undefined && !Token.isUnresolved(minutes) && (!Number.isInteger(minutes) || minutes < 1)) {
    throw new Error(`'databases[${db.name}].rto' must be whole minutes, at least 1, got ${minutes}`);
  }
  const days = db.maxDaysWithoutSuccess ?? 7;
  if (kind === 'dr' && (!Number.isInteger(days) || days < 1 || days > 400)) {
    throw new Error(
      `'databases[${db.name}].maxDaysWithoutSuccess' of a DR drill must be whole days from 1 to 400, got ${days}`,
    );
  }
  if (kind === 'primary' && (!Number.isInteger(days) || days < 1 || days > 7)) {
    throw new Error(
      `'databases[${db.name}].maxDaysWithoutSuccess' must be whole days from 1 to 7 (an alarm looks back at most 7 days), got ${days}`,
    );
  }
  if (db.postgresImage !== undefined) {
    const image = readScratchImage(db.postgresImage, majors[0] ?? 16);
    if ('problem' in image) throw new Error(`'databases[${db.name}].postgresImage' ${image.problem}`);
    const elsewhere = (actual: string, own: string) => !Token.isUnresolved(own) && actual !== own;
    if (
      image.registry === 'ecr' &&
      (elsewhere(image.account, stack.account) || elsewhere(image.region, stack.region))
    ) {
      throw new Error(
        `'databases[${db.name}].postgresImage' "${db.postgresImage}" is in the ECR of account ${image.account} in ${image.region}; drill tasks pull only from the stack's own account ${stack.account} in ${stack.region} (or ECR Public): push or replicate the image there`,
      );
    }
  }
  const names = (db.checks ?? []).map((c) => c.name);
  const repeated = names.find((n, i) => names.indexOf(n) !== i);
  if (repeated)
    throw new Error(`'databases[${db.name}].checks' names "${repeated}" twice; give each check its own name`);
}
