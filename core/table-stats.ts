import type { ClientBase } from 'pg';
import type { TableStat, VerifyLevel } from './manifest.ts';

/**
 * Row counts and order-independent content hashes of tables: taken by the backup runner inside the
 * dump's snapshot and again by the restore runner on the restored copy, with the same SQL and the
 * same session settings, so equal data gives equal numbers.
 */

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

/**
 * Measures one table: its exact row count and, for `checksums`, the sum of every row's 64-bit hash
 * (order-independent and streaming: no giant string is built).
 */
export async function measureTable(
  client: ClientBase,
  table: TableRef,
  level: VerifyLevel,
): Promise<TableStat> {
  const relation = `${quoteIdent(table.schema)}.${quoteIdent(table.name)}`;
  if (level === 'checksums') {
    const { rows } = await client.query<{ rows: string; hash: string }>(
      `SELECT count(*) AS rows, coalesce(sum(hashtextextended(t::text, 0)::numeric), 0)::text AS hash FROM ${relation} t`,
    );
    return {
      schema: table.schema,
      name: table.name,
      rows: Number(rows[0]?.rows),
      hash: rows[0]?.hash ?? '0',
    };
  }
  const { rows } = await client.query<{ rows: string }>(`SELECT count(*) AS rows FROM ${relation}`);
  return { schema: table.schema, name: table.name, rows: Number(rows[0]?.rows) };
}
