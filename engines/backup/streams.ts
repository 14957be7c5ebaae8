import type { TocEntry } from '../../core/archive-toc.ts';

/**
 * The parallel mode (`DUMP_STREAMS` > 1): one pg_dump stream is as fast as one server backend reads and
 * one zstd compresses, so a database of large tables is dumped by several pg_dump processes at once, all
 * in the one exported snapshot (the manifest's counts hold for every stream):
 *
 * - stream 0, `dump.pgdump`: the whole dump as a single stream would take it (the same schema and table
 *   patterns, every definition, large objects, the small tables' rows), less the rows of the tables given
 *   to the other streams (`--exclude-table-data`);
 * - stream n ≥ 1, `data-<n>.pgdump`: `pg_dump --section=data --table=<each of its tables>`.
 *
 * Tables of at least {@link STREAM_PLAN.minTableBytes} are shared out largest first, each to the stream
 * with the least bytes so far (stream 0 starts with every smaller table's), at most
 * {@link STREAM_PLAN.maxTablesPerStream} to a stream (each is a `--table` argument and a lock). A stream
 * is started only once stream 0's table of contents shows which of its tables the dump's own patterns
 * select, so the patterns are pg_dump's to apply, never re-implemented here. Restored with stock tools:
 * `pg_restore --section=pre-data dump.pgdump`, then `--section=data` of every archive (at once, if
 * wanted), then `--section=post-data dump.pgdump` (README "Restoring without pgproof").
 */

/** A table the planner may give to a stream, with its size on disk (`pg_table_size`). */
export interface StreamCandidate {
  readonly oid: number;
  readonly schema: string;
  readonly name: string;
  readonly bytes: number;
}

/** When a table is worth a stream of its own, and how many a stream takes. */
export const STREAM_PLAN = {
  /** Smaller tables stay in stream 0: their rows take less time than a pg_dump's start. */
  minTableBytes: 16 * 1024 * 1024,
  maxTablesPerStream: 1000,
} as const;

/**
 * The tables of each data stream (streams 1 to `streams` − 1), from the candidates (any order) and the
 * bytes of every table too small to be one (`restBytes`, stream 0's own load). Largest first, each to the
 * least loaded stream, stream 0 included; streams left empty are dropped.
 */
export function planStreams(
  candidates: readonly StreamCandidate[],
  restBytes: number,
  streams: number,
  limits: { readonly minTableBytes: number; readonly maxTablesPerStream: number } = STREAM_PLAN,
): StreamCandidate[][] {
  if (streams <= 1) return [];
  const loads = [restBytes, ...Array.from({ length: streams - 1 }, () => 0)];
  const bins: StreamCandidate[][] = Array.from({ length: streams }, () => []);
  const large = candidates.filter((t) => t.bytes >= limits.minTableBytes).sort((a, b) => b.bytes - a.bytes);
  for (const table of large) {
    let least = 0;
    for (let stream = 1; stream < streams; stream++) {
      const room = (bins[stream]?.length ?? 0) < limits.maxTablesPerStream;
      if (room && (loads[stream] ?? 0) < (loads[least] ?? 0)) least = stream;
    }
    bins[least]?.push(table);
    loads[least] = (loads[least] ?? 0) + table.bytes;
  }
  return bins.slice(1).filter((bin) => bin.length > 0);
}

/**
 * A data stream's tables that stream 0's table of contents has a `TABLE` entry for: the ones the dump's
 * patterns select. The rest are in no stream (and stream 0 holds none of their rows either: it dumps only
 * what its patterns select).
 */
export function selectedByDump(
  tables: readonly StreamCandidate[],
  toc: readonly TocEntry[],
): StreamCandidate[] {
  const dumped = new Set(toc.filter((e) => /^TABLE /.test(e.description)).map((e) => e.oid));
  return tables.filter((t) => dumped.has(t.oid));
}

/**
 * A table as a pg_dump pattern that matches it alone: schema and name each in double quotes (inside
 * which pg_dump takes `*`, `?`, `.` and regular-expression characters literally), a quote doubled.
 */
export function exactTablePattern(table: Pick<StreamCandidate, 'schema' | 'name'>): string {
  const quote = (identifier: string) => `"${identifier.replaceAll('"', '""')}"`;
  return `${quote(table.schema)}.${quote(table.name)}`;
}

/** Stream 0's arguments on top of a single stream's: without the rows the data streams dump. */
export function mainStreamArgs(
  singleStreamArgs: readonly string[],
  streams: readonly StreamCandidate[][],
): string[] {
  return [...singleStreamArgs, ...streams.flat().map((t) => `--exclude-table-data=${exactTablePattern(t)}`)];
}

/** A data stream's pg_dump arguments: the data of exactly its tables, in the snapshot, compressed alike. */
export function dataStreamArgs(
  snapshotId: string,
  compressionArg: string,
  tables: readonly StreamCandidate[],
): string[] {
  return [
    '--format=custom',
    compressionArg,
    `--snapshot=${snapshotId}`,
    '--no-password',
    '--section=data',
    ...tables.map((t) => `--table=${exactTablePattern(t)}`),
  ];
}
