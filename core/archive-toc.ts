/**
 * Reading `pg_restore --list` output: the archive's table of contents. The backup runner learns
 * from it exactly which tables pg_dump dumped data for; `verify` checks an archive is readable.
 */

/** One line of a `pg_restore --list` listing. */
export interface TocEntry {
  readonly dumpId: number;
  readonly tableOid: number;
  readonly oid: number;
  /** The rest of the line: `TABLE DATA public orders postgres`. */
  readonly description: string;
}

const ENTRY = /^(\d+); (\d+) (\d+) (.+)$/;

/** One line of a listing: its entry, or undefined for a comment (`;` ...) or anything else. */
export function parseTocLine(line: string): TocEntry | undefined {
  const m = ENTRY.exec(line);
  if (!m) return undefined;
  return { dumpId: Number(m[1]), tableOid: Number(m[2]), oid: Number(m[3]), description: m[4] ?? '' };
}

/** Parses the entries of a listing, skipping comments. */
export function parseTocListing(listing: string): TocEntry[] {
  return listing
    .split('\n')
    .map(parseTocLine)
    .filter((entry) => entry !== undefined);
}

/** OIDs of the tables whose data the archive holds (`TABLE DATA` entries name their table's OID). */
export function tableDataOids(entries: readonly TocEntry[]): number[] {
  return entries.filter((e) => e.description.startsWith('TABLE DATA ')).map((e) => e.oid);
}
