import { z } from 'zod';
import {
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
import { jsonVariable } from '../core/environment.ts';
import { findBackup } from '../core/find-backup.ts';
import { createLogger } from '../core/observability.ts';
import { createS3Client } from '../core/s3-client.ts';
import { parseInput, pgproofHandler } from './handler.ts';

/**
 * The drill workflow's ResolveBackup state: validates the execution's input
 * (`{ "database": "orders", "backupId"?: "...", "mode"?: "drill" }`), finds the backup's manifest and
 * returns the plan RunRestore starts. The edge only: the work is core/find-backup.ts and core/drill.ts.
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

/** Execution input in, the drill's plan out; a missing backup or bad input throws a one-line error. */
export const handler = pgproofHandler({ logger }, async (event): Promise<DrillPlan> => {
  const settings = readResolveSettings(process.env);
  const parsed = drillInputSchema.safeParse(event);
  if (!parsed.success) throw new DrillInputError(parsed.error);
  const input = parsed.data;
  logger.appendKeys({ database: input.database });
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
  const found = await findBackup(s3, settings.BACKUP_BUCKET, settings.BACKUP_PREFIX, {
    name: input.database,
    backupId: input.backupId,
  });
  const plan = planDrill({
    manifestKey: found.manifestKey,
    manifest: found.manifest,
    database,
    // A database with its own scratch server image is drilled in its own tasks only: the default image
    // lacks what its backups need.
    tasks: ownRevisions
      ? databaseTaskArns(input.database, ownRevisions, settings.DRILL_TASKS)
      : settings.DRILL_TASKS,
    taskRoleArn,
    prefix: settings.BACKUP_PREFIX,
    now: new Date(),
  });
  logger.info('drill planned', { plan: { ...plan, environment: undefined } });
  // Written through the schema EvaluateReport and the workflow's paths are made from.
  return drillPlanSchema.parse(plan);
});
