import type pg from 'pg';
import type { IgnoredRestoreError } from '../../core/drill-report.ts';
import {
  classifyErrors,
  describeReportedError,
  type ReportedError,
  type RestoreContext,
} from './restore-errors.ts';

/**
 * globals.sql applied as SQL statements, never as a psql script: a backup is untrusted input, and psql
 * runs meta-commands (`\!` runs a shell). Only what `pg_dumpall --globals-only` writes is accepted: role
 * and tablespace statements, the session SETs at its top, comments, and its `\restrict`/`\unrestrict`
 * guard lines (skipped). Anything else fails the globals check naming its line, before any statement
 * runs. A role the target already has is kept as it is: the backup's ALTER ROLE and COMMENT ON ROLE for
 * it are skipped and reported, so a restore never changes someone's existing roles.
 */

/** One statement of globals.sql and the line it starts on. */
export interface GlobalsStatement {
  readonly line: number;
  readonly sql: string;
}

/** A line of globals.sql that is not what pg_dumpall writes. */
export interface RejectedLine {
  readonly line: number;
  readonly text: string;
  readonly reason: string;
}

/** The statements pg_dumpall writes for globals (PostgreSQL 13 to 18). */
const ACCEPTED = [
  /^SET [a-z_]+ (=|TO) /i,
  /^CREATE ROLE /i,
  /^ALTER ROLE /i,
  /^COMMENT ON ROLE /i,
  /^GRANT .+ TO /is,
  /^CREATE TABLESPACE /i,
  /^ALTER TABLESPACE /i,
  /^COMMENT ON TABLESPACE /i,
  /^SECURITY LABEL FOR \S+ ON (ROLE|TABLESPACE) /i,
];
/** Role settings that load code into every session of the role: never taken from a backup. */
const LOADS_CODE = /\bSET\s+"?(session_preload_libraries|local_preload_libraries)"?\b/i;
/** The only meta-commands pg_dumpall writes: a guard against the script being run as something else. */
const GUARD_LINE = /^\\(restrict|unrestrict) [A-Za-z0-9]+\s*$/;

/** Why a statement is not accepted, or undefined when it is. */
function statementProblem(sql: string): string | undefined {
  if (!ACCEPTED.some((pattern) => pattern.test(sql))) return 'not a role or tablespace statement';
  if (/^GRANT /i.test(sql) && / ON (?!TABLESPACE |PARAMETER )/i.test(sql)) {
    return 'a grant on something other than a tablespace or parameter';
  }
  if (LOADS_CODE.test(sql)) return 'a role setting that loads libraries into its sessions';
  return undefined;
}

/**
 * Splits globals.sql into statements (`;` outside quotes and comments ends one) and rejects every line
 * that is neither a comment, a guard line nor part of an accepted statement.
 */
export function parseGlobals(text: string): { statements: GlobalsStatement[]; rejected: RejectedLine[] } {
  const statements: GlobalsStatement[] = [];
  const rejected: RejectedLine[] = [];
  let current = '';
  let start = 0;
  let quote: "'" | '"' | undefined;
  const lines = text.split('\n');
  lines.forEach((raw, index) => {
    const line = index + 1;
    if (!quote && current.trim() === '') {
      const trimmed = raw.trim();
      if (trimmed.startsWith('\\')) {
        if (!GUARD_LINE.test(trimmed)) rejected.push({ line, text: trimmed, reason: 'a psql meta-command' });
        return;
      }
    }
    for (let i = 0; i < raw.length; i++) {
      const char = raw[i] as string;
      if (quote) {
        current += char;
        if (char === quote) quote = undefined;
        continue;
      }
      if (char === '-' && raw[i + 1] === '-') break;
      if (current.trim() === '' && char.trim() !== '') start = line;
      current += char;
      if (char === "'" || char === '"') quote = char;
      else if (char === ';') {
        const sql = current.trim();
        const problem = statementProblem(sql);
        if (problem) rejected.push({ line: start, text: sql, reason: problem });
        else statements.push({ line: start, sql });
        current = '';
      }
    }
    current += '\n';
  });
  if (current.trim() !== '') {
    rejected.push({ line: start, text: current.trim(), reason: 'a statement without its closing ";"' });
  }
  return { statements, rejected };
}

/** The role a statement about one role names (`ALTER ROLE "app" WITH ...` -> `app`). */
function roleOf(sql: string): string | undefined {
  const m = /^(?:CREATE|ALTER) ROLE ("(?:[^"]|"")+"|[^\s;]+)|^COMMENT ON ROLE ("(?:[^"]|"")+"|[^\s;]+)/i.exec(
    sql,
  );
  const name = m?.[1] ?? m?.[2];
  if (name === undefined) return undefined;
  return name.startsWith('"') ? name.slice(1, -1).replaceAll('""', '"') : name.toLowerCase();
}

/** How applying globals.sql went. */
export interface GlobalsResult {
  readonly passed: boolean;
  /** Roles the target already had: kept as they were. */
  readonly keptRoles: readonly string[];
  /** Roles globals.sql created. */
  readonly createdRoles: readonly string[];
  /** Statements not run because they would have changed a kept role. */
  readonly skipped: readonly GlobalsStatement[];
  readonly ignored: readonly IgnoredRestoreError[];
  /** Rejected lines and failing statements, each naming its line. */
  readonly errors: readonly string[];
}

/**
 * Applies globals.sql to the target, statement by statement, on `client`. Nothing runs when any line is
 * rejected. Errors are decided by the benign rules (restore-errors.ts); any other fails the check.
 */
export async function applyGlobals(
  client: pg.Client,
  text: string,
  context: RestoreContext,
): Promise<GlobalsResult> {
  const { statements, rejected } = parseGlobals(text);
  if (rejected.length > 0) {
    return {
      passed: false,
      keptRoles: [],
      createdRoles: [],
      skipped: [],
      ignored: [],
      errors: rejected.map(
        (r) =>
          `globals.sql:${r.line} is ${r.reason}, which pg_dumpall never writes; nothing of globals.sql was applied: ${r.text.slice(0, 120)}`,
      ),
    };
  }
  const keptRoles = new Set<string>();
  const createdRoles: string[] = [];
  const skipped: GlobalsStatement[] = [];
  const reported: ReportedError[] = [];
  for (const statement of statements) {
    const role = roleOf(statement.sql);
    if (role !== undefined && keptRoles.has(role) && !/^CREATE /i.test(statement.sql)) {
      skipped.push(statement);
      continue;
    }
    try {
      await client.query(statement.sql);
      if (role !== undefined && /^CREATE ROLE /i.test(statement.sql)) createdRoles.push(role);
    } catch (error) {
      const code =
        error instanceof Error && 'code' in error && typeof error.code === 'string' ? error.code : undefined;
      if (code === '42710' && role !== undefined && /^CREATE ROLE /i.test(statement.sql)) keptRoles.add(role);
      reported.push({
        step: 'globals',
        message: error instanceof Error ? error.message : String(error),
        sqlState: code,
        command: statement.sql,
        entry: `globals.sql:${statement.line}`,
      });
    }
  }
  const { ignored, failing } = classifyErrors(reported, context);
  return {
    passed: failing.length === 0,
    keptRoles: [...keptRoles],
    createdRoles,
    skipped,
    ignored,
    errors: failing.map(describeReportedError),
  };
}
