import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { ECSClient } from '@aws-sdk/client-ecs';
import { S3Client } from '@aws-sdk/client-s3';
import { z } from 'zod';
import {
  BackupAlreadyRunningError,
  type LaunchResult,
  type LaunchSettings,
  launchResultSchema,
  startBackup,
  startBackupEventSchema,
} from '../core/launch.ts';
import { createLogger, createMetrics } from '../core/observability.ts';
import { DATABASE_DIMENSION, METRICS } from '../core/telemetry.ts';
import { type InvalidInputError, parseInput, pgproofHandler } from './handler.ts';

/**
 * The launcher Lambda: EventBridge Scheduler invokes it once per database and scheduled time.
 * The edge only: validate the payload and the environment, run {@link startBackup}, log and count.
 */

const logger = createLogger('start-backup');
const metrics = createMetrics();
const ecs = new ECSClient({});
const s3 = new S3Client({});

const settingsSchema = z
  .object({
    CLUSTER_ARN: z.string({ error: 'set it to the ECS cluster ARN' }).min(1),
    SUBNET_IDS: z
      .string({ error: 'set it to the comma-separated subnet ids of the tasks' })
      .transform((v) => v.split(',').filter(Boolean))
      .pipe(z.array(z.string()).min(1, 'list at least one subnet id')),
    BACKUP_BUCKET: z.string({ error: 'set it to the backup bucket name' }).min(1),
    BACKUP_PREFIX: z.string().default(''),
  })
  .transform(
    (env): LaunchSettings => ({
      cluster: env.CLUSTER_ARN,
      subnetIds: env.SUBNET_IDS,
      bucket: env.BACKUP_BUCKET,
      prefix: env.BACKUP_PREFIX,
    }),
  );

/** Reads the launcher's environment; throws an {@link InvalidInputError} listing every problem. */
export function readLaunchSettings(env: NodeJS.ProcessEnv): LaunchSettings {
  return parseInput(settingsSchema, env, 'launcher environment');
}

/** Scheduler payload in, what happened out; failures are thrown so the invocation counts as failed. */
export const handler = pgproofHandler({ logger, metrics }, async (payload): Promise<LaunchResult> => {
  const settings = readLaunchSettings(process.env);
  const event = parseInput(startBackupEventSchema, payload, 'schedule payload');
  logger.appendKeys({ database: event.database, scheduledTime: event.scheduledTime });
  metrics.addDimension(DATABASE_DIMENSION, event.database);
  try {
    const result = await startBackup(event, settings, { ecs, s3 });
    logger.appendKeys({ backupId: result.backupId });
    if (result.status === 'started') metrics.addMetric(METRICS.backupLaunched, MetricUnit.Count, 1);
    logger.info(`backup ${result.status}`, { result });
    // The answer `pgproof backup` parses with the same schema.
    return launchResultSchema.parse(result);
  } catch (error) {
    if (error instanceof BackupAlreadyRunningError) {
      metrics.addMetric(METRICS.backupLaunchRefused, MetricUnit.Count, 1);
    }
    throw error;
  }
});
