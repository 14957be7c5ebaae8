import { ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { mapLimited } from './concurrency.ts';
import { describeS3Error } from './errors.ts';
import { BackupNotFoundError, type FoundBackup, listBackupIds, readManifest } from './find-backup.ts';
import { backupKeys, databasePrefix, formatBackupId, parseBackupId } from './layout.ts';
import type { Tier } from './retention-tiers.ts';

/**
 * Which backup a drill restores when it is not the latest: one of a tier sampled at random within a
 * window (as AWS Backup's restore testing picks "random within window"), and where its objects are
 * stored, since a backup in Glacier Flexible Retrieval or Deep Archive must be retrieved before it can
 * be read.
 */

/** A drill of a random backup of `tier` taken within the last `withinDays` days. */
export interface DrillSample {
  readonly tier: Tier;
  readonly withinDays: number;
}

/** A source of uniform numbers in [0, 1), as `Math.random`. */
export type RandomSource = () => number;

/** Manifests read at once while sampling. */
const MANIFEST_READS = 8;

const DAY_MS = 86_400_000;

/** The first instant of a sample's window ending at `now`: a backup taken then is in it. */
export function sampleWindowStart(now: Date, withinDays: number): Date {
  // Whole seconds, as backup ids have them: a backup taken exactly withinDays ago is in the window.
  return new Date(Math.floor((now.getTime() - withinDays * DAY_MS) / 1000) * 1000);
}

/** One of `candidates`, each as likely as the others; `random` must return a number in [0, 1). */
export function pickUniformly<T>(candidates: readonly T[], random: RandomSource): T {
  const index = Math.min(candidates.length - 1, Math.floor(random() * candidates.length));
  const picked = candidates[index];
  if (picked === undefined) throw new Error('pickUniformly needs at least one candidate');
  return picked;
}

/**
 * A backup of `name` sampled uniformly at random among those of `sample.tier` whose backup time (the
 * id's instant) is within `sample.withinDays` days before `now`, with how many there were. Throws a
 * {@link BackupNotFoundError} naming the database, tier and window when there is none.
 */
export async function sampleBackup(
  s3: S3Client,
  bucket: string,
  prefix: string,
  name: string,
  options: { readonly sample: DrillSample; readonly now: Date; readonly random: RandomSource },
): Promise<FoundBackup & { readonly candidates: number }> {
  const { sample, now } = options;
  const from = sampleWindowStart(now, sample.withinDays);
  // Ids sort by time: S3 skips the keys of older backups (a key of the first id sorts after the id itself).
  const ids = (await listBackupIds(s3, bucket, prefix, name, formatBackupId(from))).filter((id) => {
    const at = parseBackupId(id);
    return at !== undefined && at >= from && at <= now;
  });
  // The tier is in each manifest (a backup exists only with one): a window holds tens of backups.
  const backups = await mapLimited(ids, MANIFEST_READS, async (backupId) => {
    const manifestKey = backupKeys(prefix, name, backupId).manifest;
    return { manifestKey, manifest: await readManifest(s3, bucket, manifestKey) };
  });
  const candidates = backups.filter((b) => b.manifest.tier === sample.tier);
  if (candidates.length === 0) {
    throw new BackupNotFoundError(
      `database "${name}" has no ${sample.tier} backup taken within the last ${sample.withinDays} days (since ${from.toISOString()}) in s3://${bucket}/${databasePrefix(prefix, name)}; sample another tier or a longer window, or drill the latest backup`,
    );
  }
  return { ...pickUniformly(candidates, options.random), candidates: candidates.length };
}

/** Storage classes whose objects S3 must restore (RestoreObject) before they can be read. */
export const ARCHIVE_STORAGE_CLASSES = ['GLACIER', 'DEEP_ARCHIVE'] as const;

/** Whether objects of `storageClass` must be restored before a GET (Glacier IR and the IA classes need not). */
export function isArchived(storageClass: string): boolean {
  return (ARCHIVE_STORAGE_CLASSES as readonly string[]).includes(storageClass);
}

/** Storage classes from the quickest to read to the slowest; unknown ones count as STANDARD. */
const COLDNESS = [
  'STANDARD',
  'REDUCED_REDUNDANCY',
  'INTELLIGENT_TIERING',
  'STANDARD_IA',
  'ONEZONE_IA',
  'GLACIER_IR',
  'GLACIER',
  'DEEP_ARCHIVE',
];

/** The slowest to read of `storageClasses` (STANDARD when none). */
export function coldestStorageClass(storageClasses: Iterable<string>): string {
  let coldest = 'STANDARD';
  for (const storageClass of storageClasses) {
    if (COLDNESS.indexOf(storageClass) > COLDNESS.indexOf(coldest)) coldest = storageClass;
  }
  return coldest;
}

/** One object of a backup and its storage class. */
export interface StoredObject {
  readonly key: string;
  /** S3's class, `STANDARD` when the listing names none. */
  readonly storageClass: string;
}

/**
 * The objects of one backup (its folder: the manifest, the dump or its segments, globals) with their
 * storage classes, from the listing (no HEAD per object, and only the listing permission).
 */
export async function listBackupObjects(
  s3: S3Client,
  bucket: string,
  found: FoundBackup,
  prefix: string,
): Promise<StoredObject[]> {
  const folder = backupKeys(prefix, found.manifest.name, found.manifest.backupId).folder;
  const objects: StoredObject[] = [];
  let token: string | undefined;
  do {
    try {
      const page = await s3.send(
        new ListObjectsV2Command({ Bucket: bucket, Prefix: folder, ContinuationToken: token }),
      );
      for (const object of page.Contents ?? []) {
        if (object.Key !== undefined) {
          objects.push({ key: object.Key, storageClass: object.StorageClass ?? 'STANDARD' });
        }
      }
      token = page.IsTruncated === false ? undefined : page.NextContinuationToken;
    } catch (error) {
      throw describeS3Error(error, 'ListObjectsV2', bucket, folder);
    }
  } while (token);
  return objects;
}

/** How far S3 is with restoring one archived object, from HeadObject's `x-amz-restore` (`Restore`). */
export type RestoreState = 'not-requested' | 'in-progress' | 'available';

/**
 * Reads HeadObject's `x-amz-restore` header: absent, `ongoing-request="true"` while S3 restores the
 * object, `ongoing-request="false", expiry-date="..."` once its copy can be read.
 */
export function readRestoreHeader(header: string | undefined): RestoreState {
  if (header === undefined || header === '') return 'not-requested';
  return /ongoing-request="false"/.test(header) ? 'available' : 'in-progress';
}
