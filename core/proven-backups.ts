import { z } from 'zod';
import { BACKUP_ID_PATTERN } from './layout.ts';
import { TIERS, type Tier, tierSchema } from './retention-tiers.ts';

/**
 * The last proven backup of each tier is never expired by rotation: when a drill of a backup passes, every
 * object version of that backup gets an S3 legal hold (lifecycle expiration cannot remove a version under a
 * hold: S3 keeps it, and expires it once the hold is off), until a newer backup of the same tier passes a
 * drill; then the older one's holds are released and rotation expires it as it would have.
 *
 * Which backups pgproof holds is recorded per database in a small index object, the proven index
 * ({@link provenIndexSchema}, at {@link provenIndexKey}), so that the release finds them. The index lists,
 * per tier, every backup whose holds may be on, the proven one last: it is written before a hold is put on
 * and shortened only after a hold was taken off, so an update cut short (a crash, a timeout) leaves the old
 * and the new backup both held and both listed (never neither, never one held and unlisted), and the next
 * update of that tier finishes the job. This module plans an update; functions/keep-proven-backup.ts
 * applies it.
 */

/** One object version a legal hold is put on: the exact version a backup wrote, never "the current one". */
export const heldObjectSchema = z.strictObject({
  key: z.string().min(1),
  versionId: z.string().min(1),
});
export type HeldObject = z.infer<typeof heldObjectSchema>;

/** A backup pgproof holds (or may hold, after an interrupted update): every object version of it. */
export const provenBackupSchema = z.strictObject({
  backupId: z.string().regex(BACKUP_ID_PATTERN),
  /** The dump (each segment of it), globals.sql and the manifest, each at the version the backup wrote. */
  objects: z.array(heldObjectSchema).min(1),
  /** When the drill that proved it was judged (ISO 8601). */
  provenAt: z.string(),
  /** That drill's report. */
  reportKey: z.string(),
});
export type ProvenBackup = z.infer<typeof provenBackupSchema>;

/**
 * The proven index of one database (`<prefix><name>.proven.json`). `tiers.<tier>` lists, oldest first,
 * every backup of that tier whose objects may carry pgproof's legal hold; its last one is the tier's
 * proven backup. More than one only while an update is under way (or after one was cut short).
 */
export const provenIndexSchema = z.strictObject({
  formatVersion: z.literal(1),
  /** The database's name in the key layout. */
  database: z.string(),
  tiers: z.partialRecord(tierSchema, z.array(provenBackupSchema)),
});
export type ProvenIndex = z.infer<typeof provenIndexSchema>;

/**
 * Where the proven index of database `name` lives: `<prefix><name>.proven.json`, beside the database's
 * folder, not in it and not under `<prefix>drills/`. In the folder, the bucket's policy would refuse
 * every rewrite (backup objects are written only if absent) and the database's backup runner could write
 * it; under `drills/`, the drill reports' lifecycle rule would expire it after a quiet year, and the
 * drill task of the database (which restores an untrusted archive) could write it. A database name has
 * no ".", so no backup key has this shape.
 */
export function provenIndexKey(prefix: string, name: string): string {
  return `${prefix}${name}.proven.json`;
}

/** The index's JSON text, written through the schema its reader parses with. */
export function serializeProvenIndex(index: ProvenIndex): string {
  return `${JSON.stringify(provenIndexSchema.parse(index), null, 2)}\n`;
}

/** Parses the index's text, throwing an error naming the key and the first problem. */
export function parseProvenIndex(text: string, key: string): ProvenIndex {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    throw new Error(`the proven index ${key} is not valid JSON; restore its previous version`, { cause });
  }
  const parsed = provenIndexSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(
      `the proven index ${key} is invalid at ${issue?.path.join('.') || '(root)'}: ${issue?.message}; restore its previous version`,
    );
  }
  return parsed.data;
}

/** An object of a backup as its manifest names it: the version is absent in manifests written before it was recorded. */
export interface BackupObject {
  readonly key: string;
  readonly versionId?: string | undefined;
}

/** An archive of a backup: one object, or its segments. */
type SegmentedObject = BackupObject & { readonly segments?: readonly BackupObject[] | undefined };

/**
 * The part of a manifest that names a backup's objects. Structural, so that it reads every manifest
 * shape: `dump.segments` is there only for a dump stored as several objects (its first being `dump.key`),
 * `dump.streams` only for one taken in parallel.
 */
export interface BackupObjectsSource {
  readonly dump: SegmentedObject & { readonly streams?: readonly SegmentedObject[] | undefined };
  readonly globals: BackupObject | null;
}

/**
 * Every object of a backup, each once: each segment of the dump (or the dump) and of each data stream,
 * globals.sql when there is one, and the manifest itself (at `manifestKey`, version `manifestVersionId`:
 * a manifest cannot name its own version).
 */
export function backupObjects(
  manifest: BackupObjectsSource,
  manifestKey: string,
  manifestVersionId: string | undefined,
): BackupObject[] {
  // The dump's archives: the dump, and the data streams of one taken in parallel.
  const dump = [manifest.dump, ...(manifest.dump.streams ?? [])].flatMap(
    (archive) => archive.segments ?? [archive],
  );
  const all = [
    ...dump,
    ...(manifest.globals ? [manifest.globals] : []),
    { key: manifestKey, versionId: manifestVersionId },
  ].map((o) => ({ key: o.key, versionId: o.versionId }));
  return all.filter((o, i) => all.findIndex((p) => p.key === o.key) === i);
}

/** A drill just judged, as the planner needs it. */
export interface JudgedDrill {
  readonly database: string;
  readonly backupId: string;
  /** The backup's tier (its manifest's, which is its `pgproof:tier` tag). */
  readonly tier: Tier;
  /** `drill` (a scratch server) or `restore` (a real target: proves nothing kept). */
  readonly mode: 'drill' | 'restore';
  /** The workflow's verdict: verified, and the RTO met. */
  readonly passed: boolean;
  /** Every object of the backup at its exact version ({@link backupObjects}, versions resolved). */
  readonly objects: readonly HeldObject[];
  /** When the drill was judged (ISO 8601). */
  readonly provenAt: string;
  readonly reportKey: string;
}

/** What an update does to the drilled backup's tier. */
export type ProvenOutcome =
  /** Not a passing drill (failed, or a restore): nothing held, nothing released. */
  | 'not-proven'
  /** The drilled backup is now its tier's proven backup. */
  | 'kept'
  /** The drilled backup already was its tier's proven backup. */
  | 'already-kept'
  /** A newer backup of the tier is already proven: it stays so, and the drilled one is not held. */
  | 'older';

/** An update of the proven index and the holds, applied in this order by the caller. */
export interface ProvenPlan {
  readonly outcome: ProvenOutcome;
  readonly tier: Tier;
  /** The tier's proven backup after the update; undefined when none (a failed first drill). */
  readonly proven: string | undefined;
  /** 1. Written before any hold changes (conditionally): lists every backup whose holds may be on after step 2. */
  readonly intent: ProvenIndex | undefined;
  /** 2. Versions to put a legal hold on (the proven backup's; again after an interrupted update). */
  readonly hold: readonly HeldObject[];
  /** 3. Versions whose legal hold is released: those of the older backups of the tier. */
  readonly release: readonly HeldObject[];
  /** The backups whose versions {@link release} lists. */
  readonly released: readonly string[];
  /** 4. Written last (conditionally): the tier lists only its proven backup. */
  readonly final: ProvenIndex | undefined;
}

/** An index of `database` with no backup held. */
export function emptyProvenIndex(database: string): ProvenIndex {
  return { formatVersion: 1, database, tiers: {} };
}

/** `index` with `tier` listing `backups` (none: the tier is left out). */
function withTier(index: ProvenIndex, tier: Tier, backups: readonly ProvenBackup[]): ProvenIndex {
  const tiers: ProvenIndex['tiers'] = {};
  for (const t of TIERS) {
    const list = t === tier ? backups : index.tiers[t];
    if (list?.length) tiers[t] = [...list];
  }
  return { ...index, tiers };
}

/**
 * Plans the update after a drill: a passing drill of a backup newer than its tier's proven one makes it
 * the proven one (listed, held, then the older ones released, then unlisted); a passing drill of the
 * proven backup or of an older one changes nothing, unless an earlier update was cut short (the tier
 * lists more than one backup), which it finishes: hold the newest listed, release the rest. A failed
 * drill or a restore changes nothing. Only the drilled backup's tier is touched. Pure.
 */
export function planProvenBackups(drill: JudgedDrill, current: ProvenIndex | undefined): ProvenPlan {
  if (current && current.database !== drill.database) {
    throw new Error(
      `the proven index of "${current.database}" was given for a drill of "${drill.database}": each database has its own`,
    );
  }
  const index = current ?? emptyProvenIndex(drill.database);
  const listed = [...(index.tiers[drill.tier] ?? [])].sort((a, b) => a.backupId.localeCompare(b.backupId));
  const newest = listed.at(-1);
  const nothing = (outcome: ProvenOutcome): ProvenPlan => ({
    outcome,
    tier: drill.tier,
    proven: newest?.backupId,
    intent: undefined,
    hold: [],
    release: [],
    released: [],
    final: undefined,
  });
  if (!drill.passed || drill.mode !== 'drill') return nothing('not-proven');

  const outcome: ProvenOutcome =
    newest === undefined || drill.backupId > newest.backupId
      ? 'kept'
      : drill.backupId === newest.backupId
        ? 'already-kept'
        : 'older';
  const backups =
    outcome === 'kept'
      ? [
          ...listed,
          {
            backupId: drill.backupId,
            objects: [...drill.objects],
            provenAt: drill.provenAt,
            reportKey: drill.reportKey,
          },
        ]
      : listed;
  const proven = backups.at(-1);
  const older = backups.slice(0, -1);
  if (!proven || (outcome !== 'kept' && older.length === 0)) return nothing(outcome);
  return {
    outcome,
    tier: drill.tier,
    proven: proven.backupId,
    intent: outcome === 'kept' ? withTier(index, drill.tier, backups) : undefined,
    hold: proven.objects,
    release: older.flatMap((b) => b.objects),
    released: older.map((b) => b.backupId),
    final: withTier(index, drill.tier, [proven]),
  };
}

/** Every backup the index lists as held, by tier (the proven one last). */
export function heldBackups(index: ProvenIndex | undefined): Partial<Record<Tier, string[]>> {
  const held: Partial<Record<Tier, string[]>> = {};
  for (const tier of TIERS) {
    const list = index?.tiers[tier];
    if (list?.length) held[tier] = list.map((b) => b.backupId);
  }
  return held;
}
