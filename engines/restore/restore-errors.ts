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

/** Where an error belongs in the archive: its entry's type, schema and name. */
export interface ArchivePlace {
  /** pg_dump's type of entry: `INDEX`, `TABLE DATA`, `FK CONSTRAINT`... */
  readonly type: string;
  /** Undefined for objects outside a schema (an extension, a large object, a schema itself). */
  readonly schema: string | undefined;
  /** The entry's name: a table-level object's is `<table> <object>`, as pg_dump tags it. */
  readonly name: string;
}

/** pg_dump's types of archive entries (`desc`), longest first so that `TABLE DATA` wins over `TABLE`. */
const ENTRY_TYPES = [
  'ACCESS METHOD',
  'ACL',
  'AGGREGATE',
  'BLOB',
  'BLOB METADATA',
  'BLOBS',
  'CAST',
  'CHECK CONSTRAINT',
  'COLLATION',
  'COMMENT',
  'CONSTRAINT',
  'CONVERSION',
  'DATABASE',
  'DATABASE PROPERTIES',
  'DEFAULT',
  'DEFAULT ACL',
  'DOMAIN',
  'ENCODING',
  'EVENT TRIGGER',
  'EXTENSION',
  'FK CONSTRAINT',
  'FOREIGN DATA WRAPPER',
  'FOREIGN SERVER',
  'FOREIGN TABLE',
  'FUNCTION',
  'INDEX',
  'INDEX ATTACH',
  'LARGE OBJECT',
  'MATERIALIZED VIEW',
  'MATERIALIZED VIEW DATA',
  'OPERATOR',
  'OPERATOR CLASS',
  'OPERATOR FAMILY',
  'POLICY',
  'PROCEDURAL LANGUAGE',
  'PROCEDURE',
  'PUBLICATION',
  'PUBLICATION TABLE',
  'PUBLICATION TABLES IN SCHEMA',
  'ROW SECURITY',
  'RULE',
  'SCHEMA',
  'SEARCHPATH',
  'SECURITY LABEL',
  'SEQUENCE',
  'SEQUENCE OWNED BY',
  'SEQUENCE SET',
  'SERVER',
  'SHELL TYPE',
  'STATISTICS',
  'STATISTICS DATA',
  'STDSTRINGS',
  'SUBSCRIPTION',
  'SUBSCRIPTION TABLE',
  'TABLE',
  'TABLE ATTACH',
  'TABLE DATA',
  'TEXT SEARCH CONFIGURATION',
  'TEXT SEARCH DICTIONARY',
  'TEXT SEARCH PARSER',
  'TEXT SEARCH TEMPLATE',
  'TRANSFORM',
  'TRIGGER',
  'TYPE',
  'USER MAPPING',
  'VIEW',
].sort((a, b) => b.length - a.length);

/** Entry types whose name pg_dump writes as `<table> <object>`: shown as `<object> ON <schema>.<table>`. */
const ON_TABLE = new Set([
  'CONSTRAINT',
  'CHECK CONSTRAINT',
  'FK CONSTRAINT',
  'TRIGGER',
  'POLICY',
  'RULE',
  'DEFAULT',
]);

/**
 * Reads an entry of `pg_restore --list` (`3201; 1259 16420 INDEX public orders_total_idx postgres`):
 * type, schema (`-` for none), name, owner. Names with spaces are read as pg_restore prints them: the
 * schema is the first word after the type, the owner the last.
 */
export function parseListingEntry(line: string): ({ dumpId: number } & ArchivePlace) | undefined {
  const entry = /^(\d+); \d+ \d+ (.*)$/.exec(line);
  if (!entry?.[1] || entry[2] === undefined) return undefined;
  const rest = entry[2];
  const type = ENTRY_TYPES.find((t) => rest.startsWith(`${t} `));
  if (!type) return undefined;
  const words = rest.slice(type.length + 1).split(' ');
  if (words.length < 3) return undefined;
  const schema = words[0] === '-' ? undefined : words[0];
  return { dumpId: Number(entry[1]), type, schema, name: words.slice(1, -1).join(' ') };
}

/** An archive place as a person reads it: `INDEX public.orders_total_idx`, `CONSTRAINT orders_pkey ON public.orders`. */
export function formatPlace(place: ArchivePlace): string {
  const qualify = (name: string) => (place.schema === undefined ? name : `${place.schema}.${name}`);
  const [table, object, ...more] = place.name.split(' ');
  if (ON_TABLE.has(place.type) && table && object && more.length === 0) {
    return `${place.type} ${object} ON ${qualify(table)}`;
  }
  return `${place.type} ${qualify(place.name)}`;
}

const IDENT = '("(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_$]*)';
const unquote = (identifier: string) =>
  identifier.startsWith('"') ? identifier.slice(1, -1).replaceAll('""', '"') : identifier;

/**
 * The statements pg_dump writes for each kind of entry, and which of their identifiers are the place:
 * pg_restore's parallel workers print the failed command but no `from TOC entry` line.
 */
const COMMAND_PLACES: readonly { pattern: RegExp; place: (m: string[]) => ArchivePlace }[] = [
  {
    pattern: new RegExp(`^CREATE (?:UNIQUE )?INDEX ${IDENT} ON (?:ONLY )?${IDENT}\\.${IDENT}`),
    place: ([, index = '', schema = '']) => ({
      type: 'INDEX',
      schema: unquote(schema),
      name: unquote(index),
    }),
  },
  {
    pattern: new RegExp(
      `^ALTER TABLE (?:ONLY )?${IDENT}\\.${IDENT}\\s+ADD CONSTRAINT ${IDENT} (FOREIGN KEY)?`,
    ),
    place: ([, schema = '', table = '', name = '', foreign]) => ({
      type: foreign ? 'FK CONSTRAINT' : 'CONSTRAINT',
      schema: unquote(schema),
      name: `${unquote(table)} ${unquote(name)}`,
    }),
  },
  {
    pattern: new RegExp(`^CREATE (?:CONSTRAINT )?TRIGGER ${IDENT} [\\s\\S]*? ON ${IDENT}\\.${IDENT}`),
    place: ([, name = '', schema = '', table = '']) => ({
      type: 'TRIGGER',
      schema: unquote(schema),
      name: `${unquote(table)} ${unquote(name)}`,
    }),
  },
  {
    pattern: new RegExp(`^CREATE POLICY ${IDENT} ON ${IDENT}\\.${IDENT}`),
    place: ([, name = '', schema = '', table = '']) => ({
      type: 'POLICY',
      schema: unquote(schema),
      name: `${unquote(table)} ${unquote(name)}`,
    }),
  },
  {
    pattern: new RegExp(`^REFRESH MATERIALIZED VIEW ${IDENT}\\.${IDENT}`),
    place: ([, schema = '', name = '']) => ({
      type: 'MATERIALIZED VIEW DATA',
      schema: unquote(schema),
      name: unquote(name),
    }),
  },
  {
    pattern: new RegExp(
      `^CREATE (?:OR REPLACE )?(TABLE|VIEW|MATERIALIZED VIEW|SEQUENCE|FUNCTION|PROCEDURE|AGGREGATE|TYPE|DOMAIN) ${IDENT}\\.${IDENT}`,
    ),
    place: ([, type = '', schema = '', name = '']) => ({
      type,
      schema: unquote(schema),
      name: unquote(name),
    }),
  },
  {
    pattern: new RegExp(`^COPY ${IDENT}\\.${IDENT}`),
    place: ([, schema = '', name = '']) => ({
      type: 'TABLE DATA',
      schema: unquote(schema),
      name: unquote(name),
    }),
  },
];

/** The place a failed command names, for an error pg_restore printed without its TOC entry. */
export function placeOfCommand(command: string | undefined): ArchivePlace | undefined {
  for (const { pattern, place } of COMMAND_PLACES) {
    const match = pattern.exec(command?.trim() ?? '');
    if (match) return place([...match]);
  }
  return undefined;
}

/**
 * The archive entry an error of pg_restore belongs to, from its `from TOC entry <dumpId>; ...` (looked up
 * in the archive's `listing`); for a parallel worker's error, which has none, from the failed command's
 * shape, or for its failed COPY, the table's data entry of that name (when only one schema has one).
 */
export function archivePlace(error: ReportedError, listing: readonly string[]): ArchivePlace | undefined {
  const entries = listing.map(parseListingEntry).filter((e) => e !== undefined);
  const dumpId = /^(\d+);/.exec(error.entry ?? '')?.[1];
  if (dumpId !== undefined) {
    const found = entries.find((e) => e.dumpId === Number(dumpId));
    if (found) return { type: found.type, schema: found.schema, name: found.name };
    return parseListingEntry(error.entry ?? '');
  }
  const table = /^TABLE DATA "(.*)"$/.exec(error.entry ?? '')?.[1];
  if (table === undefined) return placeOfCommand(error.command);
  const data = entries.filter((e) => e.type === 'TABLE DATA' && e.name === table);
  return data.length === 1 && data[0]
    ? { type: 'TABLE DATA', schema: data[0].schema, name: table }
    : { type: 'TABLE DATA', schema: undefined, name: table };
}

/**
 * A failing error of pg_restore as one line that starts with its place in the archive:
 * `INDEX public.orders_total_idx failed: function public.net(numeric) does not exist`. An error with no
 * archive entry (a refused connection) is its message alone.
 */
export function describeRestoreFailure(error: ReportedError, listing: readonly string[]): string {
  const place = archivePlace(error, listing);
  return place ? `${formatPlace(place)} failed: ${error.message}` : describeReportedError(error);
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
  const ignored = new Map<string, IgnoredRestoreError>();
  const failing: ReportedError[] = [];
  for (const error of errors) {
    const rule = rules.find((r) => r.applies(error, context));
    if (!rule) {
      failing.push(error);
      continue;
    }
    const key = `${error.step}\n${rule.id}\n${error.message}`;
    const seen = ignored.get(key);
    ignored.set(key, {
      step: error.step,
      rule: rule.id,
      reason: rule.reason,
      message: error.message,
      count: (seen?.count ?? 0) + 1,
      ...(error.entry ? { entry: seen?.entry ?? error.entry } : {}),
    });
  }
  return { ignored: [...ignored.values()], failing };
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
