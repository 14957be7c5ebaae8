import { Duration, RemovalPolicy, Stack, TimeZone, Token, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cloudwatchActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecr from 'aws-cdk-lib/aws-ecr';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as schedulerTargets from 'aws-cdk-lib/aws-scheduler-targets';
import type * as sns from 'aws-cdk-lib/aws-sns';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import type { DrillDatabase, SqlCheck } from '../../core/drill.ts';
import { DATABASE_NAME_RULE, isDatabaseName, isKeyPrefix, KEY_PREFIX_RULE } from '../../core/layout.ts';
import { databaseMetricDimensions, METRICS, METRICS_NAMESPACE } from '../../core/telemetry.ts';
import { toolchain } from '../../core/toolchain.ts';
import { acknowledgeWildcards } from './nag.ts';
import { addPgproofFunction } from './pgproof-function.ts';

/** Name of the restore runner's container in every drill task definition. */
export const RESTORE_CONTAINER_NAME = 'restore-runner';
/** Name of the scratch PostgreSQL container. */
export const POSTGRES_CONTAINER_NAME = 'postgres';
/** `startedBy` of drill tasks (not `pgproof-...`: the backup-failure rule matches that prefix). */
export const DRILL_STARTED_BY = 'restore-drill';
/** Repository prefix of the ECR pull-through cache of ECR Public that serves the scratch servers' image. */
export const POSTGRES_CACHE_PREFIX = 'pgproof-ecr-public';

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
   * The overdue alarm fires after this many whole days without a passed drill (CloudWatch looks back
   * at most 7 days).
   * @default 7 - a weekly drill that fails once alarms
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
}

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
   * @default - a new group that allows only outbound traffic
   */
  readonly securityGroup?: ec2.ISecurityGroup;
  /** The runner image (containers/pg-dump's Dockerfile: it holds both runners). */
  readonly image: ecs.ContainerImage;
  /**
   * The restore runner's command in {@link image}.
   * @default ['node', '/app/pg-restore.mjs']
   */
  readonly command?: string[];
  /** Where drill results and failures are sent (and where the drill alarms go). */
  readonly topic: sns.ITopic;
  /** The databases the drill may restore. */
  readonly databases: readonly DrillDatabaseProps[];
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
}

/** `orders_v2` -> `OrdersV2`: a database's name as part of a construct id. */
function pascalCase(name: string): string {
  return name
    .split(/[^A-Za-z0-9]+/)
    .filter(Boolean)
    .map((part) => part[0]?.toUpperCase() + part.slice(1))
    .join('');
}

/**
 * The restore drill: a Step Functions workflow that restores a backup into a scratch PostgreSQL (a
 * sidecar of the backup's major in one Fargate task with the restore runner), verifies it against
 * its manifest, judges it against the database's RTO and notifies; drill schedules; and alarms for
 * a failed drill and for a database without a passed drill for too long.
 *
 * ResolveBackup -> RunRestore (ecs:runTask.sync) -> EvaluateReport -> Notify -> DrillSucceeded | DrillFailed;
 * every state's failure goes to NotifyFailure -> Failed.
 */
export class RestoreDrill extends Construct {
  public readonly stateMachine: sfn.StateMachine;
  /** One drill task definition per PostgreSQL major. */
  public readonly taskDefinitions: ReadonlyMap<number, ecs.FargateTaskDefinition>;
  /** The drill tasks' role: reads backups, decrypts, writes reports under `<prefix>drills/` only. */
  public readonly taskRole: iam.Role;
  public readonly securityGroup: ec2.ISecurityGroup;
  public readonly resolveFunction: nodejs.NodejsFunction;
  public readonly evaluateFunction: nodejs.NodejsFunction;
  /** Logs of the drill tasks' containers. */
  public readonly taskLogGroup: logs.LogGroup;
  /** Every event of every execution. */
  public readonly executionLogGroup: logs.LogGroup;
  public readonly schedules: readonly scheduler.Schedule[];
  /** Fires when an execution fails, times out or is aborted. */
  public readonly failedAlarm: cloudwatch.Alarm;
  /** Per database with `alarmWhenOverdue`: fires when no drill passed within its `maxDaysWithoutSuccess`. */
  public readonly overdueAlarms: ReadonlyMap<string, cloudwatch.Alarm>;

  constructor(scope: Construct, id: string, props: RestoreDrillProps) {
    super(scope, id);
    const prefix = props.prefix ?? '';
    const majors = props.postgresMajors ?? toolchain.postgresServerMajors;
    const command = props.command ?? ['node', '/app/pg-restore.mjs'];
    const logRetention = props.logRetention ?? logs.RetentionDays.THREE_MONTHS;
    validateProps(props, prefix, majors);

    this.taskLogGroup = new logs.LogGroup(this, 'TaskLogs', {
      retention: logRetention,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.securityGroup =
      props.securityGroup ??
      new ec2.SecurityGroup(this, 'SecurityGroup', {
        vpc: props.vpc,
        description: 'pgproof restore drill tasks (no inbound: the scratch server listens on localhost)',
        allowAllOutbound: true,
      });
    this.taskRole = new iam.Role(this, 'TaskRole', {
      assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com'),
      description: 'pgproof: restore drill task (reads backups, writes drill reports)',
    });
    this.grantDrillTask(props.bucket, props.key, prefix);
    const executionRole = new iam.Role(this, 'TaskExecutionRole', {
      assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com'),
      description: 'pgproof: pulls the drill images and ships their logs',
    });

    const postgresImage = props.postgresImage ?? this.cachedPostgresImage(executionRole);
    const taskDefinitions = new Map<number, ecs.FargateTaskDefinition>();
    for (const major of majors) {
      taskDefinitions.set(
        major,
        this.drillTaskDefinition(major, { ...props, postgresImage }, prefix, command, executionRole),
      );
    }
    this.taskDefinitions = taskDefinitions;
    acknowledgeWildcards(
      executionRole,
      'ecr:GetAuthorizationToken takes no resource; log streams are named by ECS at run time (<log group arn>:*).',
      { resources: ['*'] },
    );

    const databases: Record<string, DrillDatabase> = Object.fromEntries(
      props.databases.map((db) => [
        db.name,
        {
          ...(db.rto === undefined ? {} : { rtoMinutes: db.rto.toMinutes() }),
          checks: (db.checks ?? []).map((c) => ({ name: c.name, sql: c.sql })),
        },
      ]),
    );
    this.resolveFunction = this.drillFunction('ResolveBackup', 'resolve-backup.ts', logRetention, {
      description: 'pgproof: validates a drill request and finds the backup to restore',
      environment: {
        BACKUP_BUCKET: props.bucket.bucketName,
        BACKUP_PREFIX: prefix,
        DRILL_DATABASES: JSON.stringify(databases),
        DRILL_TASKS: Stack.of(this).toJsonString(
          Object.fromEntries(
            [...taskDefinitions].map(([major, task]) => [String(major), task.taskDefinitionArn]),
          ),
        ),
      },
    });
    this.resolveFunction.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['s3:ListBucket'],
        resources: [props.bucket.bucketArn],
        ...(prefix ? { conditions: { StringLike: { 's3:prefix': [`${prefix}*`] } } } : {}),
      }),
    );
    this.resolveFunction.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['s3:GetObject'],
        resources: [props.bucket.arnForObjects(`${prefix}*/manifest.json`)],
      }),
    );
    this.evaluateFunction = this.drillFunction('EvaluateReport', 'evaluate-report.ts', logRetention, {
      description: 'pgproof: judges a drill from its report, publishes its metrics',
      environment: { BACKUP_BUCKET: props.bucket.bucketName },
    });
    this.evaluateFunction.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['s3:GetObject'],
        resources: [props.bucket.arnForObjects(`${prefix}drills/*`)],
      }),
    );
    for (const fn of [this.resolveFunction, this.evaluateFunction]) {
      fn.addToRolePolicy(this.decryptViaS3(props.key));
    }
    acknowledgeWildcards(
      this.resolveFunction.role ?? this,
      'ResolveBackup reads the manifests of any database, whose keys are made at backup time.',
      { resources: [props.bucket.arnForObjects(`${prefix}*/manifest.json`)] },
    );
    acknowledgeWildcards(
      this.evaluateFunction.role ?? this,
      'EvaluateReport reads drill reports, whose keys are made at run time, only under the drills/ prefix.',
      { resources: [props.bucket.arnForObjects(`${prefix}drills/*`)] },
    );

    this.executionLogGroup = new logs.LogGroup(this, 'ExecutionLogs', {
      // Step Functions logs to groups under /aws/vendedlogs/ without growing a resource policy.
      logGroupName: `/aws/vendedlogs/states/pgproof-restore-drill-${Stack.of(this).stackName}-${this.node.addr.slice(0, 8)}`,
      retention: logRetention,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.stateMachine = new sfn.StateMachine(this, 'StateMachine', {
      comment: 'pgproof restore drill: restores a backup into a scratch PostgreSQL and verifies it',
      stateMachineType: sfn.StateMachineType.STANDARD,
      queryLanguage: sfn.QueryLanguage.JSON_PATH,
      definitionBody: sfn.DefinitionBody.fromChainable(this.definition(props)),
      logs: { destination: this.executionLogGroup, level: sfn.LogLevel.ALL, includeExecutionData: true },
      tracingEnabled: true,
      timeout: Duration.hours(26),
    });
    this.allowRunningDrillTasks(props.cluster, [...taskDefinitions.values()], executionRole);

    this.schedules = props.databases
      .filter((db) => db.schedule !== undefined)
      .map(
        (db) =>
          new scheduler.Schedule(this, `${pascalCase(db.name)}Schedule`, {
            description: `pgproof: restore drill of ${db.name}`,
            schedule: scheduler.ScheduleExpression.expression(
              db.schedule ?? '',
              TimeZone.of(db.timeZone ?? 'UTC'),
            ),
            target: new schedulerTargets.StepFunctionsStartExecution(this.stateMachine, {
              input: scheduler.ScheduleTargetInput.fromObject({ database: db.name }),
              retryAttempts: 3,
              maxEventAge: Duration.hours(1),
            }),
          }),
      );

    const alarmAction = new cloudwatchActions.SnsAction(props.topic);
    this.failedAlarm = new cloudwatch.Alarm(this, 'FailedAlarm', {
      alarmDescription:
        'pgproof: a restore drill failed, timed out or was aborted. The notification on the alerts topic and the execution in the Step Functions console say why.',
      metric: new cloudwatch.MathExpression({
        expression: 'failed + timedOut + aborted',
        usingMetrics: {
          failed: this.stateMachine.metricFailed({ statistic: 'Sum' }),
          timedOut: this.stateMachine.metricTimedOut({ statistic: 'Sum' }),
          aborted: this.stateMachine.metricAborted({ statistic: 'Sum' }),
        },
        period: Duration.minutes(5),
        label: 'failed drills',
      }),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    this.failedAlarm.addAlarmAction(alarmAction);

    const overdue = new Map<string, cloudwatch.Alarm>();
    for (const db of props.databases.filter((d) => d.alarmWhenOverdue ?? true)) {
      const days = db.maxDaysWithoutSuccess ?? 7;
      const alarm = new cloudwatch.Alarm(this, `${pascalCase(db.name)}OverdueAlarm`, {
        alarmDescription: `pgproof: no restore drill of ${db.name} passed in the last ${days} days, so nothing proves its backups restore. Start a drill from the Step Functions console with { "database": "${db.name}" }.`,
        metric: new cloudwatch.Metric({
          namespace: METRICS_NAMESPACE,
          metricName: METRICS.drillPassed,
          dimensionsMap: databaseMetricDimensions(db.name),
          statistic: 'Maximum',
          period: Duration.days(1),
        }),
        // Each day without a passed drill breaches, days without any drill included.
        threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
        evaluationPeriods: days,
        datapointsToAlarm: days,
        treatMissingData: cloudwatch.TreatMissingData.BREACHING,
      });
      alarm.addAlarmAction(alarmAction);
      overdue.set(db.name, alarm);
    }
    this.overdueAlarms = overdue;
  }

  /** The workflow (JSONPath: the local test runner and the console both read it as it is). */
  private definition(props: RestoreDrillProps): sfn.IChainable {
    const notifyFailure = new tasks.SnsPublish(this, 'NotifyFailure', {
      comment: 'Tells a person that the drill failed before it could be judged, and why',
      topic: props.topic,
      subject: sfn.JsonPath.format('pgproof drill FAILED: {}', sfn.JsonPath.stringAt('$.error.Error')),
      message: sfn.TaskInput.fromText(
        sfn.JsonPath.format(
          'pgproof restore drill FAILED before it could be judged.\nInput: {}\nError: {}\nCause: {}\nWhat to do: fix the cause above and start the drill again; the execution {} in the Step Functions console shows every step.',
          sfn.JsonPath.jsonToString(sfn.JsonPath.objectAt('$$.Execution.Input')),
          sfn.JsonPath.stringAt('$.error.Error'),
          sfn.JsonPath.stringAt('$.error.Cause'),
          sfn.JsonPath.executionId,
        ),
      ),
      resultPath: sfn.JsonPath.DISCARD,
    }).next(
      new sfn.Fail(this, 'Failed', {
        comment: 'The drill could not run: the error of the state that failed',
        errorPath: '$.error.Error',
        causePath: '$.error.Cause',
      }),
    );
    const catchInto = { resultPath: '$.error' };

    const resolve = new tasks.LambdaInvoke(this, 'ResolveBackup', {
      comment: 'Validates the input and finds the backup (latest, or the one named)',
      lambdaFunction: this.resolveFunction,
      payloadResponseOnly: true,
      resultPath: '$.drill',
    });
    resolve.addCatch(notifyFailure, catchInto);

    const subnets = props.vpc.selectSubnets(
      props.subnets ?? { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
    );
    const runRestore = new sfn.CustomState(this, 'RunRestore', {
      stateJson: {
        Type: 'Task',
        Comment:
          'Restores and verifies the backup in a Fargate task: a scratch PostgreSQL of its major and the restore runner',
        Resource: `arn:${Stack.of(this).partition}:states:::ecs:runTask.sync`,
        Parameters: {
          Cluster: props.cluster.clusterArn,
          'TaskDefinition.$': '$.drill.taskDefinitionArn',
          LaunchType: 'FARGATE',
          StartedBy: DRILL_STARTED_BY,
          PropagateTags: 'TASK_DEFINITION',
          NetworkConfiguration: {
            AwsvpcConfiguration: {
              Subnets: subnets.subnetIds,
              SecurityGroups: [this.securityGroup.securityGroupId],
              AssignPublicIp: 'DISABLED',
            },
          },
          Overrides: {
            'Cpu.$': '$.drill.cpu',
            'Memory.$': '$.drill.memory',
            EphemeralStorage: { 'SizeInGiB.$': '$.drill.ephemeralStorageGiB' },
            ContainerOverrides: [{ Name: RESTORE_CONTAINER_NAME, 'Environment.$': '$.drill.environment' }],
          },
        },
        TimeoutSecondsPath: '$.drill.timeoutSeconds',
        ResultPath: null,
      },
    });
    const evaluate = new tasks.LambdaInvoke(this, 'EvaluateReport', {
      comment: 'Reads the report, publishes the metrics, compares the restore time with the RTO',
      lambdaFunction: this.evaluateFunction,
      payloadResponseOnly: true,
      resultPath: '$.evaluation',
    });
    // The runner exits 2 when the backup does not verify, which fails the task state: the report
    // still says what failed, so a failed task is evaluated too.
    runRestore.addCatch(evaluate, { resultPath: '$.restoreError' });
    evaluate.addCatch(notifyFailure, catchInto);

    const notify = new tasks.SnsPublish(this, 'Notify', {
      comment: 'Sends the verdict a person reads',
      topic: props.topic,
      subject: sfn.JsonPath.stringAt('$.evaluation.subject'),
      message: sfn.TaskInput.fromJsonPathAt('$.evaluation.message'),
      resultPath: sfn.JsonPath.DISCARD,
    });
    notify.addCatch(notifyFailure, catchInto);

    const verdict = new sfn.Choice(this, 'Passed?')
      .when(sfn.Condition.booleanEquals('$.evaluation.passed', true), new sfn.Succeed(this, 'DrillSucceeded'))
      .otherwise(
        new sfn.Fail(this, 'DrillFailed', {
          comment: 'The backup did not verify, or it restored slower than the RTO',
          error: 'DrillFailed',
          causePath: '$.evaluation.subject',
        }),
      );
    return resolve.next(runRestore).next(evaluate).next(notify).next(verdict);
  }

  /**
   * Docker's official PostgreSQL image through an ECR pull-through cache of ECR Public: the task pulls
   * from this account's registry (reachable through the VPC's ECR endpoints, no internet route needed)
   * and ECR fetches the image upstream on the first pull.
   */
  private cachedPostgresImage(executionRole: iam.Role): (major: number) => ecs.ContainerImage {
    const stack = Stack.of(this);
    new ecr.CfnPullThroughCacheRule(this, 'PostgresImageCache', {
      ecrRepositoryPrefix: POSTGRES_CACHE_PREFIX,
      upstreamRegistryUrl: 'public.ecr.aws',
    });
    const repositories = stack.formatArn({
      service: 'ecr',
      resource: 'repository',
      resourceName: `${POSTGRES_CACHE_PREFIX}/*`,
    });
    executionRole.addToPolicy(
      new iam.PolicyStatement({
        actions: [
          'ecr:BatchCheckLayerAvailability',
          'ecr:GetDownloadUrlForLayer',
          'ecr:BatchGetImage',
          // The first pull of a tag creates the cache repository and imports the image.
          'ecr:CreateRepository',
          'ecr:BatchImportUpstreamImage',
        ],
        resources: [repositories],
      }),
    );
    acknowledgeWildcards(
      executionRole,
      'The pull-through cache creates one repository per upstream image on first pull; only those under the pgproof cache prefix are granted.',
      { resources: [repositories] },
    );
    return (major) =>
      ecs.ContainerImage.fromRegistry(
        `${stack.account}.dkr.ecr.${stack.region}.${stack.urlSuffix}/${POSTGRES_CACHE_PREFIX}/docker/library/postgres:${major}`,
      );
  }

  /** A drill task definition: the scratch PostgreSQL of `major` and the restore runner, which waits for it. */
  private drillTaskDefinition(
    major: number,
    props: RestoreDrillProps & Required<Pick<RestoreDrillProps, 'postgresImage'>>,
    prefix: string,
    command: string[],
    executionRole: iam.IRole,
  ): ecs.FargateTaskDefinition {
    const task = new ecs.FargateTaskDefinition(this, `Task${major}`, {
      // The run's size comes from the backup (RunRestore overrides CPU, memory and disk).
      cpu: 1024,
      memoryLimitMiB: 4096,
      ephemeralStorageGiB: 21,
      taskRole: this.taskRole,
      executionRole,
      runtimePlatform: {
        cpuArchitecture: props.architecture ?? ecs.CpuArchitecture.ARM64,
        operatingSystemFamily: ecs.OperatingSystemFamily.LINUX,
      },
    });
    const logging = (streamPrefix: string) =>
      ecs.LogDrivers.awsLogs({ logGroup: this.taskLogGroup, streamPrefix: `${streamPrefix}-${major}` });
    const postgres = task.addContainer('Postgres', {
      containerName: POSTGRES_CONTAINER_NAME,
      image: props.postgresImage(major),
      essential: false,
      // A throwaway server reachable only from inside the task: no password, no durability.
      environment: { POSTGRES_HOST_AUTH_METHOD: 'trust' },
      command: [
        'postgres',
        '-c',
        'listen_addresses=localhost',
        '-c',
        'fsync=off',
        '-c',
        'synchronous_commit=off',
        '-c',
        'full_page_writes=off',
        '-c',
        'max_wal_size=8GB',
        '-c',
        'maintenance_work_mem=512MB',
      ],
      healthCheck: {
        command: ['CMD-SHELL', 'pg_isready -h localhost -U postgres'],
        interval: Duration.seconds(5),
        timeout: Duration.seconds(5),
        retries: 10,
        startPeriod: Duration.seconds(10),
      },
      logging: logging('postgres'),
    });
    const runner = task.addContainer('Runner', {
      containerName: RESTORE_CONTAINER_NAME,
      image: props.image,
      command,
      essential: true,
      environment: {
        BACKUP_BUCKET: props.bucket.bucketName,
        ...(prefix ? { BACKUP_PREFIX: prefix } : {}),
        RESTORE_MODE: 'drill',
        PGHOST: 'localhost',
        PGPORT: '5432',
        PGUSER: 'postgres',
        // The scratch server has no TLS, whatever the image's defaults for real databases say.
        PGSSLMODE: 'disable',
      },
      logging: logging('restore'),
    });
    runner.addContainerDependencies({
      container: postgres,
      condition: ecs.ContainerDependencyCondition.HEALTHY,
    });
    Validations.of(task).acknowledge({
      id: 'AwsSolutions-ECS2',
      reason:
        'The environment holds only non-secret settings (bucket, prefix, mode, the scratch server on localhost); the scratch server has no password because only the task itself can reach it.',
    });
    return task;
  }

  /** The drill task reads backups and decrypts them, and writes only reports. */
  private grantDrillTask(bucket: s3.IBucket, key: kms.IKey, prefix: string): void {
    this.taskRole.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: ['s3:GetObject'], resources: [bucket.arnForObjects(`${prefix}*`)] }),
    );
    this.taskRole.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['s3:PutObject'],
        resources: [bucket.arnForObjects(`${prefix}drills/*`)],
      }),
    );
    this.taskRole.addToPrincipalPolicy(
      new iam.PolicyStatement({
        // Decrypt to read backups; GenerateDataKey to write a report under the bucket's default key.
        actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
        resources: [key.keyArn],
        conditions: { StringEquals: { 'kms:ViaService': `s3.${Stack.of(this).region}.amazonaws.com` } },
      }),
    );
    acknowledgeWildcards(
      this.taskRole,
      `The drill restores any database's backup, whose keys are made at backup time (<bucket arn>/${prefix}*), and writes reports it names at run time, only under ${prefix}drills/.`,
      {
        resources: [bucket.arnForObjects(`${prefix}*`), bucket.arnForObjects(`${prefix}drills/*`)],
      },
    );
  }

  private decryptViaS3(key: kms.IKey): iam.PolicyStatement {
    return new iam.PolicyStatement({
      actions: ['kms:Decrypt'],
      resources: [key.keyArn],
      conditions: { StringEquals: { 'kms:ViaService': `s3.${Stack.of(this).region}.amazonaws.com` } },
    });
  }

  /** What ecs:runTask.sync needs: run the drill tasks, watch and stop them, pass their roles. */
  private allowRunningDrillTasks(
    cluster: ecs.ICluster,
    taskDefinitions: readonly ecs.FargateTaskDefinition[],
    executionRole: iam.IRole,
  ): void {
    const role = this.stateMachine.role;
    const stack = Stack.of(this);
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['ecs:RunTask'],
        resources: taskDefinitions.map((t) => t.taskDefinitionArn),
        conditions: { ArnEquals: { 'ecs:cluster': cluster.clusterArn } },
      }),
    );
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['ecs:StopTask', 'ecs:DescribeTasks'],
        resources: ['*'],
        conditions: { ArnEquals: { 'ecs:cluster': cluster.clusterArn } },
      }),
    );
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['iam:PassRole'],
        resources: [this.taskRole.roleArn, executionRole.roleArn],
        conditions: { StringEquals: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' } },
      }),
    );
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['events:PutTargets', 'events:PutRule', 'events:DescribeRule'],
        resources: [
          stack.formatArn({
            service: 'events',
            resource: 'rule',
            resourceName: 'StepFunctionsGetEventsForECSTaskRule',
          }),
        ],
      }),
    );
    acknowledgeWildcards(
      role,
      'ecs:StopTask and ecs:DescribeTasks take task ARNs made at run time, limited to the drill cluster by the ecs:cluster condition; Lambda invocation and X-Ray grants are what CDK generates for the workflow.',
      {
        resources: ['*', `${this.resolveFunction.functionArn}:*`, `${this.evaluateFunction.functionArn}:*`],
      },
    );
  }

  private drillFunction(
    id: string,
    file: string,
    logRetention: logs.RetentionDays,
    options: { description: string; environment: Record<string, string> },
  ): nodejs.NodejsFunction {
    return addPgproofFunction(this, id, {
      file,
      description: options.description,
      logRetention,
      environment: options.environment,
    }).function;
  }
}

/** Throws on props that would deploy a drill that cannot work, naming the prop and the fix. */
function validateProps(props: RestoreDrillProps, prefix: string, majors: readonly number[]): void {
  if (!isKeyPrefix(prefix)) {
    throw new Error(`'prefix' ${KEY_PREFIX_RULE}, got "${prefix}"`);
  }
  for (const major of majors) {
    if (!Number.isInteger(major) || major < 10) {
      throw new Error(`'postgresMajors' must hold PostgreSQL major versions like 16, got ${major}`);
    }
  }
  const ids = new Set<string>();
  for (const db of props.databases) {
    if (!isDatabaseName(db.name)) {
      throw new Error(`'databases[].name' ${DATABASE_NAME_RULE}, got "${db.name}"`);
    }
    if (ids.has(pascalCase(db.name))) {
      throw new Error(`'databases' names "${db.name}" twice (or two names that differ only in "_" and "-")`);
    }
    ids.add(pascalCase(db.name));
    const minutes = db.rto?.toMinutes({ integral: false });
    if (
      minutes !== undefined &&
      !Token.isUnresolved(minutes) &&
      (!Number.isInteger(minutes) || minutes < 1)
    ) {
      throw new Error(`'databases[${db.name}].rto' must be whole minutes, at least 1, got ${minutes}`);
    }
    const days = db.maxDaysWithoutSuccess ?? 7;
    if (!Number.isInteger(days) || days < 1 || days > 7) {
      throw new Error(
        `'databases[${db.name}].maxDaysWithoutSuccess' must be whole days from 1 to 7 (an alarm looks back at most 7 days), got ${days}`,
      );
    }
    const names = (db.checks ?? []).map((c) => c.name);
    const repeated = names.find((n, i) => names.indexOf(n) !== i);
    if (repeated)
      throw new Error(
        `'databases[${db.name}].checks' names "${repeated}" twice; give each check its own name`,
      );
  }
}
