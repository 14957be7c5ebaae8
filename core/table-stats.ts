import type { ClientBase } from 'pg';
import type { TableStat, VerifyLevel } from './manifest.ts';

/**
 * Row counts and order-independent content hashes of tables: taken by the backup runner inside the
 * dump's snapshot and again by the restore runner on the restored copy, with the same SQL and the
 * same session settings, so equal data gives equal numbers.
 */

/**
 * Tables under `smallTableBytes` are measured (and analyzed after a restore) `tablesPerStatement` to a
 * statement: for a database of thousands of small tables the round trips, not the rows, are the cost.
 */
export const SMALL_TABLE_BATCHES = { smallTableBytes: 1024 * 1024, tablesPerStatement: 50 } as const;

/** The work of measuring (or analyzing): each large table alone, the small ones in batches; the largest first. */
export function batchSmallTables<T extends { readonly bytes: number }>(
  tables: readonly T[],
  batching: { readonly smallTableBytes: number; readonly tablesPerStatement: number } = SMALL_TABLE_BATCHES,
): T[][] {
  const bySize = [...tables].sort((a, b) => b.bytes - a.bytes);
  const large = bySize.filter((t) => t.bytes >= batching.smallTableBytes).map((t) => [t]);
  const small = bySize.filter((t) => t.bytes < batching.smallTableBytes);
  const batches: T[][] = [];
  for (let start = 0; start < small.length; start += batching.tablesPerStatement) {
    batches.push(small.slice(start, start + batching.tablesPerStatement));
  }
  return [...large, ...batches];
}

/**
 * `t::text` depends on these settings; both sides set them before hashing (and the manifest records them),
 * so a server with other defaults (a scratch image's, another major's) gives the same text: time zone,
 * date and interval styles, bytea's and floats' output, `money` (lc_monetary), and identifiers' quoting.
 * Not search_path, although reg* types print names by it: planning `count(*)` inlines a SQL function of an
 * index expression, which may name tables unqualified (the session's default path must stay).
 */
export const HASH_SESSION_SETTINGS: Readonly<Record<string, string>> = {
  TimeZone: 'UTC',
  DateStyle: 'ISO, YMD',
  IntervalStyle: 'postgres',
  bytea_output: 'hex',
  extra_float_digits: '1',
  lc_monetary: 'C',
  quote_all_identifiers: 'off',
};

/** A table to measure. */
export interface TableRef {
  readonly schema: string;
  readonly name: string;
}

/** Quotes an SQL identifier. */
export function quoteIdent(identifier: string): string {
  return `"${identifier.replaceAll('"', '""')}"`;
}

/** Applies {@link HASH_SESSION_SETTINGS} to a session. */
export async function applyHashSettings(client: ClientBase): Promise<void> {
  for (const [name, value] of Object.entries(HASH_SESSION_SETTINGS)) {
    await client.query('SELECT set_config($1, $2, false)', [name, value]);
  }
}

/** The SQL that measures one table (its row count and, for `checksums`, its content hash), as row `index`. */
function measureSql(table: TableRef, level: VerifyLevel, index = 0): string {
  const relation = `${quoteIdent(table.schema)}.${quoteIdent(table.name)}`;
  return level === 'checksums'
    ? `SELECT ${index} AS i, count(*) AS rows, coalesce(sum(hashtextextended(t::text, 0)::numeric), 0)::text AS hash FROM ${relation} t`
    : `SELECT ${index} AS i, count(*) AS rows, NULL::text AS hash FROM ${relation}`;
}

/**
 * Measures one table: its exact row count and, for `checksums`, the sum of every row's 64-bit hash
 * (order-independent and streaming: no giant string is built).
 */
export async function measureTable(
  client: ClientBase,
  table: TableRef,
  level: VerifyLevel,
): Promise<TableStat> {
  const [stat] = await measureTables(client, [table], level);
  if (!stat) throw new Error(`no count was returned for ${table.schema}.${table.name}`);
  return stat;
}

/**
 * Measures several tables in one statement (one round trip: what many small tables cost is their
 * round trips, not their rows), each exactly as {@link measureTable} does; in the order given.
 */
export async function measureTables(
  client: ClientBase,
  tables: readonly TableRef[],
  level: VerifyLevel,
): Promise<TableStat[]> {
  if (tables.length === 0) return [];
  const { rows } = await client.query<{ i: number; rows: string; hash: string | null }>(
    tables.map((table, index) => measureSql(table, level, index)).join('\nUNION ALL\n'),
  );
  const byIndex = new Map(rows.map((row) => [Number(row.i), row]));
  return tables.map((table, index) => {
    const row = byIndex.get(index);
    return {
      schema: table.schema,
      name: table.name,
      rows: Number(row?.rows),
      ...(level === 'checksums' ? { hash: row?.hash ?? '0' } : {}),
    };
  });
}
