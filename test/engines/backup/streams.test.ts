import { describe, expect, it } from 'vitest';
import { parseTocListing } from '../../../core/archive-toc.ts';
import {
  dataStreamArgs,
  exactTablePattern,
  mainStreamArgs,
  planStreams,
  type StreamCandidate,
  selectedByDump,
} from '../../../engines/backup/streams.ts';

const MiB = 1024 * 1024;
let nextOid = 16_384;
const table = (name: string, mib: number, schema = 'public'): StreamCandidate => ({
  oid: nextOid++,
  schema,
  name,
  bytes: mib * MiB,
});
const names = (bins: StreamCandidate[][]) => bins.map((bin) => bin.map((t) => t.name));

describe('sharing the large tables out to data streams', () => {
  it('gives each table, largest first, to the stream with the fewest bytes, stream 0 starting with the small ones', () => {
    const tables = [table('a', 100), table('b', 90), table('c', 60), table('d', 50), table('e', 40)];
    // Stream 0 holds 30 MiB of small tables: a (100) → 1, b (90) → 2, c (60) → 0 (30 → 90), d (50) → 0
    // (a tie at 90 stays in stream 0: one process fewer), e (40) → 2 (90 against 140 and 100).
    expect(names(planStreams(tables, 30 * MiB, 3))).toEqual([['a'], ['b', 'e']]);
  });

  it('keeps every table in stream 0 with one stream, and tables under the threshold always', () => {
    expect(planStreams([table('a', 500)], 0, 1)).toEqual([]);
    expect(planStreams([table('small', 15), table('smaller', 1)], 0, 4)).toEqual([]);
    expect(names(planStreams([table('a', 16), table('b', 15.9)], 5 * MiB, 4))).toEqual([['a']]);
    // One large table and nothing else: a stream of its own would gain nothing.
    expect(planStreams([table('alone', 900)], 0, 4)).toEqual([]);
  });

  it('splits eight equal tables evenly between two streams, four each', () => {
    const eight = Array.from({ length: 8 }, (_, i) => table(`t${i}`, 125));
    const [stream1 = []] = planStreams(eight, 0, 2);
    // Stream 0 keeps the other four: their rows are excluded from it by the plan's tables.
    expect(stream1).toHaveLength(4);
  });

  it('gives no stream more tables than its limit (each is an argument and a lock): the rest stay in stream 0', () => {
    const many = Array.from({ length: 30 }, (_, i) => table(`t${i}`, 20));
    const bins = planStreams(many, 0, 3, { minTableBytes: 16 * MiB, maxTablesPerStream: 4 });
    expect(bins.map((bin) => bin.length)).toEqual([4, 4]);
  });

  it('drops the tables the dump does not select, as its table of contents shows', () => {
    const kept = table('kept', 100);
    const excluded = table('excluded', 100);
    const toc = parseTocListing(
      [
        ';',
        `215; 1259 ${kept.oid} TABLE public kept postgres`,
        `3366; 0 ${kept.oid} TABLE DATA public kept postgres`,
        `216; 1259 ${excluded.oid + 1000} TABLE public other postgres`,
      ].join('\n'),
    );
    expect(selectedByDump([kept, excluded], toc)).toEqual([kept]);
  });
});

describe("the data streams' pg_dump arguments", () => {
  it('quotes schema and name so that pg_dump matches that table alone, whatever its characters', () => {
    expect(exactTablePattern({ schema: 'sales', name: 'Big "Quoted" *.Name' })).toBe(
      '"sales"."Big ""Quoted"" *.Name"',
    );
  });

  it("dumps a stream's tables' data only, in the snapshot, and leaves their rows out of stream 0", () => {
    const a = table('a', 100);
    const b = table('b', 100, 'Sales');
    expect(dataStreamArgs('00000003-0000001B-1', '--compress=zstd:1', [a, b])).toEqual([
      '--format=custom',
      '--compress=zstd:1',
      '--snapshot=00000003-0000001B-1',
      '--no-password',
      '--section=data',
      '--table="public"."a"',
      '--table="Sales"."b"',
    ]);
    expect(mainStreamArgs(['--format=custom', '--exclude-table=x'], [[a], [b]])).toEqual([
      '--format=custom',
      '--exclude-table=x',
      '--exclude-table-data="public"."a"',
      '--exclude-table-data="Sales"."b"',
    ]);
  });
});
