import { join } from 'node:path';
import { type PgCluster, startPostgres, systemBinDir } from '../test/support/postgres.ts';
import { startProcess } from '../test/support/processes.ts';
import type { DataSetKind } from './options.ts';

/**
 * The benchmark's data sets: pgbench's tables at a given scale plus `public.wide_rows` (wide text and
 * bytea rows, stored uncompressed so the size on disk is what pg_dump reads), one database per scale
 * in one cluster. With `reuse` the cluster lives in `.bench-data/postgres` and a data set already built
 * there is used as it is.
 */

/** Where `--reuse` keeps the cluster (gitignored). */
export const BENCH_DATA_DIR = '.bench-data';

/** One data set, ready to dump. */
export interface DataSet {
  readonly kind: DataSetKind;
  readonly scale: number;
  /** How the results name it: `scale 55`, `8 tables, scale 55`, `10,000 tables`. */
  readonly label: string;
  /** What it holds, one sentence for RESULTS.md. */
  readonly description: string;
  readonly database: string;
  /** `pg_database_size`: the throughput figures divide this by the time. */
  readonly bytes: number;
  /**
   * `pg_table_size` of its tables together (rows and TOAST, no indexes: what pg_dump reads) and of the
   * largest: the stream model's data (model.ts).
   */
  readonly tableBytes: number;
  readonly largestTableBytes: number;
  /** Its tables, and the rows of them all. */
  readonly tables: number;
  readonly rows: number;
  /** True when an earlier run had built it. */
  readonly reused: boolean;
  /** Seconds spent building it (0 when reused). */
  readonly buildSeconds: number;
}

/**
 * The cluster the data sets live in (throwaway unless `reuse`). pg_dump locks every table it dumps in
 * one transaction: the lock table must hold the many-tables set's.
 */
export function startBenchCluster(reuse: boolean): Promise<PgCluster> {
  return startPostgres({
    ...(reuse ? { directory: join(process.cwd(), BENCH_DATA_DIR, 'postgres') } : {}),
    settings: { max_locks_per_transaction: '512' },
  });
}

/** Wide rows per pgbench scale unit: with pgbench's ~15 MB per unit, about a sixth of the data. */
const WIDE_ROWS_PER_SCALE = 1_000;
/** Marks a data set as complete: set last, checked before reusing. */
const completeMark = (scale: number) => `pgproof bench data set: pgbench scale ${scale}, wide rows, complete`;

/** Builds (or reuses) the data set of `kind` and `scale` in `cluster`. */
export async function prepareDataSet(
  cluster: PgCluster,
  kind: DataSetKind,
  scale: number,
  log: (line: string) => void,
): Promise<DataSet> {
  // The pgbench set keeps the name runs before the other kinds gave it (so --reuse finds it).
  const database = kind === 'pgbench' ? `bench_s${scale}` : `bench_${kind.replace('-', '_')}_s${scale}`;
  const shape = SHAPES[kind](scale);
  const mark = `pgproof bench data set: ${shape.label}, complete`;
  const [existing] = await cluster.query<{ comment: string | null }>(
    'postgres',
    `SELECT shobj_description(oid, 'pg_database') AS comment FROM pg_database WHERE datname = $1`,
    [database],
  );
  const reused =
    existing?.comment === mark || (kind === 'pgbench' && existing?.comment === completeMark(scale));
  const started = Date.now();
  if (!reused) {
    log(`building data set ${database} (${shape.label})`);
    await cluster.createDatabase(database);
    await shape.build(cluster, database);
    await cluster.query(database, 'VACUUM ANALYZE');
    await cluster.query('postgres', `COMMENT ON DATABASE "${database}" IS '${mark}'`);
  } else log(`reusing data set ${database}`);
  const [size] = await cluster.query<{
    bytes: string;
    table_bytes: string;
    largest_table_bytes: string;
    tables: string;
    rows: string;
  }>(
    database,
    `SELECT pg_database_size(current_database()) AS bytes,
            (SELECT coalesce(sum(pg_table_size(relid)), 0) FROM pg_stat_user_tables) AS table_bytes,
            (SELECT coalesce(max(pg_table_size(relid)), 0) FROM pg_stat_user_tables) AS largest_table_bytes,
            (SELECT count(*) FROM pg_stat_user_tables) AS tables,
            (SELECT coalesce(sum(n_live_tup), 0) FROM pg_stat_user_tables) AS rows`,
  );
  const tables = Number(size?.tables);
  const rows = Number(size?.rows);
  return {
    kind,
    scale,
    label: shape.label,
    description: describeDataSet(kind, scale, tables, rows),
    database,
    bytes: Number(size?.bytes),
    tableBytes: Number(size?.table_bytes),
    largestTableBytes: Number(size?.largest_table_bytes),
    tables,
    rows,
    reused,
    buildSeconds: reused ? 0 : (Date.now() - started) / 1000,
  };
}

/** One sentence on a data set of `kind` and `scale` with `tables` tables of `rows` rows, for RESULTS.md. */
export function describeDataSet(kind: DataSetKind, scale: number, tables: number, rows: number): string {
  return SHAPES[kind](scale).describe(tables, rows);
}

interface Shape {
  readonly label: string;
  build(cluster: PgCluster, database: string): Promise<void>;
  describe(tables: number, rows: number): string;
}

/** Rows of the eight-tables set per scale unit and table: about pgbench's 15 MB per unit in all. */
const EIGHT_TABLE_ROWS_PER_SCALE = 12_500;

const SHAPES: Record<DataSetKind, (scale: number) => Shape> = {
  pgbench: (scale) => ({
    label: `scale ${scale}`,
    build: (cluster, database) => buildPgbench(cluster, database, scale),
    describe: (_tables, rows) =>
      `pgbench scale ${scale} (${(scale * 100_000).toLocaleString('en')} accounts) plus ${(scale * WIDE_ROWS_PER_SCALE).toLocaleString('en')} wide text and bytea rows, ${rows.toLocaleString('en')} rows in all`,
  }),
  'eight-tables': (scale) => ({
    label: `8 tables, scale ${scale}`,
    async build(cluster, database) {
      for (let t = 1; t <= 8; t++) {
        await cluster.query(
          database,
          `CREATE TABLE public.part_${t} (id bigint PRIMARY KEY, account int NOT NULL, amount numeric(12, 2), note text);
           INSERT INTO public.part_${t}
             SELECT g, (g * 7919) % 100000, (g % 100000) / 100.0, repeat(md5(g::text), 3) || ' ' || g
             FROM generate_series(1::bigint, ${scale * EIGHT_TABLE_ROWS_PER_SCALE}) g;`,
        );
      }
    },
    // Rows as generated: the statistics' live-row counts are estimates on a large table.
    describe: (tables) =>
      `${tables} equal tables of ${(scale * EIGHT_TABLE_ROWS_PER_SCALE).toLocaleString('en')} rows each (a bigint key, an int, a numeric and ~100 bytes of text): work parallel streams can split`,
  }),
  'many-tables': (scale) => ({
    label: `${(scale * 1000).toLocaleString('en')} tables`,
    async build(cluster, database) {
      // Five hundred to a transaction: one that created them all would run out of lock slots itself.
      for (let first = 1; first <= scale * 1000; first += 500) {
        await cluster.query(
          database,
          `DO $$ BEGIN FOR i IN ${first}..${first + 499} LOOP
             EXECUTE format('CREATE TABLE public.t%s (id int PRIMARY KEY, v text)', i);
             EXECUTE format('INSERT INTO public.t%s VALUES (1, ''one''), (2, ''two'')', i);
           END LOOP; END $$`,
        );
      }
    },
    describe: (tables, rows) =>
      `${tables.toLocaleString('en')} tables of ${Math.round(rows / Math.max(1, tables))} rows each, with a primary key: what costs per table (catalog reads, locks, one statement each), not per byte`,
  }),
};

/** pgbench's tables at `scale` plus `public.wide_rows`. */
async function buildPgbench(cluster: PgCluster, database: string, scale: number): Promise<void> {
  // Server-side generation (G): several times faster than pgbench's client-side COPY.
  const pgbench = await startProcess(
    join(systemBinDir(), 'pgbench'),
    ['--initialize', `--scale=${scale}`, '--init-steps=dtGvp', '--quiet'],
    cluster.env(database),
  ).result;
  if (pgbench.code !== 0) throw new Error(`pgbench --initialize failed: ${pgbench.stderr.trim()}`);
  await cluster.query(
    database,
    `CREATE TABLE public.wide_rows (id int PRIMARY KEY, title text NOT NULL, body text, payload bytea);
     -- No TOAST compression: the table's size on disk is the data pg_dump reads and compresses.
     ALTER TABLE public.wide_rows ALTER COLUMN body SET STORAGE EXTERNAL, ALTER COLUMN payload SET STORAGE EXTERNAL;
     INSERT INTO public.wide_rows
       SELECT g, 'row ' || g || ' of the wide table',
              -- ~1.3 kB of text that compresses as prose does, ~1 kB of bytea that does not compress.
              repeat(md5(g::text) || ' lorem ipsum ', 28),
              (SELECT string_agg(sha512((g * 16 + i)::text::bytea), ''::bytea) FROM generate_series(1, 16) i)
       FROM generate_series(1, ${scale * WIDE_ROWS_PER_SCALE}) g;`,
  );
}
