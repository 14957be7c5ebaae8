import type { IgnoredRestoreError } from '../../core/drill-report.ts';

/**
 * Which errors of a restore are benign: the one place that decides. pg_restore goes on after an error
 * and reports it, and globals.sql is applied statement by statement (globals.ts); most such errors mean data or objects were lost and must fail the drill.
 * A few are expected consequences of running a newer client against an older server, or of restoring
 * into a server that has its own roles. Each such case is a rule below with its reason and an exact
 * condition; an error no rule accepts fails the restore, and every accepted one is listed in the report
 * as ignored, with the rule's reason. The README's "Benign restore errors" table mirrors these rules.
 */

/** One error pg_restore reported, or one statement of globals.sql failed with. */
export interface ReportedError {
  /** `globals` (globals.sql's statements) or `restore` (pg_restore). */
  readonly step: 'globals' | 'restore';
  /** The server's message, e.g. `unrecognized configuration parameter "transaction_timeout"`. */
  readonly message: string;
  /** The SQLSTATE, when known (a globals statement's error has it; pg_restore does not print it). */
  readonly sqlState: string | undefined;
  /** The SQL that failed: pg_restore's "Command was:", or the globals.sql statement. */
  readonly command: string | undefined;
  /** Where it came from: pg_restore's TOC entry (`214; 1259 16385 TABLE t app`) or `globals.sql:12`. */
  readonly entry: string | undefined;
}

/** What a rule may look at besides the error itself. */
export interface RestoreContext {
  /** The target server's major version. */
  readonly targetMajor: number;
  /** The major version of pg_restore. */
  readonly clientMajor: number;
}

/** A case of error known to be benign. */
export interface BenignRule {
  readonly id: string;
  /** Why it loses nothing, in one line (goes into the report). */
  readonly reason: string;
  readonly applies: (error: ReportedError, context: RestoreContext) => boolean;
}

/** The benign cases, each with its exact condition. */
export const BENIGN_RULES: readonly BenignRule[] = [
  {
    id: 'transaction-timeout-before-17',
    reason:
      'pg_restore 17 and newer run "SET transaction_timeout = 0" on each connection to turn the timeout off; servers before 17 have no such setting, so there is no timeout to turn off',
    applies: (error, context) =>
      error.step === 'restore' &&
      context.targetMajor < 17 &&
      context.clientMajor >= 17 &&
      error.command?.trim() === 'SET transaction_timeout = 0;' &&
      error.message.includes('"transaction_timeout"'),
  },
  {
    id: 'role-already-exists',
    reason:
      "globals.sql creates every role of the source; a role the target already has (its own superuser at least) is kept as it is, and the backup's ALTER ROLE and COMMENT ON ROLE for it are skipped",
    applies: (error) =>
      error.step === 'globals' &&
      (error.sqlState === undefined || error.sqlState === '42710') &&
      /^role ".+" already exists$/.test(error.message) &&
      /^CREATE ROLE \S+;$/.test(error.command?.trim() ?? ''),
  },
  {
    id: 'owner-not-given',
    reason:
      'the restoring user may not give this object to its owner (it is neither a superuser nor a member of the owner, or the owner may not create in its schema, as with an RDS master user): the object and its data restored, owned by the restoring user',
    applies: (error) =>
      error.step === 'restore' &&
      /^ALTER [A-Z ]+ .+ OWNER TO ("(?:[^"]|"")+"|\S+);$/.test(error.command?.trim() ?? '') &&
      /^(must be able to SET ROLE "|must be member of role "|permission denied for schema )/.test(
        error.message,
      ),
  },
];

/** A failing error as one line: the message, and where it came from when known. */
export function describeReportedError(error: ReportedError): string {
  return error.entry ? `${error.message} (${error.entry})` : error.message;
}

/** The errors of one step, split into the ignored (with their reasons) and the failing. */
export interface ClassifiedErrors {
  readonly ignored: readonly IgnoredRestoreError[];
  readonly failing: readonly ReportedError[];
}

/** Decides each error by the rules; identical ignored errors are counted once. */
export function classifyErrors(
  errors: readonly ReportedError[],
  context: RestoreContext,
  rules: readonly BenignRule[] = BENIGN_RULES,
): ClassifiedErrors {
  const ignored: IgnoredRestoreError[] = [];
  const failing: ReportedError[] = [];
  for (const error of errors) {
    const rule = rules.find((r) => r.applies(error, context));
    if (!rule) failing.push(error);
    else {
      ignored.push({
        step: error.step,
        rule: rule.id,
        reason: rule.reason,
        message: error.message,
        count: 1,
        ...(error.entry ? { entry: error.entry } : {}),
      });
    }
  }
  return { ignored: mergeIgnored(ignored), failing };
}

/**
 * Ignored errors counted once per step, rule and message (the first archive entry named is kept): one
 * step's list, or several steps' (pg_restore's sections) put together.
 */
export function mergeIgnored(errors: readonly IgnoredRestoreError[]): IgnoredRestoreError[] {
  const merged = new Map<string, IgnoredRestoreError>();
  for (const error of errors) {
    const key = `${error.step}\n${error.rule}\n${error.message}`;
    const seen = merged.get(key);
    const entry = seen?.entry ?? error.entry;
    merged.set(key, {
      ...(seen ?? error),
      count: (seen?.count ?? 0) + error.count,
      ...(entry ? { entry } : {}),
    });
  }
  return [...merged.values()];
}

/**
 * pg_restore's messages as its processes write them. With `-j N` several processes write to one stderr,
 * and each message goes out in pieces (`pg_restore:`, ` `, `error: `, then the text in one write), so the
 * pieces of two messages interleave (`pg_restore: pg_restore:error:  could not execute ...`). The text of
 * a message is one write and stays whole: these patterns find those texts wherever they stand.
 */
const MESSAGE =
  /could not execute query: ([\s\S]*?)\nCommand was: ([^\n]*)(?:\n|$)|from TOC entry ([^\n]*)(?:\n|$)|while [A-Z ]+:(?:\n|$)|errors ignored on restore: \d+(?:\n|$)|COPY failed for table "([^"\n]*)": ERROR:\s+([^\n]*)(?:\n|$)/;
/** The pieces a message's prefix is written in. */
const PREFIX_PIECES = /pg_restore:|error: |warning: |detail: |hint: /;

/**
 * The errors in pg_restore's stderr. A failed query is `could not execute query: ERROR:  <message>`
 * (then DETAIL/HINT lines) and `Command was: <command>` (a command over several lines is continued up to
 * its closing `;`); a table's data that failed to load is `COPY failed for table "<name>": ERROR:  <message>`
 * (then DETAIL/HINT/CONTEXT lines); `from TOC entry ...` before it names the archive entry it came from. Whatever is left
 * once these and the prefix pieces are taken out is an error nothing here understood (a refused
 * connection, an unreadable archive): each such line is returned as an error of its own, so that an
 * unforeseen message can never pass for a benign one.
 */
export function parsePgRestoreErrors(stderr: string): ReportedError[] {
  const errors: ReportedError[] = [];
  let entry: string | undefined;
  let leftover = '';
  let last = 0;
  const messages = new RegExp(MESSAGE.source, 'g');
  for (let match = messages.exec(stderr); match; match = messages.exec(stderr)) {
    let end = match.index + match[0].length;
    leftover += stderr.slice(last, match.index);
    if (match[2] !== undefined) {
      const command = [match[2]];
      // A command over several lines goes on until its closing semicolon (or the next message).
      while (!command.at(-1)?.trimEnd().endsWith(';') && end < stderr.length) {
        const next = stderr.indexOf('\n', end);
        const line = stderr.slice(end, next === -1 ? undefined : next);
        if (PREFIX_PIECES.test(line) || MESSAGE.test(line)) break;
        command.push(line);
        end = next === -1 ? stderr.length : next + 1;
      }
      messages.lastIndex = end;
      const text = match[1] ?? '';
      errors.push({
        step: 'restore',
        message: (/ERROR:\s+([^\n]*)/.exec(text)?.[1] ?? text.split('\n')[0] ?? text).trim(),
        sqlState: undefined,
        command: command.join('\n').trim(),
        entry,
      });
    } else if (match[5] !== undefined) {
      // The server's DETAIL, HINT and CONTEXT lines follow; CONTEXT quotes the row that failed, and a
      // report never carries restored data: they are passed over.
      while (end < stderr.length) {
        const next = stderr.indexOf('\n', end);
        const line = stderr.slice(end, next === -1 ? undefined : next);
        if (PREFIX_PIECES.test(line) || MESSAGE.test(line)) break;
        end = next === -1 ? stderr.length : next + 1;
      }
      messages.lastIndex = end;
      errors.push({
        step: 'restore',
        message: match[5].trim(),
        sqlState: undefined,
        command: `COPY ${match[4]}`,
        // A parallel worker names no TOC entry before it: the table's name is the place.
        entry: entry ?? `TABLE DATA "${match[4]}"`,
      });
    } else if (match[3] !== undefined) entry = match[3].trim();
    else if (match[0].startsWith('while ')) entry = undefined;
    last = end;
  }
  leftover += stderr.slice(last);
  for (const line of leftover.replace(new RegExp(PREFIX_PIECES.source, 'g'), '').split('\n')) {
    if (!line.trim()) continue;
    errors.push({ step: 'restore', message: line.trim(), sqlState: undefined, command: undefined, entry });
  }
  return errors;
}
