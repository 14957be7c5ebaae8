import { z } from 'zod';

/**
 * The inventory contract: what a restore must reproduce beyond the tables' rows, read from the catalogs in
 * the dump's own snapshot by the backup runner (engines/backup/inventory.ts) and compared after a restore
 * (engines/restore/inventory-checks.ts). Every list is sorted so that two inventories compare as text.
 * Values that could carry data never appear: sequence values are numbers, large objects a count and a
 * hash, everything else names and catalog facts.
 */

/** A name inside a schema. */
const qualified = { schema: z.string(), name: z.string() };

/**
 * A sequence's state when the dump began (sequences are not transactional: read just before pg_dump
 * reads them, so the dump's own value is this one or, on a busy database, beyond it).
 */
export const sequenceStateSchema = z.object({
  ...qualified,
  /** `last_value`, a decimal string (bigint). */
  lastValue: z.string().regex(/^-?\d+$/),
  isCalled: z.boolean(),
  /** Counts up (a positive increment). */
  ascending: z.boolean(),
});

/** A materialized view: populated or not, and its rows when populated. */
export const materializedViewSchema = z.object({
  ...qualified,
  populated: z.boolean(),
  rows: z.number().int().nonnegative().nullable(),
});

/** A table constraint (check, foreign key, unique, primary key, exclusion) and whether it was validated. */
export const constraintSchema = z.object({
  schema: z.string(),
  table: z.string(),
  name: z.string(),
  /** pg_constraint.contype: c, f, p, u, x, n (not-null, 18). */
  type: z.string(),
  validated: z.boolean(),
});

/** An object's owner and privileges (`aclitem[]` as text, sorted; null: the default privileges). */
export const ownedObjectSchema = z.object({
  /** schema, table, view, materialized view, sequence, foreign table, function, procedure, aggregate. */
  kind: z.string(),
  /** The schema; empty for a schema itself. */
  schema: z.string(),
  /** The name; a routine's with its argument types, e.g. `touch_audit()`. */
  name: z.string(),
  owner: z.string(),
  acl: z.array(z.string()).nullable(),
});

/** An extension and the version the source had. */
export const extensionSchema = z.object({
  name: z.string(),
  version: z.string(),
  schema: z.string(),
});

/** How many objects of one kind a schema holds: a missing object of any kind shows by its kind and schema. */
export const objectCountSchema = z.object({
  schema: z.string(),
  /** function, procedure, aggregate, view, materialized view, trigger, policy, type, domain, index, rule... */
  kind: z.string(),
  count: z.number().int().nonnegative(),
});

export const inventorySchema = z.object({
  sequences: z.array(sequenceStateSchema),
  largeObjects: z.object({
    count: z.number().int().nonnegative(),
    /** Order-independent hash of each large object's oid and contents, a decimal string. */
    hash: z.string(),
    /** How many large objects each owner has, with which privileges. */
    owners: z.array(
      z.object({ owner: z.string(), acl: z.array(z.string()).nullable(), count: z.number().int() }),
    ),
  }),
  materializedViews: z.array(materializedViewSchema),
  constraints: z.array(constraintSchema),
  owners: z.array(ownedObjectSchema),
  extensions: z.array(extensionSchema),
  /**
   * The source's `shared_preload_libraries` ('' when none); null when the backup role may not read it
   * (it needs pg_read_all_settings).
   */
  sharedPreloadLibraries: z.string().nullable(),
  objectCounts: z.array(objectCountSchema),
});

/** What a restore must reproduce besides the tables' rows. */
export type Inventory = z.infer<typeof inventorySchema>;
export type SequenceState = z.infer<typeof sequenceStateSchema>;
export type OwnedObject = z.infer<typeof ownedObjectSchema>;
export type ArchiveExtensionVersion = z.infer<typeof extensionSchema>;
