import { HeadObjectCommand, RestoreObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { z } from 'zod';
import { type DrillPlan, drillPlanSchema, planRetrieved, RESTORED_COPY_DAYS } from '../core/drill.ts';
import { isArchived, type RestoreState, readRestoreHeader } from '../core/drill-selection.ts';
import { describeS3Error, PgproofError } from '../core/errors.ts';
import { createLogger } from '../core/observability.ts';
import { createS3Client } from '../core/s3-client.ts';
import { parseInput, pgproofHandler } from './handler.ts';

/**
 * The drill workflow's RetrieveBackup state, for a backup whose objects are in Glacier Flexible
 * Retrieval or Deep Archive: asks S3 to restore each object not yet asked for (RestoreObject, the plan's
 * retrieval tier), and reports whether every one is readable yet. The workflow waits and calls it again
 * until it is; the plan comes back `available` with the retrieval's times, for RunRestore and the report.
 * Idempotent: an object already being restored, or restored, is only looked at.
 */

const logger = createLogger('retrieve-backup');
const s3 = createS3Client();

const settingsSchema = z.object({
  BACKUP_BUCKET: z.string({ error: 'set it to the backup bucket name' }).min(1),
});

/** The state RetrieveBackup receives: the execution's state, whose plan has a retrieval. */
export const retrieveInputSchema = z.object({ drill: drillPlanSchema });

/** The plan reached RetrieveBackup without a retrieval to do: the workflow's Choice is wrong. */
export class RetrievalError extends PgproofError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'RetrievalError';
  }
}

/** The state's input in, the plan out (at `$.drill`) with the retrieval `pending` or `available`. */
export const handler = pgproofHandler({ logger }, async (event): Promise<DrillPlan> => {
  const settings = parseInput(settingsSchema, process.env, 'retrieve-backup environment');
  const { drill } = parseInput(retrieveInputSchema, event, 'RetrieveBackup input');
  logger.appendKeys({ database: drill.database, backupId: drill.backupId });
  const plan = await advanceRetrieval(s3, settings.BACKUP_BUCKET, drill, new Date());
  logger.info('retrieval checked', { retrieval: plan.retrieval });
  return drillPlanSchema.parse(plan);
});

/**
 * One poll of the retrieval: each object's restore state from HeadObject, RestoreObject for each not
 * yet asked for; `available` (with its times, and the runner told) once all are readable.
 */
export async function advanceRetrieval(
  client: S3Client,
  bucket: string,
  plan: DrillPlan,
  now: Date,
): Promise<DrillPlan> {
  const retrieval = plan.retrieval;
  if (!retrieval) {
    throw new RetrievalError(
      `backup ${plan.backupId} of "${plan.database}" has no archived object to retrieve; start the drill again`,
    );
  }
  const requestedAt = retrieval.requestedAt ?? now.toISOString();
  const states: RestoreState[] = [];
  // One at a time: a backup has a few objects (the dump or its segments, globals, rarely the manifest).
  for (const key of retrieval.keys) {
    const state = await restoreState(client, bucket, key);
    if (state === 'not-requested') await requestRestore(client, bucket, key, retrieval.tier);
    states.push(state);
  }
  if (states.every((s) => s === 'available')) {
    const seconds = Math.max(0, Math.round((now.getTime() - Date.parse(requestedAt)) / 1000));
    return planRetrieved(plan, { requestedAt, availableAt: now.toISOString(), seconds });
  }
  return { ...plan, retrieval: { ...retrieval, status: 'pending', requestedAt } };
}

/** An object's restore state; one no longer in an archive class (copied out) reads as available. */
async function restoreState(client: S3Client, bucket: string, key: string): Promise<RestoreState> {
  try {
    const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    if (!isArchived(head.StorageClass ?? 'STANDARD')) return 'available';
    return readRestoreHeader(head.Restore);
  } catch (error) {
    throw describeS3Error(error, 'HeadObject', bucket, key);
  }
}

/** Asks S3 for a readable copy of `key` for {@link RESTORED_COPY_DAYS}; a request already running is fine. */
async function requestRestore(client: S3Client, bucket: string, key: string, tier: string): Promise<void> {
  try {
    await client.send(
      new RestoreObjectCommand({
        Bucket: bucket,
        Key: key,
        RestoreRequest: { Days: RESTORED_COPY_DAYS, GlacierJobParameters: { Tier: tier as 'Standard' } },
      }),
    );
  } catch (error) {
    // Another execution asked first: the object is on its way all the same.
    if ((error as { name?: string }).name === 'RestoreAlreadyInProgress') return;
    throw describeS3Error(error, 'RestoreObject', bucket, key);
  }
}
