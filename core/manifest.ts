import { z } from 'zod';
import { PgproofError } from './errors.ts';
import { inventorySchema } from './inventory.ts';
import { backupKeys, dataStreamKey, dumpSegmentKey, MAX_DUMP_STREAMS, parseManifestKey } from './layout.ts';
import { tierSchema } from './retention-tiers.ts';

/**
 * The manifest contract of DESIGN.md. A backup exists only when its manifest exists: it is written
 * last, and it is what restores and drills verify against.
 */

/** One table's content as seen in the dump's snapshot. */
export const tableStatSchema = z.object({
  schema: z.string(),
  name: z.string(),
  rows: z.number().int().nonnegative(),
  /** Order-independent content hash (`VERIFY=checksums`), a decimal string. */
  hash: z.string().optional(),
});

/**
 * One object of the backup. `versionId` is the S3 version the backup runner wrote (absent when the bucket
 * keeps no versions, as on S3-compatible servers without versioning, and in manifests written before it was
 * recorded): readers fetch exactly that version, so a newer version put at the same key later (an
 * overwrite the bucket's versioning kept the original of) is never what is restored or verified.
 */
const objectRefSchema = z.object({
  key: z.string(),
  bytes: z.number().int().nonnegative(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  versionId: z.string().min(1).optional(),
});

/**
 * One object of a dump stored as several (a dump larger than one segment can hold: engines/backup/upload.ts):
 * the concatenation of the segments, in order, is the dump. Each has its key (core/layout.ts
 * `dumpSegmentKey`), size and, where the bucket keeps versions, the version written.
 */
const dumpSegmentSchema = z.object({
  key: z.string(),
  bytes: z.number().int().nonnegative(),
  versionId: z.string().min(1).optional(),
});

/** The segments of an archive, if listed, must start at its own key and version and add up to its size. */
function refineSegments(
  archive: {
    key: string;
    bytes: number;
    versionId?: string | undefined;
    segments?: DumpSegment[] | undefined;
  },
  ctx: z.RefinementCtx,
): void {
  if (!archive.segments) return;
  const [first] = archive.segments;
  if (first?.key !== archive.key || first?.versionId !== archive.versionId) {
    ctx.addIssue({
      code: 'custom',
      path: ['segments', 0],
      message: "the first segment must be the archive's own key and version",
    });
  }
  const total = archive.segments.reduce((sum, segment) => sum + segment.bytes, 0);
  if (total !== archive.bytes) {
    ctx.addIssue({
      code: 'custom',
      path: ['segments'],
      message: `the segments hold ${total} bytes, the archive ${archive.bytes}`,
    });
  }
}

/** An archive stored as one object, or as several segments listed in order. */
const segmentedRefSchema = objectRefSchema.extend({
  segments: z.array(dumpSegmentSchema).min(2).max(100_000).optional(),
});

/**
 * A data stream of a dump taken in parallel (engines/backup/streams.ts): a custom-format archive of the
 * `data` section only, of `tables` tables, at `data-<n>.pgdump` (core/layout.ts `dataStreamKey`), stored as
 * the dump is (one object or segments). Its rows are loaded after the dump's `pre-data` and before its
 * `post-data`, beside the dump's own data.
 */
const dataStreamSchema = segmentedRefSchema
  .extend({ tables: z.number().int().positive() })
  .superRefine(refineSegments);

/**
 * The dump. `key`, `bytes`, `sha256` and `versionId` always describe the whole archive as pg_restore reads
 * it (`key` and `versionId` name its first object). `segments` is there only when the dump was stored as
 * several objects, and lists all of them, the first included; a dump of one object (every dump up to one
 * segment's size, and every manifest written before segments existed) has no `segments`. `streams` is
 * there only when the dump was taken in parallel: the archive at `key` then holds every definition and the
 * data of every table not in a stream, and each stream the data of its tables.
 */
const dumpRefSchema = segmentedRefSchema
  .extend({
    format: z.literal('custom'),
    compression: z.string(),
    streams: z
      .array(dataStreamSchema)
      .min(1)
      .max(MAX_DUMP_STREAMS - 1)
      .optional(),
  })
  .superRefine(refineSegments);

/** The verification levels of `VERIFY`. */
export const verifyLevelSchema = z.enum(['counts', 'checksums', 'none']);
export type VerifyLevel = z.infer<typeof verifyLevelSchema>;

export const manifestSchema = z.object({
  formatVersion: z.literal(1),
  backupId: z.string(),
  name: z.string(),
  database: z.string(),
  tier: tierSchema,
  startedAt: z.string(),
  finishedAt: z.string(),
  server: z.object({ version: z.string(), versionNum: z.number().int() }),
  pgDump: z.object({ version: z.string(), args: z.array(z.string()) }),
  dump: dumpRefSchema,
  globals: objectRefSchema.nullable(),
  verify: verifyLevelSchema,
  tables: z.array(tableStatSchema),
  /** Session settings under which table hashes were computed; a verifier must use the same. */
  hashSettings: z.record(z.string(), z.string()).optional(),
  /**
   * What a restore must reproduce besides the rows (core/inventory.ts), read in the dump's snapshot;
   * absent with `VERIFY=none` and in manifests written before it was recorded.
   */
  inventory: inventorySchema.optional(),
});

/** A backup's manifest. */
export type Manifest = z.infer<typeof manifestSchema>;
/** One object of a dump stored as several. */
export type DumpSegment = z.infer<typeof dumpSegmentSchema>;
/** One table's row count (and hash) in a manifest. */
export type TableStat = z.infer<typeof tableStatSchema>;

/**
 * The objects that make up one archive, in order: its segments, or the one object an archive of one
 * segment is. Readers concatenate them into the file pg_restore reads.
 */
export function dumpSegments(archive: DumpArchive): DumpSegment[] {
  return (
    archive.segments ?? [
      {
        key: archive.key,
        bytes: archive.bytes,
        ...(archive.versionId ? { versionId: archive.versionId } : {}),
      },
    ]
  );
}

/** One archive of a dump: the dump itself, or one of its data streams. */
export type DumpArchive = Pick<Manifest['dump'], 'key' | 'bytes' | 'sha256' | 'versionId' | 'segments'>;

/**
 * The archives of a dump, the dump itself first: one for a dump taken in one stream, and one more for each
 * data stream of a dump taken in parallel.
 */
export function dumpArchives(dump: Manifest['dump']): DumpArchive[] {
  return [dump, ...(dump.streams ?? [])];
}

/** The bytes of every archive of a dump: what a restore downloads. */
export function dumpTotalBytes(dump: Manifest['dump']): number {
  return dumpArchives(dump).reduce((sum, archive) => sum + archive.bytes, 0);
}

/**
 * A manifest's JSON text, written through the schema its readers parse with: a manifest the schema
 * would refuse is never written (the writer's mistake fails the backup, not a restore years later).
 */
export function serializeManifest(manifest: Manifest): string {
  return `${JSON.stringify(manifestSchema.parse(manifest), null, 2)}\n`;
}

/** Parses a manifest's JSON text, throwing a one-line error naming the key on anything malformed. */
export function parseManifest(text: string, key: string): Manifest {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    throw new Error(`manifest ${key} is not valid JSON: the backup is damaged; restore another one`, {
      cause,
    });
  }
  const parsed = manifestSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(
      `manifest ${key} is invalid at ${issue?.path.join('.') || '(root)'}: ${issue?.message}; restore another backup`,
    );
  }
  return parsed.data;
}

/**
 * Refuses a manifest that speaks for anything but itself: its name, backup id and object keys (every
 * segment of the dump's included, each at its place in order) must be those of the place it was read from (`key`), and its database a plain name. A manifest copied into
 * another database's folder, or naming another database's dump, would otherwise have a drill restore
 * objects it was never meant to read; and pg_restore --dbname expands a name holding "=" or a URI into a
 * connection string.
 */
export function assertManifestBelongs(manifest: Manifest, key: string): void {
  const problem = placeProblem(manifest, key);
  if (problem) {
    throw new ManifestMismatchError(
      `manifest ${key} does not belong where it is: ${problem}; it was not written there by pgproof: restore another backup, and find out who wrote it`,
    );
  }
}

/** What in the manifest contradicts its place, if anything. */
function placeProblem(manifest: Manifest, key: string): string | undefined {
  const place = parseManifestKey(key);
  if (!place) return "it is not at a manifest's place (<prefix><name>/<backup id>/manifest.json)";
  const keys = backupKeys(place.prefix, place.name, place.backupId);
  if (manifest.name !== place.name) return `it names database "${manifest.name}", its place "${place.name}"`;
  if (manifest.backupId !== place.backupId)
    return `it names backup ${manifest.backupId}, its place ${place.backupId}`;
  if (manifest.dump.key !== keys.dump) return `its dump.key is "${manifest.dump.key}", not "${keys.dump}"`;
  for (const [index, segment] of (manifest.dump.segments ?? []).entries()) {
    const expected = dumpSegmentKey(keys.dump, index);
    if (segment.key !== expected)
      return `its dump.segments[${index}].key is "${segment.key}", not "${expected}"`;
  }
  for (const [index, stream] of (manifest.dump.streams ?? []).entries()) {
    const expected = dataStreamKey(keys.folder, index + 1);
    if (stream.key !== expected)
      return `its dump.streams[${index}].key is "${stream.key}", not "${expected}"`;
    for (const [part, segment] of (stream.segments ?? []).entries()) {
      const expectedSegment = dumpSegmentKey(expected, part);
      if (segment.key !== expectedSegment)
        return `its dump.streams[${index}].segments[${part}].key is "${segment.key}", not "${expectedSegment}"`;
    }
  }
  if (manifest.globals && manifest.globals.key !== keys.globals) {
    return `its globals.key is "${manifest.globals.key}", not "${keys.globals}"`;
  }
  if (/=|^postgres(ql)?:\/\//i.test(manifest.database)) {
    return `its database "${manifest.database}" is not a plain name (libpq would read it as a connection string)`;
  }
  return undefined;
}

/** A manifest claims objects or a place other than its own. */
export class ManifestMismatchError extends PgproofError {
  constructor(message: string) {
    super(message);
    this.name = 'ManifestMismatchError';
  }
}
