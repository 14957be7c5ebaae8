import { Annotations, Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as ecr from 'aws-cdk-lib/aws-ecr';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { DEFAULT_POSTGRES_IMAGE, readScratchImage } from '../../core/config-drill.ts';
import { databaseTaskFamily } from '../../core/drill.ts';
import type { DrillKind } from '../../core/drill-report.ts';
import { databasePrefix, drillReportsPrefix } from '../../core/layout.ts';
import type { IBackupVault } from './backup-vault.ts';
import { pascalCase } from './construct-id.ts';
import { acknowledgeWildcards } from './nag.ts';
import { addScratchVolumes } from './task-volumes.ts';

/** Name of the restore runner's container in every drill task definition. */
export const RESTORE_CONTAINER_NAME = 'restore-runner';
/** Name of the scratch PostgreSQL container. */
export const POSTGRES_CONTAINER_NAME = 'postgres';
/**
 * The scratch server's superuser, which the restore runner connects as. Named like no role a source
 * database could have (never `postgres`): the backup's own roles, `postgres` included, restore as
 * ordinary roles of the scratch server.
 */
export const SCRATCH_SUPERUSER = 'pgproof_superuser';
/** The restore runner's scratch space (`WORK_DIR`): a task volume, the root file system being read-only. */
export const RESTORE_WORK_DIR = '/work';
/** Repository prefix of the ECR pull-through cache of ECR Public that serves the scratch servers' image. */
export const POSTGRES_CACHE_PREFIX = 'pgproof-ecr-public';

/** Options of {@link addDrillTasks}, with the drill's defaults already applied. */
export interface DrillTasksOptions {
  /** The backups: the tasks read them and write reports under `<prefix>drills/`. */
  readonly vault: IBackupVault;
  /** Key prefix of all backups (`BACKUP_PREFIX`). */
  readonly prefix: string;
  /** One task definition per major. */
  readonly postgresMajors: readonly number[];
  /** The runner image and the restore runner's command in it. */
  readonly image: ecs.ContainerImage;
  readonly command: string[];
  /**
   * The scratch server's image of a major.
   * @default - Docker's official `postgres:<major>` through an ECR pull-through cache made here
   */
  readonly postgresImage?: (major: number) => ecs.ContainerImage;
  readonly architecture: ecs.CpuArchitecture;
  readonly logRetention: logs.RetentionDays;
  /** `dr`: the runner measures the replica's replication (`DRILL_KIND=dr`, `DRILL_REGION`). */
  readonly kind: DrillKind;
}

/** What {@link DrillTasks.addDatabase} made for one database. */
export interface DatabaseDrillTasks {
  /** The role its drills run with: reads only its backups, writes only its reports. */
  readonly role: iam.Role;
  /** Its own task definition of each major; none without an image of its own. */
  readonly taskDefinitions?: ReadonlyMap<number, ecs.FargateTaskDefinition>;
}

/** What {@link addDrillTasks} made, and how a database joins it. */
export interface DrillTasks {
  /** One drill task definition per PostgreSQL major. */
  readonly taskDefinitions: ReadonlyMap<number, ecs.FargateTaskDefinition>;
  /**
   * Per database with an image of its own, its drill task definition of each PostgreSQL major: the
   * same task with that database's scratch server image. Filled as databases are added.
   */
  readonly databaseTaskDefinitions: ReadonlyMap<string, ReadonlyMap<number, ecs.FargateTaskDefinition>>;
  /**
   * The task definitions' own task role, which may do nothing: every run passes its database's role
   * from {@link databaseTaskRoles} as the RunTask override.
   */
  readonly taskRole: iam.Role;
  /**
   * Per database name, the role its drill runs with: reads only that database's backups and writes
   * only its reports. Filled as databases are added.
   */
  readonly databaseTaskRoles: ReadonlyMap<string, iam.Role>;
  /** Pulls the images and ships the logs. */
  readonly executionRole: iam.Role;
  /** Logs of the drill tasks' containers. */
  readonly taskLogGroup: logs.LogGroup;
  /**
   * Adds a database (its name checked by the construct): its task role, and with `postgresImage` (a
   * `{major}` template, on ECR Public or in the stack's own ECR) its own task definition of each major.
   */
  addDatabase(name: string, postgresImage?: string): DatabaseDrillTasks;
}

/**
 * The drill's Fargate tasks, added to `scope` (the {@link RestoreDrill}) as `TaskLogs`, `TaskRole`,
 * `DatabaseTaskRoles`, `TaskExecutionRole`, `PostgresImageCache`, `Task<major>` and `DatabaseTasks`:
 * one task definition per PostgreSQL major, each a scratch server of that major and the restore runner
 * that waits for it. Each database added later gets its task role (`DatabaseTaskRoles/<Name>`) and,
 * with an image of its own, the same tasks with that image (`DatabaseTasks/<Name>/Task<major>`): under
 * containers made here, so a database's resources sit where they did when all came in the props.
 *
 * Added to the drill's own scope rather than to a child construct: a child would put a new level in
 * the construct path, which CloudFormation logical ids hash, and replace the retained log group.
 */
export function addDrillTasks(scope: Construct, options: DrillTasksOptions): DrillTasks {
  const taskLogGroup = new logs.LogGroup(scope, 'TaskLogs', {
    retention: options.logRetention,
    removalPolicy: RemovalPolicy.RETAIN,
  });
  // A drill restores an untrusted archive: the task may reach one database's backups only, so the
  // task definitions' own role may do nothing, and each run passes its database's role.
  const taskRole = new iam.Role(scope, 'TaskRole', {
    assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com'),
    description: 'pgproof: restore drill task default role (no access; each drill passes its database role)',
  });
  const roles = new Construct(scope, 'DatabaseTaskRoles');
  const databaseTaskRoles = new Map<string, iam.Role>();
  const executionRole = new iam.Role(scope, 'TaskExecutionRole', {
    assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com'),
    description: 'pgproof: pulls the drill images and ships their logs',
  });

  const images = scratchImages(scope, executionRole);
  // Made before the task definitions, as it always was: the execution role's policy keeps its order.
  if (!options.postgresImage) images.cache();
  const tasksOf = (
    taskScope: Construct,
    postgresImage: (major: number) => ecs.ContainerImage,
    family?: (major: number) => string,
  ) =>
    new Map(
      options.postgresMajors.map((major) => [
        major,
        drillTaskDefinition(taskScope, major, {
          ...options,
          postgresImage,
          family: family?.(major),
          taskRole,
          executionRole,
          taskLogGroup,
        }),
      ]),
    );
  const taskDefinitions = tasksOf(scope, options.postgresImage ?? images.of(DEFAULT_POSTGRES_IMAGE));
  const databaseTasks = new Construct(scope, 'DatabaseTasks');
  const databaseTaskDefinitions = new Map<string, ReadonlyMap<number, ecs.FargateTaskDefinition>>();
  acknowledgeWildcards(
    executionRole,
    'ecr:GetAuthorizationToken takes no resource; log streams are named by ECS at run time (<log group arn>:*).',
    { resources: ['*'] },
  );
  const addDatabase = (name: string, postgresImage?: string): DatabaseDrillTasks => {
    const role = databaseTaskRole(roles, name, options.vault, options.prefix);
    databaseTaskRoles.set(name, role);
    if (postgresImage === undefined) return { role };
    const tasks = new Construct(databaseTasks, pascalCase(name));
    // CDK cannot see that scratchImages granted the pull of an image of the account's ECR.
    Annotations.of(tasks).acknowledgeWarning(
      '@aws-cdk/aws-ecs:ecrImageRequiresPolicy',
      'The execution role may pull exactly this repository (scratchImages in drill-tasks.ts).',
    );
    const ownTasks = tasksOf(tasks, images.of(postgresImage), (major) =>
      databaseTaskFamily(taskDefinitions.get(major)?.family ?? '', name),
    );
    databaseTaskDefinitions.set(name, ownTasks);
    return { role, taskDefinitions: ownTasks };
  };
  return {
    taskDefinitions,
    databaseTaskDefinitions,
    taskRole,
    databaseTaskRoles,
    executionRole,
    taskLogGroup,
    addDatabase,
  };
}

/**
 * The scratch servers' images from `{major}` templates ({@link readScratchImage}), each pullable by
 * the execution role and nothing more: ECR Public images through the pull-through cache (`cache()`,
 * made once, on first use), images of the stack's own ECR from exactly their repository.
 */
function scratchImages(scope: Construct, executionRole: iam.Role) {
  const stack = Stack.of(scope);
  let fromCache: ((path: string) => ecs.ContainerImage) | undefined;
  const cache = () => {
    fromCache ??= pullThroughCache(scope, executionRole);
    return fromCache;
  };
  const pulled = new Set<string>();
  const of =
    (template: string) =>
    (major: number): ecs.ContainerImage => {
      const image = readScratchImage(template, major);
      if ('problem' in image) throw new Error(`scratch server image ${image.problem}`);
      if (image.registry === 'ecr-public') return cache()(`${image.repository}${image.reference}`);
      const repository = stack.formatArn({
        service: 'ecr',
        account: image.account,
        region: image.region,
        resource: 'repository',
        resourceName: image.repository,
      });
      if (!pulled.has(image.repository)) {
        pulled.add(image.repository);
        executionRole.addToPolicy(
          new iam.PolicyStatement({
            actions: ['ecr:BatchCheckLayerAvailability', 'ecr:GetDownloadUrlForLayer', 'ecr:BatchGetImage'],
            resources: [repository],
          }),
        );
        if (pulled.size === 1) {
          // The runner image's grant usually holds it already; an image of the account's ECR needs it.
          executionRole.addToPolicy(
            new iam.PolicyStatement({ actions: ['ecr:GetAuthorizationToken'], resources: ['*'] }),
          );
        }
      }
      return ecs.ContainerImage.fromRegistry(image.uri);
    };
  return { cache, of };
}

/**
 * An ECR pull-through cache of ECR Public: the task pulls from this account's registry (reachable
 * through the VPC's ECR endpoints, no internet route needed) and ECR fetches the image upstream on the
 * first pull. Returns the image of an ECR Public path (`<alias>/<repository>:<tag>`) through it.
 */
function pullThroughCache(scope: Construct, executionRole: iam.Role): (path: string) => ecs.ContainerImage {
  const stack = Stack.of(scope);
  new ecr.CfnPullThroughCacheRule(scope, 'PostgresImageCache', {
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
  return (path) =>
    ecs.ContainerImage.fromRegistry(
      `${stack.account}.dkr.ecr.${stack.region}.${stack.urlSuffix}/${POSTGRES_CACHE_PREFIX}/${path}`,
    );
}

/** A drill task definition: the scratch PostgreSQL of `major` and the restore runner, which waits for it. */
function drillTaskDefinition(
  scope: Construct,
  major: number,
  options: DrillTasksOptions &
    Pick<DrillTasks, 'taskRole' | 'executionRole' | 'taskLogGroup'> & {
      postgresImage: (major: number) => ecs.ContainerImage;
      /** @default - CDK's unique id of the task definition */
      family?: string;
    },
): ecs.FargateTaskDefinition {
  const task = new ecs.FargateTaskDefinition(scope, `Task${major}`, {
    family: options.family,
    // The run's size comes from the backup (RunRestore overrides CPU, memory and disk).
    cpu: 1024,
    memoryLimitMiB: 4096,
    ephemeralStorageGiB: 21,
    taskRole: options.taskRole,
    executionRole: options.executionRole,
    runtimePlatform: {
      cpuArchitecture: options.architecture,
      operatingSystemFamily: ecs.OperatingSystemFamily.LINUX,
    },
  });
  const logging = (streamPrefix: string) =>
    ecs.LogDrivers.awsLogs({ logGroup: options.taskLogGroup, streamPrefix: `${streamPrefix}-${major}` });
  const postgres = task.addContainer('Postgres', {
    containerName: POSTGRES_CONTAINER_NAME,
    image: options.postgresImage(major),
    essential: false,
    // A throwaway server reachable only from inside the task: no password, no durability. Its root
    // file system stays writable: the official image initializes its data directory there.
    environment: { POSTGRES_HOST_AUTH_METHOD: 'trust', POSTGRES_USER: SCRATCH_SUPERUSER },
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
      command: ['CMD-SHELL', `pg_isready -h localhost -U ${SCRATCH_SUPERUSER}`],
      interval: Duration.seconds(5),
      timeout: Duration.seconds(5),
      retries: 10,
      startPeriod: Duration.seconds(10),
    },
    logging: logging('postgres'),
  });
  const runner = task.addContainer('Runner', {
    containerName: RESTORE_CONTAINER_NAME,
    image: options.image,
    command: options.command,
    essential: true,
    // What the runner writes goes to task volumes: the download to WORK_DIR, anything else to /tmp.
    readonlyRootFilesystem: true,
    environment: {
      BACKUP_BUCKET: options.vault.bucket.bucketName,
      ...(options.prefix ? { BACKUP_PREFIX: options.prefix } : {}),
      RESTORE_MODE: 'drill',
      ...(options.kind === 'dr' ? { DRILL_KIND: 'dr', DRILL_REGION: Stack.of(scope).region } : {}),
      WORK_DIR: RESTORE_WORK_DIR,
      PGHOST: 'localhost',
      PGPORT: '5432',
      PGUSER: SCRATCH_SUPERUSER,
      // The scratch server has no TLS, whatever the image's defaults for real databases say.
      PGSSLMODE: 'disable',
    },
    logging: logging('restore'),
  });
  addScratchVolumes(task, runner, [
    { name: 'work', containerPath: RESTORE_WORK_DIR },
    { name: 'tmp', containerPath: '/tmp' },
  ]);
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

/** The role of one database's drills: reads that database's backups, writes only its reports. */
function databaseTaskRole(scope: Construct, name: string, vault: IBackupVault, prefix: string): iam.Role {
  const role = new iam.Role(scope, pascalCase(name), {
    assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com'),
    description: `pgproof: restore drill task of ${name} (reads its backups, writes its drill reports)`,
  });
  vault.grantDrillTask(role, prefix, name);
  const reports = `${drillReportsPrefix(prefix)}${name}/`;
  acknowledgeWildcards(
    role,
    `The drill of ${name} reads that database's backups, whose keys are made at backup time (${databasePrefix(prefix, name)}*), and writes reports it names at run time, only under ${reports}.`,
    {
      resources: [
        vault.bucket.arnForObjects(`${databasePrefix(prefix, name)}*`),
        vault.bucket.arnForObjects(`${reports}*`),
      ],
    },
  );
  return role;
}
