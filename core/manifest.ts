import { z } from 'zod';
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

const objectRefSchema = z.object({
  key: z.string(),
  bytes: z.number().int().nonnegative(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
});

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
  dump: objectRefSchema.extend({ format: z.literal('custom'), compression: z.string() }),
  globals: objectRefSchema.nullable(),
  verify: verifyLevelSchema,
  tables: z.array(tableStatSchema),
  /** Session settings under which table hashes were computed; a verifier must use the same. */
  hashSettings: z.record(z.string(), z.string()).optional(),
});

/** A backup's manifest. */
export type Manifest = z.infer<typeof manifestSchema>;
/** One table's row count (and hash) in a manifest. */
export type TableStat = z.infer<typeof tableStatSchema>;

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
