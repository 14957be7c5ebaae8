import {
  GetObjectCommand,
  ListObjectVersionsCommand,
  PutObjectCommand,
  PutObjectLegalHoldCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { z } from 'zod';
import { drillPlanSchema } from '../core/drill.ts';
import { type DrillEvaluation, drillEvaluationSchema } from '../core/drill-evaluation.ts';
import { describeS3Error, PgproofError } from '../core/errors.ts';
import { readManifestVersion } from '../core/find-backup.ts';
import { createLogger } from '../core/observability.ts';
import {
  type BackupObject,
  backupObjects,
  type HeldObject,
  type JudgedDrill,
  type ProvenIndex,
  type ProvenPlan,
  parseProvenIndex,
  planProvenBackups,
  provenIndexKey,
  serializeProvenIndex,
} from '../core/proven-backups.ts';
import { createS3Client, isNotFound } from '../core/s3-client.ts';
import { parseInput, pgproofHandler } from './handler.ts';

/**
 * The drill workflow's KeepProvenBackup state, after EvaluateReport: when the drill passed, the drilled
 * backup becomes the last proven backup of its tier (legal holds on every object version of it, listed
 * in the database's proven index) and the older proven backup of that tier is released to its normal
 * expiry; the evaluation comes back with a line saying so, for Notify. The planning is
 * core/proven-backups.ts; this applies it: index (intent), holds on, holds off, index (final).
 */

const logger = createLogger('keep-proven-backup');
const s3 = createS3Client();

/** The state KeepProvenBackup receives: the execution's state after EvaluateReport. */
export const keepProvenInputSchema = z.object({
  /** The part of ResolveBackup's plan this state reads. */
  drill: drillPlanSchema.pick({ database: true, backupId: true, manifestKey: true, reportKey: true }),
  evaluation: drillEvaluationSchema,
});
export type KeepProvenInput = z.infer<typeof keepProvenInputSchema>;

/** The proven index could not be updated: another execution kept changing it, or it cannot be read. */
export class ProvenBackupError extends PgproofError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'ProvenBackupError';
  }
}

/** How many times an update starts over when another execution changed the index in between. */
const MAX_ATTEMPTS = 5;

/** Where one update works. */
export interface ProvenTarget {
  readonly s3: S3Client;
  readonly bucket: string;
  readonly prefix: string;
}

/** The index and the ETag of its current version; both undefined when there is none yet. */
async function readIndex(target: ProvenTarget, key: string): Promise<{ index?: ProvenIndex; etag?: string }> {
  let text: string;
  let etag: string | undefined;
  try {
    const response = await target.s3.send(new GetObjectCommand({ Bucket: target.bucket, Key: key }));
    text = (await response.Body?.transformToString('utf8')) ?? '';
    etag = response.ETag;
  } catch (error) {
    if (isNotFound(error)) return {};
    throw describeS3Error(error, 'GetObject', target.bucket, key);
  }
  try {
    return { index: parseProvenIndex(text, key), etag };
  } catch (error) {
    // Never guessed over: a held backup the index no longer lists would be held forever.
    throw new ProvenBackupError((error as Error).message, { cause: error });
  }
}

/** Another execution wrote the index since it was read. */
class IndexChanged extends Error {}

/**
 * Writes the index only over the version read (`If-Match`), or only if there is none (`If-None-Match: *`):
 * two drills of one database never overwrite each other's update. Returns the new version's ETag.
 */
async function writeIndex(
  target: ProvenTarget,
  key: string,
  index: ProvenIndex,
  etag: string | undefined,
): Promise<string | undefined> {
  try {
    const response = await target.s3.send(
      new PutObjectCommand({
        Bucket: target.bucket,
        Key: key,
        Body: serializeProvenIndex(index),
        ContentType: 'application/json',
        ...(etag === undefined ? { IfNoneMatch: '*' } : { IfMatch: etag }),
      }),
    );
    return response.ETag;
  } catch (error) {
    const e = error as { name?: string; $metadata?: { httpStatusCode?: number } };
    if (
      e.name === 'PreconditionFailed' ||
      e.$metadata?.httpStatusCode === 412 ||
      e.name === 'ConditionalRequestConflict'
    ) {
      throw new IndexChanged();
    }
    throw describeS3Error(error, 'PutObject', target.bucket, key);
  }
}

/** Puts a legal hold on one version, or releases it. A version already gone has nothing to release. */
async function setLegalHold(target: ProvenTarget, object: HeldObject, status: 'ON' | 'OFF'): Promise<void> {
  try {
    await target.s3.send(
      new PutObjectLegalHoldCommand({
        Bucket: target.bucket,
        Key: object.key,
        VersionId: object.versionId,
        LegalHold: { Status: status },
      }),
    );
  } catch (error) {
    if (status === 'OFF' && isNotFound(error)) {
      logger.warn('a released version no longer exists', { key: object.key, versionId: object.versionId });
      return;
    }
    throw describeS3Error(error, `PutObjectLegalHold (${status})`, target.bucket, object.key);
  }
}

/**
 * The exact versions of a backup's objects: as its manifest names them, or, for a manifest written
 * before version ids were recorded, the current version of each key (backup objects are never
 * overwritten: the bucket's policy refuses it).
 */
async function resolveVersions(
  target: ProvenTarget,
  objects: readonly BackupObject[],
): Promise<HeldObject[]> {
  return Promise.all(
    objects.map(async ({ key, versionId }) => {
      if (versionId) return { key, versionId };
      let latest: string | undefined;
      try {
        const page = await target.s3.send(
          new ListObjectVersionsCommand({ Bucket: target.bucket, Prefix: key, MaxKeys: 100 }),
        );
        latest = page.Versions?.find((v) => v.Key === key && v.IsLatest)?.VersionId;
      } catch (error) {
        throw describeS3Error(error, 'ListObjectVersions', target.bucket, key);
      }
      if (!latest || latest === 'null') {
        throw new ProvenBackupError(
          `s3://${target.bucket}/${key} has no version to hold: the bucket must be versioned with Object Lock (as pgproof's vault is) to keep a proven backup`,
        );
      }
      return { key, versionId: latest };
    }),
  );
}

/** Reads the drilled backup's manifest (believed only about its own place) and names its object versions. */
async function drilledObjects(target: ProvenTarget, drill: KeepProvenInput['drill']) {
  const { manifest, versionId } = await readManifestVersion(target.s3, target.bucket, drill.manifestKey);
  if (manifest.name !== drill.database || manifest.backupId !== drill.backupId) {
    throw new ProvenBackupError(
      `the manifest ${drill.manifestKey} is of backup ${manifest.backupId} of "${manifest.name}", not of the drilled ${drill.backupId} of "${drill.database}"`,
    );
  }
  const objects = await resolveVersions(target, backupObjects(manifest, drill.manifestKey, versionId));
  return { tier: manifest.tier, objects };
}

/** What an update did, for the log and the notification. */
export interface ProvenResult {
  readonly plan: ProvenPlan;
  /** One line a person reads. */
  readonly summary: string;
}

/** The line the notification gets. */
function summarize(plan: ProvenPlan, drill: KeepProvenInput['drill']): string {
  const released = plan.released.length
    ? `; released ${plan.released.join(', ')} (no longer the newest proven ${plan.tier} backup) to its normal expiry`
    : '';
  switch (plan.outcome) {
    case 'kept':
      return `Kept: ${drill.backupId} is now the last proven ${plan.tier} backup of "${drill.database}": a legal hold on each of its ${plan.hold.length} object versions keeps it past its ${plan.tier} expiry until a newer ${plan.tier} backup passes a drill${released}.`;
    case 'already-kept':
      return `Kept: ${drill.backupId} already was the last proven ${plan.tier} backup of "${drill.database}" (legal hold)${released}.`;
    case 'older':
      return `Not kept: the newer ${plan.proven} stays the last proven ${plan.tier} backup of "${drill.database}"${released}.`;
    case 'not-proven':
      return '';
  }
}

/**
 * Keeps the drilled backup as its tier's last proven backup, when the drill passed: reads the manifest
 * and the database's proven index, plans ({@link planProvenBackups}) and applies the plan in the order
 * that never leaves a held version unlisted or the tier without its proven backup: the index listing
 * both, holds on, holds off, the index listing the new one. An index changed by another execution in
 * between starts the update over from the index as it is now.
 */
export async function keepProvenBackup(
  target: ProvenTarget,
  input: KeepProvenInput,
  now: Date,
): Promise<ProvenResult | undefined> {
  const { drill, evaluation } = input;
  if (!evaluation.passed || evaluation.mode !== 'drill') return undefined;
  const { tier, objects } = await drilledObjects(target, drill);
  const judged: JudgedDrill = {
    database: drill.database,
    backupId: drill.backupId,
    tier,
    mode: evaluation.mode,
    passed: evaluation.passed,
    objects,
    provenAt: now.toISOString(),
    reportKey: drill.reportKey,
  };
  const key = provenIndexKey(target.prefix, drill.database);
  for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
    const current = await readIndex(target, key);
    const plan = planProvenBackups(judged, current.index);
    try {
      let etag = current.etag;
      if (plan.intent) etag = await writeIndex(target, key, plan.intent, etag);
      for (const object of plan.hold) await setLegalHold(target, object, 'ON');
      for (const object of plan.release) await setLegalHold(target, object, 'OFF');
      const written = plan.intent ?? current.index;
      if (plan.final && (!written || serializeProvenIndex(plan.final) !== serializeProvenIndex(written))) {
        await writeIndex(target, key, plan.final, etag);
      }
      return { plan, summary: summarize(plan, drill) };
    } catch (error) {
      if (!(error instanceof IndexChanged)) throw error;
      logger.info('the proven index changed under this update; starting over', { attempt });
    }
  }
  throw new ProvenBackupError(
    `the proven index s3://${target.bucket}/${key} changed ${MAX_ATTEMPTS} times during this update (drills of "${drill.database}" running at once); every backup it lists stays held: run the drill again`,
  );
}

/** The execution's state in, the evaluation out (with what was kept added to its message). */
export const handler = pgproofHandler({ logger }, async (event): Promise<DrillEvaluation> => {
  const { BACKUP_BUCKET: bucket, BACKUP_PREFIX: prefix } = parseInput(
    z.object({
      BACKUP_BUCKET: z.string({ error: 'set it to the backup bucket name' }).min(1),
      BACKUP_PREFIX: z.string().default(''),
    }),
    process.env,
    'keep-proven-backup environment',
  );
  const input = parseInput(keepProvenInputSchema, event, 'keep-proven-backup input');
  logger.appendKeys({ database: input.drill.database, backupId: input.drill.backupId });
  const result = await keepProvenBackup({ s3, bucket, prefix }, input, new Date());
  if (!result) {
    logger.info('nothing to keep: the drill did not pass');
    return input.evaluation;
  }
  logger.info(result.summary, {
    outcome: result.plan.outcome,
    tier: result.plan.tier,
    proven: result.plan.proven,
    released: result.plan.released,
  });
  return { ...input.evaluation, message: `${input.evaluation.message}\n${result.summary}` };
});
