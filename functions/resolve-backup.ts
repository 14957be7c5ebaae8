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

const json = <T extends z.ZodType>(schema: T) =>
  z.string().transform((text, ctx): z.infer<T> => {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      ctx.addIssue({ code: 'custom', message: 'is not valid JSON' });
      return z.NEVER;
    }
    const parsed = schema.safeParse(value);
    if (!parsed.success) {
      for (const issue of parsed.error.issues) ctx.addIssue({ ...issue, code: 'custom' });
      return z.NEVER;
    }
    return parsed.data;
  });

const settingsSchema = z.object({
  BACKUP_BUCKET: z.string({ error: 'set it to the backup bucket name' }).min(1),
  BACKUP_PREFIX: z.string().default(''),
  /** `{ "<name>": { "rtoMinutes": 60, "checks": [...] } }` */
  DRILL_DATABASES: json(z.record(z.string(), drillDatabaseSchema)),
  /** `{ "<postgres major>": "<task definition arn>" }` */
  DRILL_TASKS: json(z.record(z.string().regex(/^\d+$/), z.string().min(1))),
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
