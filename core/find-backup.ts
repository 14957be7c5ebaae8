import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { describeS3Error, PgproofError } from './errors.ts';
import { backupKeys, databasePrefix, parseManifestKey } from './layout.ts';
import { assertManifestBelongs, type Manifest, parseManifest } from './manifest.ts';
import { isNotFound, listKeys } from './s3-client.ts';

/**
 * Finding a backup to restore: by its manifest key, by database name and id, or the latest of a
 * database. A backup exists exactly when its manifest does (DESIGN.md "Object layout"), so only
 * manifests are looked for. Used by the restore runner, the drill's ResolveBackup and the CLI.
 */

/** No backup matched what was asked for. */
export class BackupNotFoundError extends PgproofError {
  constructor(message: string) {
    super(message);
    this.name = 'BackupNotFoundError';
  }
}

/** Which backup: an exact manifest key, or a database's name with an optional backup id (default: latest). */
export type BackupSelector =
  | { readonly manifestKey: string }
  | { readonly name: string; readonly backupId?: string | undefined };

/** A backup's manifest and where it is. */
export interface FoundBackup {
  readonly manifestKey: string;
  readonly manifest: Manifest;
}

/**
 * The ids of the backups of `name` under `prefix` that exist (have a manifest), oldest first: ids
 * sort by time. With `after`, only ids after that one are listed (S3 skips the older keys).
 */
export async function listBackupIds(
  s3: S3Client,
  bucket: string,
  prefix: string,
  name: string,
  after?: string,
): Promise<string[]> {
  const folder = databasePrefix(prefix, name);
  const keys = await listKeys(s3, bucket, folder, after === undefined ? undefined : `${folder}${after}`);
  return keys
    .flatMap((key) => {
      const parts = parseManifestKey(key);
      return parts?.name === name && parts.prefix === prefix ? [parts.backupId] : [];
    })
    .sort();
}

/** The manifest key of the newest backup of `name` under `prefix`, or undefined when it has none. */
export async function latestManifestKey(
  s3: S3Client,
  bucket: string,
  prefix: string,
  name: string,
): Promise<string | undefined> {
  const newest = (await listBackupIds(s3, bucket, prefix, name)).at(-1);
  return newest === undefined ? undefined : backupKeys(prefix, name, newest).manifest;
}

/** Reads and validates the manifest at `key`, believing it only about itself ({@link assertManifestBelongs}). */
export async function readManifest(s3: S3Client, bucket: string, key: string): Promise<Manifest> {
  return (await readManifestVersion(s3, bucket, key)).manifest;
}

/**
 * {@link readManifest}, and the S3 version it read (undefined where the bucket keeps no versions, which
 * S3 reports as the version `null`).
 */
export async function readManifestVersion(
  s3: S3Client,
  bucket: string,
  key: string,
): Promise<{ manifest: Manifest; versionId: string | undefined }> {
  let text: string;
  let versionId: string | undefined;
  try {
    const response = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    text = (await response.Body?.transformToString('utf8')) ?? '';
    versionId = response.VersionId === 'null' ? undefined : response.VersionId;
  } catch (error) {
    if (isNotFound(error)) {
      throw new BackupNotFoundError(
        `no backup at s3://${bucket}/${key}: the manifest does not exist (a backup without one is incomplete); pick another backup`,
      );
    }
    throw describeS3Error(error, 'GetObject', bucket, key);
  }
  const manifest = parseManifest(text, key);
  assertManifestBelongs(manifest, key);
  return { manifest, versionId };
}

/** Finds the selected backup and reads its manifest; throws {@link BackupNotFoundError} when there is none. */
export async function findBackup(
  s3: S3Client,
  bucket: string,
  prefix: string,
  selector: BackupSelector,
): Promise<FoundBackup> {
  if ('manifestKey' in selector) {
    return {
      manifestKey: selector.manifestKey,
      manifest: await readManifest(s3, bucket, selector.manifestKey),
    };
  }
  if (selector.backupId !== undefined) {
    const key = backupKeys(prefix, selector.name, selector.backupId).manifest;
    try {
      return { manifestKey: key, manifest: await readManifest(s3, bucket, key) };
    } catch (error) {
      if (error instanceof BackupNotFoundError) {
        throw new BackupNotFoundError(
          `database "${selector.name}" has no backup ${selector.backupId} in s3://${bucket}/${databasePrefix(prefix, selector.name)} (no manifest); leave the backup id out to take the latest`,
        );
      }
      throw error;
    }
  }
  const key = await latestManifestKey(s3, bucket, prefix, selector.name);
  if (key === undefined) {
    throw new BackupNotFoundError(
      `database "${selector.name}" has no backup in s3://${bucket}/${databasePrefix(prefix, selector.name)} (no manifest.json); check the name, or run a backup first`,
    );
  }
  return { manifestKey: key, manifest: await readManifest(s3, bucket, key) };
}
