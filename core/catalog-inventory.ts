import type { ClientBase } from 'pg';
import type { Inventory, SequenceState } from './inventory.ts';
import { quoteIdent } from './table-stats.ts';

/**
 * Reading an {@link Inventory} from a database's catalogs: by the backup runner in the dump's snapshot,
 * and by the restore runner on the restored copy, with the same SQL so that equal databases give equal
 * inventories. Objects of extensions and of PostgreSQL's own schemas are left out: the extension's script
 * makes them, not the archive. Catalog queries only, except a sequence's state and each large object's
 * contents (hashed in the server); the cost is a few queries whatever the database's size.
 */

/** A user's schema: not PostgreSQL's own (pg_catalog, information_schema, pg_toast, pg_temp_N...). */
const USER_SCHEMA = (alias: string) =>
  `${alias}.nspname NOT IN ('pg_catalog', 'information_schema') AND ${alias}.nspname NOT LIKE 'pg\\_%'`;
/** Not a member of an extension. */
const NOT_EXTENSION_MEMBER = (catalog: string, oid: string) =>
  `NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = '${catalog}'::regclass AND d.objid = ${oid} AND d.deptype = 'e')`;
/**
 * An `aclitem[]` as sorted text items; no ACL (the default privileges) as the default spelled out, since
 * a restore may write the same privileges explicitly. `type`: acldefault's object type, an SQL expression.
 */
const SORTED_ACL = (acl: string, type: string, owner: string) =>
  `(SELECT array_agg(a::text ORDER BY a::text) FROM unnest(coalesce(${acl}, acldefault(${type}, ${owner}))) a)`;

/** A relation kind as the inventory names it. */
const RELATION_KIND = `CASE c.relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'table' WHEN 'v' THEN 'view'
  WHEN 'm' THEN 'materialized view' WHEN 'S' THEN 'sequence' WHEN 'f' THEN 'foreign table' WHEN 'i' THEN 'index'
  WHEN 'I' THEN 'index' END`;
/** A routine kind as the inventory names it. */
const ROUTINE_KIND = `CASE p.prokind WHEN 'f' THEN 'function' WHEN 'p' THEN 'procedure' WHEN 'a' THEN 'aggregate'
  ELSE 'window function' END`;

/** Sequences read per query (one `UNION ALL` of their states). */
const SEQUENCES_PER_QUERY = 500;

/**
 * The inventory of the database `client` is connected to, in its current snapshot; `sequences` when they
 * were read earlier ({@link readSequences}: the backup reads them before pg_dump starts).
 */
export async function readInventory(client: ClientBase, sequences?: SequenceState[]): Promise<Inventory> {
  sequences ??= await readSequences(client);
  const largeObjects = await client.query<{ count: number; hash: string }>(
    `SELECT count(*)::int AS count,
            coalesce(sum(hashtextextended(m.oid::text || ':' || md5(lo_get(m.oid)), 0)::numeric), 0)::text AS hash
     FROM pg_largeobject_metadata m`,
  );
  const largeObjectOwners = await client.query<{ owner: string; acl: string[] | null; count: number }>(
    `SELECT pg_get_userbyid(m.lomowner) AS owner, ${SORTED_ACL('m.lomacl', "'L'", 'm.lomowner')} AS acl, count(*)::int AS count
     FROM pg_largeobject_metadata m GROUP BY 1, 2 ORDER BY 1, 2::text`,
  );
  const views = await client.query<{ schema: string; name: string; populated: boolean }>(
    `SELECT n.nspname AS schema, c.relname AS name, c.relispopulated AS populated
     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.relkind = 'm' AND ${USER_SCHEMA('n')} AND ${NOT_EXTENSION_MEMBER('pg_class', 'c.oid')}
     ORDER BY 1, 2`,
  );
  const materializedViews = [];
  for (const view of views.rows) {
    let rows: number | null = null;
    if (view.populated) {
      const counted = await client.query<{ n: string }>(
        `SELECT count(*) AS n FROM ${quoteIdent(view.schema)}.${quoteIdent(view.name)}`,
      );
      rows = Number(counted.rows[0]?.n);
    }
    materializedViews.push({ ...view, rows });
  }
  const constraints = await client.query<Inventory['constraints'][number]>(
    `SELECT n.nspname AS schema, t.relname AS "table", con.conname AS name, con.contype::text AS type,
            con.convalidated AS validated
     FROM pg_constraint con JOIN pg_class t ON t.oid = con.conrelid JOIN pg_namespace n ON n.oid = t.relnamespace
     WHERE ${USER_SCHEMA('n')} AND ${NOT_EXTENSION_MEMBER('pg_class', 't.oid')}
     ORDER BY 1, 2, 3`,
  );
  const owners = await client.query<Inventory['owners'][number]>(
    `SELECT * FROM (
       SELECT 'schema' AS kind, '' AS schema, n.nspname AS name, pg_get_userbyid(n.nspowner) AS owner,
              ${SORTED_ACL('n.nspacl', "'n'", 'n.nspowner')} AS acl
       FROM pg_namespace n WHERE ${USER_SCHEMA('n')} AND ${NOT_EXTENSION_MEMBER('pg_namespace', 'n.oid')}
       UNION ALL
       SELECT ${RELATION_KIND}, n.nspname, c.relname, pg_get_userbyid(c.relowner), ${SORTED_ACL('c.relacl', `(CASE WHEN c.relkind = 'S' THEN 's' ELSE 'r' END)::"char"`, 'c.relowner')}
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') AND ${USER_SCHEMA('n')}
         AND ${NOT_EXTENSION_MEMBER('pg_class', 'c.oid')}
       UNION ALL
       SELECT ${ROUTINE_KIND}, n.nspname, p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')',
              pg_get_userbyid(p.proowner), ${SORTED_ACL('p.proacl', "'f'", 'p.proowner')}
       FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
       WHERE ${USER_SCHEMA('n')} AND ${NOT_EXTENSION_MEMBER('pg_proc', 'p.oid')}
     ) o ORDER BY kind, schema, name`,
  );
  const extensions = await client.query<Inventory['extensions'][number]>(
    `SELECT e.extname AS name, e.extversion AS version, n.nspname AS schema
     FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace ORDER BY 1`,
  );
  const objectCounts = await client.query<Inventory['objectCounts'][number]>(
    `SELECT schema, kind, count(*)::int AS count FROM (
       SELECT n.nspname AS schema, ${RELATION_KIND} AS kind
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f', 'i', 'I') AND ${USER_SCHEMA('n')}
         AND ${NOT_EXTENSION_MEMBER('pg_class', 'c.oid')}
       UNION ALL
       SELECT n.nspname, ${ROUTINE_KIND}
       FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
       WHERE ${USER_SCHEMA('n')} AND ${NOT_EXTENSION_MEMBER('pg_proc', 'p.oid')}
       UNION ALL
       SELECT n.nspname, 'trigger'
       FROM pg_trigger tg JOIN pg_class c ON c.oid = tg.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE NOT tg.tgisinternal AND ${USER_SCHEMA('n')} AND ${NOT_EXTENSION_MEMBER('pg_class', 'c.oid')}
       UNION ALL
       SELECT n.nspname, 'policy'
       FROM pg_policy pol JOIN pg_class c ON c.oid = pol.polrelid JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE ${USER_SCHEMA('n')}
       UNION ALL
       SELECT n.nspname, 'rule'
       FROM pg_rewrite r JOIN pg_class c ON c.oid = r.ev_class JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE r.rulename <> '_RETURN' AND ${USER_SCHEMA('n')}
       UNION ALL
       SELECT n.nspname, CASE t.typtype WHEN 'e' THEN 'enum type' WHEN 'r' THEN 'range type'
                                        WHEN 'd' THEN 'domain' ELSE 'composite type' END
       FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
       WHERE (t.typtype IN ('e', 'r', 'd')
              OR (t.typtype = 'c' AND (SELECT c.relkind FROM pg_class c WHERE c.oid = t.typrelid) = 'c'))
         AND ${USER_SCHEMA('n')} AND ${NOT_EXTENSION_MEMBER('pg_type', 't.oid')}
       UNION ALL
       SELECT n.nspname, 'statistics object'
       FROM pg_statistic_ext s JOIN pg_namespace n ON n.oid = s.stxnamespace WHERE ${USER_SCHEMA('n')}
     ) o GROUP BY 1, 2 ORDER BY 1, 2`,
  );
  return {
    sequences,
    largeObjects: {
      count: largeObjects.rows[0]?.count ?? 0,
      hash: largeObjects.rows[0]?.hash ?? '0',
      owners: largeObjectOwners.rows,
    },
    materializedViews,
    constraints: constraints.rows,
    owners: owners.rows,
    extensions: extensions.rows,
    sharedPreloadLibraries: await readSharedPreloadLibraries(client),
    objectCounts: objectCounts.rows,
  };
}

/**
 * The server's `shared_preload_libraries`, or null when the role may not read it (it needs superuser or
 * pg_read_all_settings; `current_setting` would fail, pg_settings leaves the row out).
 */
export async function readSharedPreloadLibraries(client: ClientBase): Promise<string | null> {
  const { rows } = await client.query<{ libraries: string }>(
    "SELECT setting AS libraries FROM pg_settings WHERE name = 'shared_preload_libraries'",
  );
  return rows[0]?.libraries ?? null;
}

/**
 * Every sequence's `last_value` and `is_called`, read from the sequences themselves. Sequences are not
 * transactional: this reads their state now, whatever the snapshot.
 */
export async function readSequences(client: ClientBase): Promise<SequenceState[]> {
  const { rows: names } = await client.query<{ schema: string; name: string; ascending: boolean }>(
    `SELECT n.nspname AS schema, c.relname AS name, sq.seqincrement > 0 AS ascending
     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_sequence sq ON sq.seqrelid = c.oid
     WHERE c.relkind = 'S' AND ${USER_SCHEMA('n')} AND ${NOT_EXTENSION_MEMBER('pg_class', 'c.oid')}
     ORDER BY 1, 2`,
  );
  const states: SequenceState[] = [];
  for (let start = 0; start < names.length; start += SEQUENCES_PER_QUERY) {
    const batch = names.slice(start, start + SEQUENCES_PER_QUERY);
    const sql = batch
      .map(
        (s, i) =>
          `SELECT ${i} AS i, last_value::text AS last_value, is_called FROM ${quoteIdent(s.schema)}.${quoteIdent(s.name)}`,
      )
      .join(' UNION ALL ');
    const { rows } = await client.query<{ i: number; last_value: string; is_called: boolean }>(sql);
    for (const row of rows.sort((a, b) => a.i - b.i)) {
      const name = batch[row.i];
      if (name) {
        states.push({
          schema: name.schema,
          name: name.name,
          lastValue: row.last_value,
          isCalled: row.is_called,
          ascending: name.ascending,
        });
      }
    }
  }
  return states;
}

/** A sequence a column owns (serial, identity) whose next value is not beyond the column's maximum. */
export interface SequenceBehind {
  readonly sequence: string;
  readonly column: string;
  readonly nextValue: string;
  readonly maximum: string;
}

/**
 * Sequences behind their column: the first insert would collide with an existing row. Holds without the
 * source's inventory (an older manifest), on the restored copy alone. Ascending sequences of integer
 * columns only.
 */
export async function sequencesBehindTheirColumns(client: ClientBase): Promise<SequenceBehind[]> {
  const { rows: owned } = await client.query<{
    seq_schema: string;
    seq: string;
    schema: string;
    table: string;
    column: string;
  }>(
    `SELECT sn.nspname AS seq_schema, s.relname AS seq, tn.nspname AS schema, t.relname AS "table", a.attname AS "column"
     FROM pg_depend d
     JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S'
     JOIN pg_sequence sq ON sq.seqrelid = s.oid AND sq.seqincrement > 0
     JOIN pg_namespace sn ON sn.oid = s.relnamespace
     JOIN pg_class t ON t.oid = d.refobjid AND t.relkind IN ('r', 'p')
     JOIN pg_namespace tn ON tn.oid = t.relnamespace
     JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = d.refobjsubid
     WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
       AND a.atttypid IN ('int2'::regtype, 'int4'::regtype, 'int8'::regtype) AND ${USER_SCHEMA('sn')}
     ORDER BY 1, 2`,
  );
  const behind: SequenceBehind[] = [];
  for (const o of owned) {
    const sequence = `${quoteIdent(o.seq_schema)}.${quoteIdent(o.seq)}`;
    const { rows } = await client.query<{ next: string; maximum: string | null }>(
      `SELECT (SELECT CASE WHEN is_called THEN last_value + 1 ELSE last_value END FROM ${sequence})::text AS next,
              (SELECT max(${quoteIdent(o.column)}) FROM ${quoteIdent(o.schema)}.${quoteIdent(o.table)})::text AS maximum`,
    );
    const row = rows[0];
    if (row?.maximum != null && BigInt(row.next) <= BigInt(row.maximum)) {
      behind.push({
        sequence: `${o.seq_schema}.${o.seq}`,
        column: `${o.schema}.${o.table}.${o.column}`,
        nextValue: row.next,
        maximum: row.maximum,
      });
    }
  }
  return behind;
}

/** Indexes the restore left invalid (a failed CREATE INDEX leaves none; a failed concurrent build does). */
export async function invalidIndexes(client: ClientBase): Promise<string[]> {
  const { rows } = await client.query<{ name: string }>(
    `SELECT n.nspname || '.' || c.relname AS name
     FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE NOT (i.indisvalid AND i.indisready) AND ${USER_SCHEMA('n')} ORDER BY 1`,
  );
  return rows.map((r) => r.name);
}
