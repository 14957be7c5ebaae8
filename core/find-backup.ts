import {
  GetObjectCommand,
  ListObjectsV2Command,
  type ListObjectsV2CommandOutput,
  type S3Client,
} from '@aws-sdk/client-s3';
import { describeS3Error, PgproofError } from './errors.ts';
import { BACKUP_ID_PATTERN, backupKeys, databasePrefix, MANIFEST_FILE, parseManifestKey } from './layout.ts';
import { type Manifest, parseManifest } from './manifest.ts';
import { isNotFound } from './s3-client.ts';

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
 * The manifest key of the newest backup of `name` under `prefix`, or undefined when it has none.
 * Backup ids sort by time, so the newest is the greatest id that has a manifest.
 */
export async function latestManifestKey(
  s3: S3Client,
  bucket: string,
  prefix: string,
  name: string,
): Promise<string | undefined> {
  const folder = databasePrefix(prefix, name);
  let latest: string | undefined;
  let token: string | undefined;
  do {
    let page: ListObjectsV2CommandOutput;
    try {
      page = await s3.send(
        new ListObjectsV2Command({ Bucket: bucket, Prefix: folder, ContinuationToken: token }),
      );
    } catch (error) {
      throw describeS3Error(error, 'ListObjectsV2', bucket, folder);
    }
    for (const object of page.Contents ?? []) {
      const key = object.Key ?? '';
      if (!key.endsWith(`/${MANIFEST_FILE}`)) continue;
      const parts = parseManifestKey(key);
      if (parts?.name !== name || parts.prefix !== prefix || !BACKUP_ID_PATTERN.test(parts.backupId))
        continue;
      if (latest === undefined || key > latest) latest = key;
    }
    token = page.NextContinuationToken;
  } while (token);
  return latest;
}

/** Reads and validates the manifest at `key`. */
export async function readManifest(s3: S3Client, bucket: string, key: string): Promise<Manifest> {
  let text: string;
  try {
    const response = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    text = (await response.Body?.transformToString('utf8')) ?? '';
  } catch (error) {
    if (isNotFound(error)) {
      throw new BackupNotFoundError(
        `no backup at s3://${bucket}/${key}: the manifest does not exist (a backup without one is incomplete); pick another backup`,
      );
    }
    throw describeS3Error(error, 'GetObject', bucket, key);
  }
  return parseManifest(text, key);
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
