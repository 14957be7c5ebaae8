import { statfs } from 'node:fs/promises';
import type pg from 'pg';
import { readSharedPreloadLibraries } from '../../core/catalog-inventory.ts';
import { ConfigError, DatabaseError } from '../../core/errors.ts';
import { formatBinaryBytes } from '../../core/format.ts';
import { dumpTotalBytes, type Manifest } from '../../core/manifest.ts';
import type { RestoreMode, RestoreWording } from './settings.ts';
import {
  assertRestorableTarget,
  connectTarget,
  isMissingDatabase,
  serverVersion,
  type TargetLogin,
} from './target.ts';

/**
 * What a restore checks before it downloads a byte, each in seconds: the target answers, the login
 * works, the database is empty (or to be cleaned) or may be created, the server has every extension
 * the backup lists, and the work folder has room for the dump. Today's backups are tens of gigabytes:
 * a wrong password found after the download costs the whole download.
 */

/** What the preflight found that does not stop the restore. */
export interface Preflight {
  /** The target server's version, e.g. `15.8`. */
  readonly serverVersion: string;
  /** False when the database does not exist yet: it is created after the download. */
  readonly databaseExists: boolean;
  /** Differences reported, not failed: a newer extension version, a library the source preloads. */
  readonly notes: readonly string[];
}

/** How to run the preflight. */
export interface PreflightOptions {
  readonly mode: RestoreMode;
  readonly clean: boolean;
  /** Seconds to wait for a target that does not answer yet (a drill's sidecar may still start). */
  readonly waitSeconds: number;
  /** Where the dump goes. */
  readonly workDir: string;
  /** Whether globals.sql is downloaded too. */
  readonly withGlobals: boolean;
  readonly wording: RestoreWording;
}

/**
 * Checks the target and the work folder before the download. Throws, naming the fix, at the first
 * problem; returns what differs but does not stop the restore. The target database is not created
 * here: a backup that fails its checksum leaves nothing behind.
 */
export async function preflight(
  target: TargetLogin,
  manifest: Manifest,
  options: PreflightOptions,
): Promise<Preflight> {
  let client: pg.Client;
  let databaseExists = true;
  try {
    client = await connectTarget(target, options.waitSeconds);
  } catch (error) {
    if (!isMissingDatabase(error)) throw error;
    // The login is proven on the maintenance database; the target database is created after the download.
    client = await connectTarget({ ...target, database: 'postgres' }, 0);
    databaseExists = false;
  }
  try {
    const version = await serverVersion(client);
    if (databaseExists) {
      await assertRestorableTarget(client, target, {
        clean: options.clean,
        cleanHint: options.wording.clean,
      });
    } else await assertMayCreateDatabase(client, target);
    const notes = await checkExtensions(client, manifest, target, options.mode, version);
    await assertRoomFor(manifest, options);
    return { serverVersion: version, databaseExists, notes };
  } finally {
    await client.end().catch(() => {});
  }
}

/** A missing database is created after the download: the login must be allowed to. */
async function assertMayCreateDatabase(client: pg.Client, target: TargetLogin): Promise<void> {
  const { rows } = await client.query<{ may: boolean }>(
    'SELECT rolsuper OR rolcreatedb AS may FROM pg_roles WHERE rolname = current_user',
  );
  if (rows[0]?.may) return;
  throw new DatabaseError(
    `database "${target.database}" does not exist on ${target.host}:${target.port} and "${target.user}" may not create it (no CREATEDB): create it first, or ${target.namedBy ? `name an existing database in ${target.namedBy}` : 'set PGDATABASE to an existing database'}`,
  );
}

/**
 * Compares two extension versions by their numeric parts (`1.10` is newer than `1.9`, `0.7` is
 * `0.7.0`): -1, 0 or 1, undefined when either has no number to compare.
 */
export function compareExtensionVersions(a: string, b: string): -1 | 0 | 1 | undefined {
  const parts = (v: string) => (v.match(/\d+/g) ?? []).map(Number);
  const [x, y] = [parts(a), parts(b)];
  if (x.length === 0 || y.length === 0) return undefined;
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const d = (x[i] ?? 0) - (y[i] ?? 0);
    if (d !== 0) return d < 0 ? -1 : 1;
  }
  // `0.7` and `0.7.0` name one version.
  return 0;
}

/** An extension the backup lists, against what the target server offers. */
export interface ExtensionOffer {
  readonly name: string;
  /** The source's version. */
  readonly version: string;
  /** The version `CREATE EXTENSION` installs here; undefined: the server does not have it. */
  readonly defaultVersion: string | undefined;
}

/** The extensions a restore cannot do without, and the differences it reports. */
export interface ExtensionVerdict {
  /** Missing, or only older than the source's: named with the version the backup needs. */
  readonly missing: readonly string[];
  readonly notes: readonly string[];
}

/**
 * Judges each extension. The archive's `CREATE EXTENSION` takes the server's default version: the
 * same as the source's is silent; a newer one is reported (the extension's update scripts make it
 * so); an older one fails, for what the backup uses of the newer one would not restore.
 */
export function judgeExtensions(offers: readonly ExtensionOffer[]): ExtensionVerdict {
  const missing: string[] = [];
  const notes: string[] = [];
  for (const { name, version, defaultVersion } of offers) {
    if (defaultVersion === undefined) missing.push(name);
    else {
      const order = compareExtensionVersions(defaultVersion, version);
      if (order === -1) missing.push(`${name} ${version} or newer (this server has ${defaultVersion})`);
      else if (order !== 0) {
        notes.push(
          `extension ${name} restores at version ${defaultVersion}, the backup's source had ${version}`,
        );
      }
    }
  }
  return { missing, notes };
}

/**
 * Fails at once when the server lacks an extension the backup lists (manifests from before the
 * inventory list none: the restore then finds a missing one when it creates it), naming each and the fix.
 */
async function checkExtensions(
  client: pg.Client,
  manifest: Manifest,
  target: TargetLogin,
  mode: RestoreMode,
  version: string,
): Promise<string[]> {
  const listed = manifest.inventory?.extensions ?? [];
  const notes: string[] = [];
  if (listed.length > 0) {
    const { rows } = await client.query<{ name: string; default_version: string | null }>(
      'SELECT name, default_version FROM pg_available_extensions WHERE name = ANY($1)',
      [listed.map((e) => e.name)],
    );
    const offered = new Map(rows.map((r) => [r.name, r.default_version ?? undefined]));
    const verdict = judgeExtensions(
      listed.map((e) => ({ name: e.name, version: e.version, defaultVersion: offered.get(e.name) })),
    );
    if (verdict.missing.length > 0) {
      throw new ConfigError(missingExtensionsMessage(verdict.missing, manifest, target, mode, version));
    }
    notes.push(...verdict.notes);
  }
  const preloaded = libraryList(manifest.inventory?.sharedPreloadLibraries ?? '');
  if (preloaded.length > 0) {
    const setting = await readSharedPreloadLibraries(client);
    if (setting === null) {
      notes.push(
        `the source preloads ${preloaded.join(', ')} (shared_preload_libraries); "${target.user}" may not read this server's setting (it needs pg_read_all_settings), so whether it preloads them is unknown`,
      );
    } else {
      const here = new Set(libraryList(setting));
      const absent = preloaded.filter((l) => !here.has(l));
      if (absent.length > 0) {
        notes.push(
          `the source preloads ${absent.join(', ')} (shared_preload_libraries), this server does not: an extension that needs it may fail to create or to work`,
        );
      }
    }
  }
  return notes;
}

function libraryList(setting: string): string[] {
  return setting
    .split(',')
    .map((l) => l.trim().replace(/^"|"$/g, ''))
    .filter(Boolean);
}

/** The fix for missing extensions: in a drill, the scratch image; otherwise, the target server. */
function missingExtensionsMessage(
  missing: readonly string[],
  manifest: Manifest,
  target: TargetLogin,
  mode: RestoreMode,
  version: string,
): string {
  const major = version.split('.')[0];
  if (mode === 'drill') {
    return `the drill's scratch server (PostgreSQL ${version}) lacks extension(s) backup ${manifest.backupId} of "${manifest.name}" needs: ${missing.join(', ')}; set drill.postgresImage of database "${manifest.name}" in the deployment config to a PostgreSQL ${major} image that has them (nothing was downloaded)`;
  }
  return `PostgreSQL ${version} at ${target.host}:${target.port} lacks extension(s) backup ${manifest.backupId} of "${manifest.name}" needs: ${missing.join(', ')}; install them on that server (its packages, e.g. postgresql-${major}-<extension>, or the extensions your provider offers) and restore again (nothing was downloaded)`;
}

/** Fails when the work folder has no room for the files the restore downloads. */
async function assertRoomFor(manifest: Manifest, options: PreflightOptions): Promise<void> {
  const needed =
    dumpTotalBytes(manifest.dump) + (options.withGlobals && manifest.globals ? manifest.globals.bytes : 0);
  const disk = await statfs(options.workDir);
  const free = disk.bavail * disk.bsize;
  if (free >= needed) return;
  throw new ConfigError(
    `${options.workDir} has ${formatBinaryBytes(free)} free, the backup's dump needs ${formatBinaryBytes(needed)}: ${options.wording.workDir} (nothing was downloaded)`,
  );
}
