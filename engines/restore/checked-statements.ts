import type pg from 'pg';

/**
 * Statements read from an archive's script that pgproof runs itself (owner changes, foreign-key drops):
 * each is matched against the one shape pg_dump writes for it, built of the identifiers below, and sent
 * alone. The same identifiers name the archive's objects in the restore's error messages.
 */

/** An SQL identifier as pg_dump writes one: plain, or in double quotes (`""` for a quote). Not capturing. */
export const IDENT = `(?:"(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_$]*)`;

/** An identifier's name: the quotes taken off (and `""` made `"`), a plain one as it is. */
export function unquote(identifier: string): string {
  return identifier.startsWith('"') ? identifier.slice(1, -1).replaceAll('""', '"') : identifier;
}

/**
 * Runs one statement with the extended protocol, whose single Parse message refuses a second statement:
 * whatever a checked line holds, no more than one statement runs.
 */
export async function runAlone(client: pg.ClientBase, sql: string): Promise<void> {
  // @types/pg lacks `queryMode`; pg 8 honours it.
  await client.query({ text: sql, queryMode: 'extended' } as pg.QueryConfig);
}
