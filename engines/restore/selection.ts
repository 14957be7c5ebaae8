import { mapLimited } from '../../core/concurrency.ts';
import { ConfigError } from '../../core/errors.ts';
import type { Manifest } from '../../core/manifest.ts';

/**
 * A selective restore's names. A table is `schema.table`, split at the first dot, or a bare `table`
 * (every schema); a part in double quotes is taken as it is, `""` standing for a quote, so that any name
 * PostgreSQL allows can be given: `"my.schema"."a ""b"" c"`. A comma is never special here (the runner's
 * lists take a JSON form for names with one, core/environment.ts); pg_restore gets each name as one
 * argument, which it matches exactly.
 */

/** One table of a selection. */
export interface TableSelection {
  /** Undefined: the table of that name in any schema. */
  readonly schema: string | undefined;
  readonly name: string;
}

/** Reads a part: `"quoted ""name"""` (up to its closing quote) or everything up to `stop`. */
function readPart(text: string, from: number, stop: string | undefined): { value: string; end: number } {
  if (text[from] !== '"') {
    const at = stop === undefined ? -1 : text.indexOf(stop, from);
    return { value: text.slice(from, at === -1 ? text.length : at), end: at === -1 ? text.length : at };
  }
  let value = '';
  for (let i = from + 1; i < text.length; i++) {
    if (text[i] !== '"') value += text[i];
    else if (text[i + 1] === '"') {
      value += '"';
      i++;
    } else return { value, end: i + 1 };
  }
  throw new ConfigError(
    `table ${text} has a double quote that is not closed; write "" for a quote inside one`,
  );
}

/** Parses one table of a selection (see the module's comment). */
export function parseTableSelection(text: string): TableSelection {
  const first = readPart(text, 0, '.');
  if (first.end === text.length) return { schema: undefined, name: first.value };
  if (text[first.end] !== '.') {
    throw new ConfigError(`table ${text} has text after its closing quote; write "schema"."table"`);
  }
  const second = readPart(text, first.end + 1, undefined);
  if (second.end !== text.length) {
    throw new ConfigError(`table ${text} has text after its closing quote; write "schema"."table"`);
  }
  return { schema: first.value, name: second.value };
}

/** The name the verification compares with the manifest's tables: `schema.table`, or a bare `table`. */
export function selectionName(table: TableSelection): string {
  return table.schema === undefined ? table.name : `${table.schema}.${table.name}`;
}

/**
 * Fails when a table or schema of the selection matches nothing in the archive, naming each such one
 * (in the words it was given with, e.g. `--table`), before anything is restored: a selection that
 * matched nothing would restore an empty database and pass. Each is listed with pg_restore itself
 * (`--list` takes the selection), so a name matches exactly as the restore will match it.
 */
export async function assertSelectionMatches(
  /** How many archive entries one table or one schema selects (`listSelected` in restore-tools.ts). */
  countSelected: (selection: { tables: string[]; schemas: string[] }) => Promise<number>,
  manifest: Manifest,
  selection: { readonly tables: readonly string[]; readonly schemas: readonly string[] },
  wording: { readonly tables: string; readonly schemas: string },
): Promise<void> {
  const probes = [
    ...selection.tables.map((table) => ({
      said: `${wording.tables} "${table}"`,
      tables: [table],
      schemas: [] as string[],
    })),
    ...selection.schemas.map((schema) => ({
      said: `${wording.schemas} "${schema}"`,
      tables: [] as string[],
      schemas: [schema],
    })),
  ];
  // Each listing reads only the archive's table of contents: milliseconds, a few at a time.
  const counts = await mapLimited(probes, 4, countSelected);
  const unmatched = probes.filter((_, i) => counts[i] === 0).map((p) => p.said);
  if (unmatched.length === 0) return;
  const known = manifest.tables.map((t) => `${t.schema}.${t.name}`);
  const some =
    known.length > 8 ? `${known.slice(0, 8).join(', ')} and ${known.length - 8} more` : known.join(', ');
  throw new ConfigError(
    `${unmatched.join(', ')} ${unmatched.length === 1 ? 'matches' : 'match'} nothing in backup ${manifest.backupId} of "${manifest.name}"; nothing was restored: check the names (exact, case included; schema.table)${known.length ? `: its tables are ${some}` : ''}`,
  );
}
