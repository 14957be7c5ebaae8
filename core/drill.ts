import { z } from 'zod';
import type { DrillEvaluation, StateError } from './drill-evaluation.ts';
import { type DrillSelection, drillSelectionSchema, type RetrievalReport } from './drill-report.ts';
import { coldestStorageClass, isArchived, type StoredObject } from './drill-selection.ts';
import { PgproofError } from './errors.ts';
import { BACKUP_ID_PATTERN, DATABASE_NAME_PATTERN, drillReportKey } from './layout.ts';
import { dumpTotalBytes, type Manifest } from './manifest.ts';
import { TIERS } from './retention-tiers.ts';

/**
 * Planning a restore drill: what an operator (or the drill schedule) asks for, the per-database
 * settings from the deployment config, and the exact run the workflow's RunRestore state starts:
 * which task definition (a PostgreSQL sidecar of the backup's major), how big, how long, with which
 * environment for the restore runner.
 */

/** A database's own SQL check: the query must return one row whose first column is true. */
export const sqlCheckSchema = z.strictObject({
  name: z.string().min(1, 'a check needs a name'),
  sql: z.string().min(1, 'a check needs its SQL'),
});
export type SqlCheck = z.infer<typeof sqlCheckSchema>;

/** S3's retrieval tiers a drill may restore an archived backup with: `Bulk` is cheaper and slower. */
export const RETRIEVAL_TIERS = ['Standard', 'Bulk'] as const;
export type RetrievalTier = (typeof RETRIEVAL_TIERS)[number];
/** The retrieval tier when neither the input nor the database's settings name one. */
export const DEFAULT_RETRIEVAL_TIER: RetrievalTier = 'Standard';

/** The longest sample window: ten years of yearly backups. */
export const MAX_SAMPLE_DAYS = 3660;

/** A drill of a random backup of one tier taken within a window (core/drill-selection.ts). */
export const drillSampleSchema = z.strictObject(
  {
    tier: z.enum(TIERS, { error: `must be one of ${TIERS.join(', ')}` }),
    withinDays: z
      .number({ error: 'must be a number of days, e.g. 365' })
      .int('must be whole days, e.g. 365')
      .min(1, 'must be at least 1 day')
      .max(MAX_SAMPLE_DAYS, `must be at most ${MAX_SAMPLE_DAYS} days`),
  },
  { error: 'must be an object like { "tier": "monthly", "withinDays": 365 }' },
);

/** A drill's sample: a random backup of `tier` taken within the last `withinDays` days. */
export type DrillSample = z.infer<typeof drillSampleSchema>;

/** The workflow's input, as typed in the Step Functions console or sent by the drill schedule. */
export const drillInputSchema = z
  .strictObject({
    /** The database's name in the key layout, as in the config. */
    database: z
      .string({ error: 'is required: name the database to drill, e.g. { "database": "orders" }' })
      .regex(DATABASE_NAME_PATTERN, 'must be a database name from the config, e.g. "orders"'),
    /** A backup id; default: the latest backup with a manifest. */
    backupId: z.string().regex(BACKUP_ID_PATTERN, 'must be a backup id like "20261121T020000Z"').optional(),
    /**
     * Drill a random backup of a tier taken within a window instead of the latest, e.g.
     * `{ "tier": "monthly", "withinDays": 365 }`; not with `backupId`.
     */
    sample: drillSampleSchema.optional(),
    /**
     * How S3 retrieves a backup in Glacier Flexible Retrieval or Deep Archive before the drill (Deep
     * Archive: `Standard` within 12 hours, `Bulk` within 48 and cheaper); default: the database's
     * `retrievalTier`, else `Standard`.
     */
    retrievalTier: z.enum(RETRIEVAL_TIERS, { error: 'must be "Standard" or "Bulk"' }).optional(),
    mode: z
      .literal('drill', {
        error:
          'must be "drill": the workflow restores into a scratch server only; restore into a real database with `pgproof restore`',
      })
      .default('drill'),
  })
  .refine((input) => !(input.backupId && input.sample), {
    path: ['sample'],
    error: 'cannot go with "backupId": name one backup, or sample one, not both',
  });
export type DrillInput = z.infer<typeof drillInputSchema>;

/** What the config says about drilling one database. */
export const drillDatabaseSchema = z.strictObject({
  /**
   * The database's recovery time objective: the drill fails when the measured restore takes longer.
   * Absent for a database drilled only on demand: the drill is judged by verification alone.
   */
  rtoMinutes: z.number().int().positive().optional(),
  /** The database's own SQL checks, run on the restored copy. */
  checks: z.array(sqlCheckSchema).default([]),
  /** The retrieval tier of this database's archived backups; absent: {@link DEFAULT_RETRIEVAL_TIER}. */
  retrievalTier: z.enum(RETRIEVAL_TIERS).optional(),
});
export type DrillDatabase = z.infer<typeof drillDatabaseSchema>;

/** The input was not a drill request; the message lists every problem with its field. */
export class DrillInputError extends PgproofError {
  constructor(error: z.ZodError) {
    super(
      `drill input rejected: ${error.issues.map((i) => `${i.path.join('.') || '(root)'} ${i.message}`).join('; ')}; start the drill with input like { "database": "orders" }`,
    );
    this.name = 'DrillInputError';
  }
}

/** The database is not in the config, so it has no drill settings. */
export class UnknownDatabaseError extends PgproofError {
  constructor(database: string, known: readonly string[]) {
    super(
      `database "${database}" is not configured for drills (configured: ${known.join(', ') || 'none'}); use one of those names, or add it to the config and deploy`,
    );
    this.name = 'UnknownDatabaseError';
  }
}

/** The backup cannot be drilled by this deployment (its major version, its size). */
export class DrillNotPossibleError extends PgproofError {
  constructor(message: string) {
    super(message);
    this.name = 'DrillNotPossibleError';
  }
}

/** Task size and time limit of a drill. */
export interface DrillTaskSize {
  /** Fargate CPU units. */
  readonly cpu: number;
  readonly memoryMiB: number;
  /** Fargate ephemeral storage: the downloaded dump plus the restored database. */
  readonly ephemeralStorageGiB: number;
  /** The RunRestore state's timeout. */
  readonly timeoutSeconds: number;
}

const GiB = 1024 ** 3;
/** Fargate's largest ephemeral storage. */
export const MAX_EPHEMERAL_GIB = 200;
/**
 * A compressed dump restores into several times its size (indexes are rebuilt, data decompressed);
 * the disk must hold the dump file too.
 */
const RESTORED_SIZE_FACTOR = 6;

/**
 * Sizes the drill task from the dump's size: disk for the dump and the restored database, CPUs for
 * `pg_restore -j` and the sidecar, and a timeout that grows with the data (30 minutes, plus 20 per GiB).
 */
export function sizeDrillTask(dumpBytes: number): DrillTaskSize {
  const dumpGiB = dumpBytes / GiB;
  const disk = Math.ceil(dumpGiB * (1 + RESTORED_SIZE_FACTOR) + 10);
  if (disk > MAX_EPHEMERAL_GIB) {
    throw new DrillNotPossibleError(
      `the dump is ${dumpGiB.toFixed(1)} GiB and needs about ${disk} GiB of disk to restore; a Fargate drill has at most ${MAX_EPHEMERAL_GIB} GiB: drill this database on a larger host with \`pgproof restore\``,
    );
  }
  const [cpu, memoryMiB] =
    dumpGiB < 1 ? [1024, 4096] : dumpGiB < 10 ? [2048, 8192] : dumpGiB < 40 ? [4096, 16384] : [8192, 32768];
  return {
    cpu,
    memoryMiB,
    ephemeralStorageGiB: Math.max(21, disk),
    timeoutSeconds: Math.min(86_400, 1800 + Math.ceil(dumpGiB * 1200)),
  };
}

/**
 * Where an archived backup's retrieval stands (the plan's `retrieval`): `required` as ResolveBackup
 * plans it, then `pending` and `available` as RetrieveBackup finds it.
 */
export const RETRIEVAL_STATUSES = ['required', 'pending', 'available'] as const;

/** The retrieval of an archived backup, as the plan carries it from ResolveBackup through RetrieveBackup. */
export const planRetrievalSchema = z.object({
  status: z.enum(RETRIEVAL_STATUSES),
  /** The coldest storage class among the objects to retrieve. */
  storageClass: z.string(),
  tier: z.enum(RETRIEVAL_TIERS),
  /** The backup's objects in an archive storage class: each is restored before the drill. */
  keys: z.array(z.string()).min(1),
  /** When the first restore request was sent (RetrieveBackup's first run). */
  requestedAt: z.string().optional(),
  /** When every object was seen readable. */
  availableAt: z.string().optional(),
  seconds: z.number().nonnegative().optional(),
});
export type PlanRetrieval = z.infer<typeof planRetrievalSchema>;

/** Days S3 keeps a restored copy readable: the drill downloads it right after it is available. */
export const RESTORED_COPY_DAYS = 1;

/** The restore runner's variables (JSON) that carry what the workflow did into the drill's report. */
export const DRILL_SELECTION_VARIABLE = 'DRILL_SELECTION';
export const DRILL_RETRIEVAL_VARIABLE = 'DRILL_RETRIEVAL';

/** One environment variable of an ECS container override. */
export const taskEnvironmentVariableSchema = z.object({ Name: z.string(), Value: z.string() });
export type TaskEnvironmentVariable = z.infer<typeof taskEnvironmentVariableSchema>;

/**
 * Everything RunRestore and EvaluateReport need, as ResolveBackup returns it into the execution's state
 * (at `$.drill`): one schema for the writer (ResolveBackup), the workflow's paths
 * ({@link drillPlanPath}) and the reader (EvaluateReport).
 */
export const drillPlanSchema = z.object({
  database: z.string(),
  backupId: z.string(),
  manifestKey: z.string(),
  /** Where the runner writes its report (and EvaluateReport reads it). */
  reportKey: z.string(),
  /** The major of the server that was backed up: the sidecar runs this one. */
  postgresMajor: z.number().int(),
  taskDefinitionArn: z.string(),
  /**
   * The database's own drill task role (RunTask's `TaskRoleArn` override): it reads that database's
   * backups only. Chosen by the deployment from the database's name, never taken from the input.
   */
  taskRoleArn: z.string(),
  /** Strings, as ECS task overrides take them. */
  cpu: z.string(),
  memory: z.string(),
  ephemeralStorageGiB: z.number().int(),
  timeoutSeconds: z.number().int(),
  /** Absent when the database has no RTO: the drill is judged by verification alone. */
  rtoSeconds: z.number().positive().optional(),
  dumpBytes: z.number().int().nonnegative(),
  /** The restore runner's container override. */
  environment: z.array(taskEnvironmentVariableSchema),
  /** How the backup was picked: the latest, the one named, or a sample of a tier. */
  selection: drillSelectionSchema,
  /** The coldest storage class among the backup's objects, e.g. `STANDARD`, `GLACIER_IR`, `DEEP_ARCHIVE`. */
  storageClass: z.string(),
  /**
   * Present when objects of the backup are in Glacier Flexible Retrieval or Deep Archive: the workflow
   * restores them (RetrieveBackup, polled) before RunRestore.
   */
  retrieval: planRetrievalSchema.optional(),
});
export type DrillPlan = z.infer<typeof drillPlanSchema>;

/**
 * The task definition family of a database's own drill task of one major (a database with its own
 * scratch server image): the default task's family of that major and the database's name. Derived, so
 * that ResolveBackup needs only each task's revision (`DRILL_DATABASE_TASKS`: Lambda allows 4 KB of
 * environment in all).
 */
export function databaseTaskFamily(defaultFamily: string, database: string): string {
  return `${defaultFamily}-${database}`;
}

/**
 * The ARN of `database`'s own drill task whose major's default task is `defaultTaskArn`, at `revision`
 * ({@link databaseTaskFamily}); undefined when `defaultTaskArn` is not a task definition ARN.
 */
export function databaseTaskArn(
  defaultTaskArn: string,
  database: string,
  revision: string,
): string | undefined {
  const parts = /^(arn:[^:]+:ecs:[^:]*:\d*:task-definition\/)([A-Za-z0-9_-]+):\d+$/.exec(defaultTaskArn);
  if (!parts) return undefined;
  const [, prefix, family = ''] = parts;
  return `${prefix}${databaseTaskFamily(family, database)}:${revision}`;
}

/** ECS refuses container overrides above 8 KiB in total. */
const MAX_OVERRIDE_BYTES = 8192;

/**
 * The plan of one drill of a found backup. `tasks` maps PostgreSQL majors to the drill task definition
 * whose sidecar runs that major; `taskRoleArn` is the drilled database's own task role.
 */
export function planDrill(options: {
  readonly manifestKey: string;
  readonly manifest: Manifest;
  readonly database: DrillDatabase;
  readonly tasks: Readonly<Record<string, string>>;
  readonly taskRoleArn: string;
  readonly prefix: string;
  readonly now: Date;
  /** How the backup was picked. */
  readonly selection: DrillSelection;
  /** The backup's objects and their storage classes. */
  readonly objects: readonly StoredObject[];
  /** The input's retrieval tier, which wins over the database's. */
  readonly retrievalTier?: RetrievalTier | undefined;
}): DrillPlan {
  const { manifest } = options;
  const major = Math.floor(manifest.server.versionNum / 10000);
  const taskDefinitionArn = options.tasks[String(major)];
  if (!taskDefinitionArn) {
    throw new DrillNotPossibleError(
      `backup ${manifest.backupId} of "${manifest.name}" comes from PostgreSQL ${manifest.server.version} and no drill task runs PostgreSQL ${major} (available: ${Object.keys(options.tasks).join(', ')}); add ${major} to the drill's PostgreSQL versions and deploy`,
    );
  }
  const size = sizeDrillTask(dumpTotalBytes(manifest.dump));
  const rtoSeconds = options.database.rtoMinutes === undefined ? undefined : options.database.rtoMinutes * 60;
  const reportKey = drillReportKey(options.prefix, manifest.name, manifest.backupId, options.now);
  const environment: TaskEnvironmentVariable[] = [
    { Name: 'MANIFEST_KEY', Value: options.manifestKey },
    { Name: 'REPORT_KEY', Value: reportKey },
    { Name: 'PGDATABASE', Value: manifest.database },
    { Name: 'RESTORE_JOBS', Value: String(size.cpu / 1024) },
    ...(rtoSeconds === undefined ? [] : [{ Name: 'RTO_SECONDS', Value: String(rtoSeconds) }]),
    ...(options.database.checks.length
      ? [{ Name: 'CHECKS_JSON', Value: JSON.stringify(options.database.checks) }]
      : []),
    { Name: DRILL_SELECTION_VARIABLE, Value: JSON.stringify(drillSelectionSchema.parse(options.selection)) },
  ];
  const archived = options.objects.filter((o) => isArchived(o.storageClass));
  const overrideBytes = JSON.stringify(environment).length;
  if (overrideBytes > MAX_OVERRIDE_BYTES) {
    throw new DrillNotPossibleError(
      `the SQL checks of "${manifest.name}" make the task's environment ${overrideBytes} bytes, more than ECS accepts (${MAX_OVERRIDE_BYTES}); shorten the checks' SQL`,
    );
  }
  return {
    database: manifest.name,
    backupId: manifest.backupId,
    manifestKey: options.manifestKey,
    reportKey,
    postgresMajor: major,
    taskDefinitionArn,
    taskRoleArn: options.taskRoleArn,
    cpu: String(size.cpu),
    memory: String(size.memoryMiB),
    ephemeralStorageGiB: size.ephemeralStorageGiB,
    timeoutSeconds: size.timeoutSeconds,
    ...(rtoSeconds === undefined ? {} : { rtoSeconds }),
    dumpBytes: dumpTotalBytes(manifest.dump),
    environment,
    selection: options.selection,
    storageClass: coldestStorageClass(options.objects.map((o) => o.storageClass)),
    ...(archived.length
      ? {
          retrieval: {
            status: 'required' as const,
            storageClass: coldestStorageClass(archived.map((o) => o.storageClass)),
            tier: options.retrievalTier ?? options.database.retrievalTier ?? DEFAULT_RETRIEVAL_TIER,
            keys: archived.map((o) => o.key),
          },
        }
      : {}),
  };
}

/**
 * The plan once its backup's objects are readable: the retrieval `available`, and the runner told of it
 * ({@link DRILL_RETRIEVAL_VARIABLE}) so that the report records it.
 */
export function planRetrieved(
  plan: DrillPlan,
  times: Pick<RetrievalReport, 'requestedAt' | 'availableAt' | 'seconds'>,
): DrillPlan {
  const current = plan.retrieval;
  if (!current) throw new Error('planRetrieved needs a plan with a retrieval');
  const retrieval: RetrievalReport = {
    storageClass: current.storageClass,
    tier: current.tier,
    requestedAt: times.requestedAt,
    availableAt: times.availableAt,
    seconds: times.seconds,
  };
  return {
    ...plan,
    retrieval: { ...current, status: 'available', ...times },
    environment: [
      ...plan.environment.filter((v) => v.Name !== DRILL_RETRIEVAL_VARIABLE),
      { Name: DRILL_RETRIEVAL_VARIABLE, Value: JSON.stringify(retrieval) },
    ],
  };
}

/**
 * Where the drill workflow keeps each state's result in an execution's state (JSONPath): ResolveBackup's
 * {@link DrillPlan}, EvaluateReport's evaluation, a caught error, RunRestore's caught failure.
 */
export const DRILL_STATE_PATHS = {
  plan: '$.drill',
  evaluation: '$.evaluation',
  error: '$.error',
  restoreError: '$.restoreError',
} as const;

/** The JSONPath of a field of the {@link DrillPlan} in the workflow's state: a renamed field fails `tsc`. */
export function drillPlanPath<K extends keyof DrillPlan & string>(field: K): `$.drill.${K}` {
  return `${DRILL_STATE_PATHS.plan}.${field}`;
}

/** The JSONPath of a field of the plan's {@link PlanRetrieval} in the workflow's state. */
export function drillRetrievalPath<K extends keyof PlanRetrieval & string>(
  field: K,
): `$.drill.retrieval.${K}` {
  return `${drillPlanPath('retrieval')}.${field}`;
}

/** The JSONPath of a field of the {@link DrillEvaluation} in the workflow's state. */
export function drillEvaluationPath<K extends keyof DrillEvaluation & string>(field: K): `$.evaluation.${K}` {
  return `${DRILL_STATE_PATHS.evaluation}.${field}`;
}

/** The JSONPath of a field of a caught {@link StateError} in the workflow's state. */
export function drillErrorPath<K extends keyof StateError & string>(field: K): `$.error.${K}` {
  return `${DRILL_STATE_PATHS.error}.${field}`;
}
