import { z } from 'zod';
import {
  DrillInputError,
  type DrillPlan,
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
});

/** Reads the function's environment once per invocation (cheap, and tests can change it). */
export function readResolveSettings(env: NodeJS.ProcessEnv) {
  return parseInput(settingsSchema, env, 'resolve-backup environment');
}

/** Execution input in, the drill's plan out; a missing backup or bad input throws a one-line error. */
export const handler = pgproofHandler({ logger }, async (event): Promise<DrillPlan> => {
  const settings = readResolveSettings(process.env);
  const parsed = drillInputSchema.safeParse(event);
  if (!parsed.success) throw new DrillInputError(parsed.error);
  const input = parsed.data;
  logger.appendKeys({ database: input.database });
  const database = settings.DRILL_DATABASES[input.database];
  if (!database) throw new UnknownDatabaseError(input.database, Object.keys(settings.DRILL_DATABASES));
  const found = await findBackup(s3, settings.BACKUP_BUCKET, settings.BACKUP_PREFIX, {
    name: input.database,
    backupId: input.backupId,
  });
  const plan = planDrill({
    manifestKey: found.manifestKey,
    manifest: found.manifest,
    database,
    tasks: settings.DRILL_TASKS,
    prefix: settings.BACKUP_PREFIX,
    now: new Date(),
  });
  logger.info('drill planned', { plan: { ...plan, environment: undefined } });
  // Written through the schema EvaluateReport and the workflow's paths are made from.
  return drillPlanSchema.parse(plan);
});
