import type pg from 'pg';
import type { RestoreCheck, RestoredTable } from '../../core/drill-report.ts';
import { oneLine } from '../../core/errors.ts';
import type { TableStat } from '../../core/manifest.ts';
import { applyHashSettings, measureTable } from '../../core/table-stats.ts';
import type { SqlCheck } from './settings.ts';

/**
 * Verifying a restored database: every table's row count (and content hash, when the manifest has
 * one) against the manifest, measured with the same SQL and session settings the backup runner used
 * in the dump's snapshot; then the database's own SQL checks.
 */

/** The table checks and the per-table figures of a report. */
export interface TableVerification {
  readonly checks: RestoreCheck[];
  readonly tables: RestoredTable[];
}

/** `schema.table` as a check's name. */
export function tableName(table: { schema: string; name: string }): string {
  return `${table.schema}.${table.name}`;
}

/**
 * Whether a manifest table is part of a selective restore: `tables` entries are `schema.table` or a
 * bare `table`; `schemas` entries select whole schemas. Nothing selected means everything.
 */
export function isSelected(
  table: { schema: string; name: string },
  selection: { readonly tables: readonly string[]; readonly schemas: readonly string[] },
): boolean {
  if (selection.tables.length === 0 && selection.schemas.length === 0) return true;
  if (selection.tables.length > 0) {
    return selection.tables.some((t) => t === tableName(table) || t === table.name);
  }
  return selection.schemas.includes(table.schema);
}

/**
 * Compares each expected table with the restored database. `clients` are connections to the target
 * (one table at a time each): counting big tables in parallel shortens the drill.
 */
export async function verifyTables(
  clients: readonly pg.Client[],
  expected: readonly TableStat[],
  hashSettings?: Readonly<Record<string, string>>,
): Promise<TableVerification> {
  for (const client of clients) {
    await applyHashSettings(client);
    // The manifest records the settings its hashes were taken under; use exactly those.
    for (const [name, value] of Object.entries(hashSettings ?? {})) {
      await client.query('SELECT set_config($1, $2, false)', [name, value]);
    }
  }
  const results: { check: RestoreCheck; table: RestoredTable }[] = new Array(expected.length);
  let next = 0;
  const worker = async (client: pg.Client) => {
    while (next < expected.length) {
      const index = next++;
      const table = expected[index];
      if (table) results[index] = await verifyTable(client, table);
    }
  };
  await Promise.all(clients.slice(0, Math.max(1, expected.length)).map(worker));
  return { checks: results.map((r) => r.check), tables: results.map((r) => r.table) };
}

async function verifyTable(
  client: pg.Client,
  expected: TableStat,
): Promise<{ check: RestoreCheck; table: RestoredTable }> {
  const name = tableName(expected);
  let actual: TableStat;
  try {
    actual = await measureTable(client, expected, expected.hash === undefined ? 'counts' : 'checksums');
  } catch (error) {
    const missing = (error as { code?: string }).code === '42P01';
    return {
      check: {
        name,
        kind: 'table',
        passed: false,
        detail: missing
          ? `missing from the restored database; the manifest has ${expected.rows} rows`
          : `cannot be read: ${oneLine(error)}`,
      },
      table: { schema: expected.schema, name: expected.name, expectedRows: expected.rows, rows: null },
    };
  }
  const hashMatched = expected.hash === undefined ? undefined : actual.hash === expected.hash;
  const countMatched = actual.rows === expected.rows;
  const problems = [
    countMatched ? undefined : `${actual.rows} rows, the manifest has ${expected.rows}`,
    hashMatched === false ? `content hash ${actual.hash}, the manifest has ${expected.hash}` : undefined,
  ].filter(Boolean);
  return {
    check: {
      name,
      kind: 'table',
      passed: problems.length === 0,
      detail:
        problems.length === 0
          ? `${actual.rows} rows${hashMatched ? ' and content hash' : ''} as in the manifest`
          : problems.join('; '),
    },
    table: {
      schema: expected.schema,
      name: expected.name,
      expectedRows: expected.rows,
      rows: actual.rows,
      ...(hashMatched === undefined ? {} : { hashMatched }),
    },
  };
}

/**
 * Runs the database's own checks, each in a read-only transaction that is rolled back: a check can
 * neither change the restored data nor affect the next one. A check passes when it returns one row
 * whose first column is true.
 */
export async function runSqlChecks(client: pg.Client, checks: readonly SqlCheck[]): Promise<RestoreCheck[]> {
  const results: RestoreCheck[] = [];
  for (const check of checks) {
    results.push({ name: check.name, kind: 'sql', ...(await runSqlCheck(client, check.sql)) });
  }
  return results;
}

/**
 * A check's verdict from its first column. The detail never quotes a value other than true, false or NULL:
 * reports go to S3 and to the notification topic, and the restored data is not theirs to carry.
 */
function judgeCheckValue(value: unknown): { passed: boolean; detail: string } {
  if (value === true) return { passed: true, detail: 'returned true' };
  if (value === false) return { passed: false, detail: 'returned false, expected true' };
  if (value === null || value === undefined) return { passed: false, detail: 'returned NULL, expected true' };
  return {
    passed: false,
    detail: `returned a ${typeof value} value (not shown), expected true; the check's first column must be a boolean`,
  };
}

async function runSqlCheck(client: pg.Client, sql: string): Promise<{ passed: boolean; detail: string }> {
  try {
    await client.query('BEGIN READ ONLY');
    const result = await client.query({ text: sql, rowMode: 'array' });
    const rows = result.rows as unknown[][];
    if (rows.length !== 1)
      return { passed: false, detail: `returned ${rows.length} rows, expected one row with true` };
    return judgeCheckValue(rows[0]?.[0]);
  } catch (error) {
    return { passed: false, detail: `failed: ${oneLine(error)}` };
  } finally {
    await client.query('ROLLBACK').catch(() => {});
  }
}
