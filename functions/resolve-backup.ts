import type { S3Client } from '@aws-sdk/client-s3';
import { z } from 'zod';
import {
  type DrillInput,
  DrillInputError,
  DrillNotPossibleError,
  type DrillPlan,
  databaseTaskArn,
  drillDatabaseSchema,
  drillInputSchema,
  drillPlanSchema,
  planDrill,
  UnknownDatabaseError,
} from '../core/drill.ts';
import type { DrillSelection } from '../core/drill-report.ts';
import { listBackupObjects, type RandomSource, sampleBackup } from '../core/drill-selection.ts';
import { jsonVariable } from '../core/environment.ts';
import { findBackup } from '../core/find-backup.ts';
import { createLogger } from '../core/observability.ts';
import { createS3Client } from '../core/s3-client.ts';
import { parseInput, pgproofHandler } from './handler.ts';

/**
 * The drill workflow's ResolveBackup state: validates the execution's input (`{ "database": "orders",
 * "backupId"?: "...", "sample"?: { "tier": "monthly", "withinDays": 365 }, "retrievalTier"?: "Bulk" }`),
 * finds the backup's manifest (the latest, the one named, or a random one of the tier in the window) and
 * where its objects are stored, and returns the plan the workflow runs. The edge only: the work is
 * core/find-backup.ts, core/drill-selection.ts and core/drill.ts.
 */

const logger = createLogger('resolve-backup');
const s3 = createS3Client();

const settingsSchema = z.object({
  BACKUP_BUCKET: z.string({ error: 'set it to the backup bucket name' }).min(1),
  BACKUP_PREFIX: z.string().default(''),
  /** `{ "<name>": { "rtoMinutes": 60, "checks": [...] } }` */
  DRILL_DATABASES: jsonVariable(z.record(z.string(), drillDatabaseSchema), { notJson: 'is not valid JSON' }),
  /** `{ "<postgres major>": "<task definition arn>" }` */
  DRILL_TASKS: jsonVariable(z.record(z.string().regex(/^\d+$/), z.string().min(1)), {
    notJson: 'is not valid JSON',
  }),
  /**
   * `{ "<name>": { "<postgres major>": "<revision>" } }`: the drill tasks of each database with a scratch
   * server image of its own (`drill.postgresImage`), by revision: each is named after the default task
   * of its major (core/drill.ts `databaseTaskArn`), as whole ARNs would not fit Lambda's 4 KB of
   * environment. Unset: no database has its own image.
   */
  DRILL_DATABASE_TASKS: jsonVariable(
    z.record(
      z.string(),
      z.record(z.string().regex(/^\d+$/), z.string().regex(/^\d+$/, 'must be a task definition revision')),
    ),
    { notJson: 'is not valid JSON' },
  ).optional(),
  /** `{ "<name>": "<role arn>" }`: each database's drill task role, which reads only its backups. */
  DRILL_TASK_ROLES: jsonVariable(
    z.record(z.string(), z.string().regex(/^arn:[a-z-]+:iam::\d{12}:role\//, 'must be an IAM role ARN')),
    { notJson: 'is not valid JSON' },
  ),
});

/** Reads the function's environment once per invocation (cheap, and tests can change it). */
export function readResolveSettings(env: NodeJS.ProcessEnv) {
  return parseInput(settingsSchema, env, 'resolve-backup environment');
}

/**
 * The ARNs of a database's own drill tasks from their revisions by major ({@link databaseTaskArn}: each
 * is named after the default task of its major, in `DRILL_TASKS`).
 */
function databaseTaskArns(
  database: string,
  revisions: Readonly<Record<string, string>>,
  defaults: Readonly<Record<string, string>>,
): Record<string, string> {
  return Object.fromEntries(
    Object.entries(revisions).flatMap(([major, revision]) => {
      const defaultTask = Object.hasOwn(defaults, major) ? defaults[major] : undefined;
      const arn = defaultTask && databaseTaskArn(defaultTask, database, revision);
      if (!arn) {
        throw new DrillNotPossibleError(
          `DRILL_DATABASE_TASKS names a PostgreSQL ${major} task of "${database}", and DRILL_TASKS has no task definition ARN of ${major} it is named after; deploy the stack again`,
        );
      }
      return [[major, arn]];
    }),
  );
}

/** What {@link planRequestedDrill} reaches the world through: S3, the clock and chance. */
export interface ResolveDependencies {
  readonly s3: S3Client;
  readonly now: Date;
  /** Picks a sampled backup: `Math.random` in the function, a fixed sequence in tests. */
  readonly random: RandomSource;
}

/** Execution input in, the drill's plan out; a missing backup or bad input throws a one-line error. */
export const handler = pgproofHandler({ logger }, async (event): Promise<DrillPlan> => {
  const settings = readResolveSettings(process.env);
  const parsed = drillInputSchema.safeParse(event);
  if (!parsed.success) throw new DrillInputError(parsed.error);
  logger.appendKeys({ database: parsed.data.database });
  const plan = await planRequestedDrill(settings, parsed.data, { s3, now: new Date(), random: Math.random });
  logger.info('drill planned', { plan: { ...plan, environment: undefined } });
  // Written through the schema EvaluateReport and the workflow's paths are made from.
  return drillPlanSchema.parse(plan);
});

/**
 * The plan of the drill `input` asks for: its database's settings, task and role from the deployment,
 * the backup it names or the latest or a sample, and whether its objects must be retrieved first.
 */
export async function planRequestedDrill(
  settings: ReturnType<typeof readResolveSettings>,
  input: DrillInput,
  deps: ResolveDependencies,
): Promise<DrillPlan> {
  // Own properties only: a name like "constructor" must not find Object's.
  const own = <T>(map: Record<string, T>): T | undefined =>
    Object.hasOwn(map, input.database) ? map[input.database] : undefined;
  const database = own(settings.DRILL_DATABASES);
  if (!database) throw new UnknownDatabaseError(input.database, Object.keys(settings.DRILL_DATABASES));
  // Keyed by the validated name the config holds: the input cannot choose another database's role.
  const taskRoleArn = own(settings.DRILL_TASK_ROLES);
  if (!taskRoleArn) {
    throw new DrillNotPossibleError(
      `database "${input.database}" has drill settings but no drill task role (DRILL_TASK_ROLES); deploy the stack again so that each database gets its own`,
    );
  }
  const ownRevisions = own(settings.DRILL_DATABASE_TASKS ?? {});
  const bucket = settings.BACKUP_BUCKET;
  const prefix = settings.BACKUP_PREFIX;
  let found: Awaited<ReturnType<typeof findBackup>>;
  let selection: DrillSelection;
  if (input.sample) {
    const sampled = await sampleBackup(deps.s3, bucket, prefix, input.database, {
      sample: input.sample,
      now: deps.now,
      random: deps.random,
    });
    found = sampled;
    selection = { kind: 'sample', ...input.sample, candidates: sampled.candidates };
  } else {
    found = await findBackup(deps.s3, bucket, prefix, { name: input.database, backupId: input.backupId });
    selection = { kind: input.backupId === undefined ? 'latest' : 'explicit' };
  }
  return planDrill({
    manifestKey: found.manifestKey,
    manifest: found.manifest,
    database,
    // A database with its own scratch server image is drilled in its own tasks only: the default image
    // lacks what its backups need.
    tasks: ownRevisions
      ? databaseTaskArns(input.database, ownRevisions, settings.DRILL_TASKS)
      : settings.DRILL_TASKS,
    taskRoleArn,
    prefix,
    now: deps.now,
    selection,
    objects: await listBackupObjects(deps.s3, bucket, found, prefix),
    retrievalTier: input.retrievalTier,
  });
}
