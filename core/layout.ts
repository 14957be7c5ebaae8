import type { Tier } from './retention-tiers.ts';

/**
 * The S3 object layout of DESIGN.md, the one place every part of pgproof derives keys from:
 * `<prefix><name>/<backupId>/{dump.pgdump,globals.sql,manifest.json}`, plus, for a dump too large for one
 * segment (see engines/backup/upload.ts), its continuation segments `dump.pgdump.00001`, `.00002`, ...
 */

/** File names inside a backup's folder. */
export const DUMP_FILE = 'dump.pgdump';
export const GLOBALS_FILE = 'globals.sql';
export const MANIFEST_FILE = 'manifest.json';

/** Tag keys carried by every object of a backup. */
export const TIER_TAG = 'pgproof:tier';
export const DATABASE_TAG = 'pgproof:database';

/**
 * A database's name in the key layout (`BACKUP_NAME`, the config's `name`): letters, digits, "_" and "-",
 * at most 63, starting with a letter or digit. It is also part of construct ids, tags and metric dimensions.
 */
export const DATABASE_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/;
/** {@link DATABASE_NAME_PATTERN} in words, for messages. */
export const DATABASE_NAME_RULE =
  'may hold only letters, digits, "_" and "-" (at most 63, starting with a letter or digit)';

/** Whether `name` may name a database in the key layout. */
export function isDatabaseName(name: string): boolean {
  return DATABASE_NAME_PATTERN.test(name);
}

/**
 * A key prefix (`BACKUP_PREFIX`, the config's `backupPrefix`): empty, or key characters ending in "/".
 * Never `*` (the prefix goes into IAM resource ARNs, where it would widen every grant) nor `..`.
 */
export const KEY_PREFIX_PATTERN = /^$|^(?!.*\.\.)[A-Za-z0-9!_.'()/-]*\/$/;
/** {@link KEY_PREFIX_PATTERN} in words, for messages. */
export const KEY_PREFIX_RULE = 'must be empty or end with "/" (letters, digits and !_.\'()/- only, no "..")';

/** Whether `prefix` may prefix the keys of a deployment. */
export function isKeyPrefix(prefix: string): boolean {
  return KEY_PREFIX_PATTERN.test(prefix);
}

/** `YYYYMMDDTHHMMSSZ`: sorts by time, safe in a key. */
export const BACKUP_ID_PATTERN = /^\d{8}T\d{6}Z$/;

/** Formats a UTC instant as a backup id (`20261121T020000Z`). */
export function formatBackupId(at: Date): string {
  return at
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}Z$/, 'Z');
}

/** Parses a backup id back to its instant; undefined when it is not one. */
export function parseBackupId(id: string): Date | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(id);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s] = m;
  const at = new Date(`${y}-${mo}-${d}T${h}:${mi}:${s}Z`);
  return Number.isNaN(at.getTime()) ? undefined : at;
}

/** The keys of one backup. */
export interface BackupKeys {
  /** `<prefix><name>/<backupId>/` */
  readonly folder: string;
  readonly dump: string;
  readonly globals: string;
  readonly manifest: string;
}

/** Where a database's backups live: `<prefix><name>/`. */
export function databasePrefix(prefix: string, name: string): string {
  return `${prefix}${name}/`;
}

/** The keys of the backup `backupId` of database `name` under `prefix`. */
export function backupKeys(prefix: string, name: string, backupId: string): BackupKeys {
  const folder = `${databasePrefix(prefix, name)}${backupId}/`;
  return {
    folder,
    dump: `${folder}${DUMP_FILE}`,
    globals: `${folder}${GLOBALS_FILE}`,
    manifest: `${folder}${MANIFEST_FILE}`,
  };
}

/**
 * The key of segment `index` (from 0) of a dump whose first segment is at `dumpKey`: the first is the dump's
 * own key (a dump of one segment is laid out as before segments existed), the next ones append a
 * five-digit number (`dump.pgdump.00001`), so a listing of the folder sorts them in order.
 */
export function dumpSegmentKey(dumpKey: string, index: number): string {
  if (!Number.isInteger(index) || index < 0 || index > 99_999) {
    throw new RangeError(`a dump segment's index is a whole number from 0 to 99999, got ${index}`);
  }
  return index === 0 ? dumpKey : `${dumpKey}.${String(index).padStart(5, '0')}`;
}

/**
 * The key of data stream `stream` (from 1) of the backup in `folder` (`<prefix><name>/<backupId>/`): a dump
 * taken in parallel (engines/backup/streams.ts) keeps its definitions and the rest of its data at
 * `dump.pgdump`, and the data of the tables given to each further stream at `data-1.pgdump`,
 * `data-2.pgdump`, ... beside it.
 */
export function dataStreamKey(folder: string, stream: number): string {
  if (!Number.isInteger(stream) || stream < 1 || stream > MAX_DUMP_STREAMS - 1) {
    throw new RangeError(
      `a data stream's number is a whole number from 1 to ${MAX_DUMP_STREAMS - 1}, got ${stream}`,
    );
  }
  return `${folder}data-${stream}.pgdump`;
}

/** The most pg_dump processes one backup runs at once (`DUMP_STREAMS`). */
export const MAX_DUMP_STREAMS = 16;

/**
 * Where drill reports live: `<prefix>drills/`, beside the databases' folders (so no database may be
 * named `drills`).
 */
export function drillReportsPrefix(prefix: string): string {
  return `${prefix}drills/`;
}

/**
 * Where evidence ledgers live: `<prefix>ledger/`, beside the databases' folders (so no database may be
 * named `ledger`).
 */
export function ledgerPrefix(prefix: string): string {
  return `${prefix}ledger/`;
}

/** Where `pgproof report --store` writes a month's ledger: `<prefix>ledger/<YYYY-MM>/ledger.{csv,json,html}`. */
export function ledgerKeys(prefix: string, month: string): { csv: string; json: string; html: string } {
  const folder = `${ledgerPrefix(prefix)}${month}/`;
  return { csv: `${folder}ledger.csv`, json: `${folder}ledger.json`, html: `${folder}ledger.html` };
}

/** The default key of a drill report: `<prefix>drills/<name>/<backupId>/<UTC time>.json`. */
export function drillReportKey(prefix: string, name: string, backupId: string, at: Date): string {
  return `${drillReportsPrefix(prefix)}${name}/${backupId}/${formatBackupId(at)}.json`;
}

/** The object tags of a backup, as an S3 `Tagging` query string. */
export function backupTagging(tier: Tier, name: string): string {
  return new URLSearchParams({ [TIER_TAG]: tier, [DATABASE_TAG]: name }).toString();
}

/**
 * Splits a manifest key `<prefix><name>/<backupId>/manifest.json` into its parts;
 * undefined when the key does not have that shape.
 */
export function parseManifestKey(
  key: string,
): { prefix: string; name: string; backupId: string } | undefined {
  const m = /^(.*?)([^/]+)\/(\d{8}T\d{6}Z)\/manifest\.json$/.exec(key);
  if (!m) return undefined;
  const [, prefix = '', name = '', backupId = ''] = m;
  return { prefix, name, backupId };
}
