import { parseTocLine } from '../../core/archive-toc.ts';
import { IDENT, unquote } from './checked-statements.ts';
import { describeReportedError, type ReportedError } from './restore-errors.ts';

/**
 * Where a failed restore step belongs in the archive, so that a person reads "INDEX
 * public.orders_total_idx failed: ..." rather than a TOC line or a count: the entry's type, schema and
 * name, from the archive's listing (`pg_restore --list`), or from the shape of the command that failed
 * when pg_restore printed no entry (its parallel workers do not).
 */

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
  const entry = parseTocLine(line);
  if (!entry) return undefined;
  const rest = entry.description;
  const type = ENTRY_TYPES.find((t) => rest.startsWith(`${t} `));
  if (!type) return undefined;
  const words = rest.slice(type.length + 1).split(' ');
  if (words.length < 3) return undefined;
  const schema = words[0] === '-' ? undefined : words[0];
  return { dumpId: entry.dumpId, type, schema, name: words.slice(1, -1).join(' ') };
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

/** A captured identifier. */
const NAME = `(${IDENT})`;

/**
 * The statements pg_dump writes for each kind of entry, and which of their identifiers are the place:
 * pg_restore's parallel workers print the failed command but no `from TOC entry` line.
 */
const COMMAND_PLACES: readonly { pattern: RegExp; place: (m: string[]) => ArchivePlace }[] = [
  {
    pattern: new RegExp(`^CREATE (?:UNIQUE )?INDEX ${NAME} ON (?:ONLY )?${NAME}\\.${NAME}`),
    place: ([, index = '', schema = '']) => ({
      type: 'INDEX',
      schema: unquote(schema),
      name: unquote(index),
    }),
  },
  {
    pattern: new RegExp(`^ALTER TABLE (?:ONLY )?${NAME}\\.${NAME}\\s+ADD CONSTRAINT ${NAME} (FOREIGN KEY)?`),
    place: ([, schema = '', table = '', name = '', foreign]) => ({
      type: foreign ? 'FK CONSTRAINT' : 'CONSTRAINT',
      schema: unquote(schema),
      name: `${unquote(table)} ${unquote(name)}`,
    }),
  },
  {
    pattern: new RegExp(`^CREATE (?:CONSTRAINT )?TRIGGER ${NAME} [\\s\\S]*? ON ${NAME}\\.${NAME}`),
    place: ([, name = '', schema = '', table = '']) => ({
      type: 'TRIGGER',
      schema: unquote(schema),
      name: `${unquote(table)} ${unquote(name)}`,
    }),
  },
  {
    pattern: new RegExp(`^CREATE POLICY ${NAME} ON ${NAME}\\.${NAME}`),
    place: ([, name = '', schema = '', table = '']) => ({
      type: 'POLICY',
      schema: unquote(schema),
      name: `${unquote(table)} ${unquote(name)}`,
    }),
  },
  {
    pattern: new RegExp(`^REFRESH MATERIALIZED VIEW ${NAME}\\.${NAME}`),
    place: ([, schema = '', name = '']) => ({
      type: 'MATERIALIZED VIEW DATA',
      schema: unquote(schema),
      name: unquote(name),
    }),
  },
  {
    pattern: new RegExp(
      `^CREATE (?:OR REPLACE )?(TABLE|VIEW|MATERIALIZED VIEW|SEQUENCE|FUNCTION|PROCEDURE|AGGREGATE|TYPE|DOMAIN) ${NAME}\\.${NAME}`,
    ),
    place: ([, type = '', schema = '', name = '']) => ({
      type,
      schema: unquote(schema),
      name: unquote(name),
    }),
  },
  {
    pattern: new RegExp(`^COPY ${NAME}\\.${NAME}`),
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
