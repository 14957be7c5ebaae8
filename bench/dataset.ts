import { join } from 'node:path';
import { type PgCluster, startPostgres, systemBinDir } from '../test/support/postgres.ts';
import { startProcess } from '../test/support/processes.ts';

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
  readonly scale: number;
  readonly database: string;
  /** `pg_database_size`: the throughput figures divide this by the time. */
  readonly bytes: number;
  /** Rows of pgbench_accounts and of wide_rows. */
  readonly rows: { readonly accounts: number; readonly wide: number };
  /** True when an earlier run had built it. */
  readonly reused: boolean;
  /** Seconds spent building it (0 when reused). */
  readonly buildSeconds: number;
}

/** The cluster the data sets live in (throwaway unless `reuse`). */
export function startBenchCluster(reuse: boolean): Promise<PgCluster> {
  return startPostgres(reuse ? { directory: join(process.cwd(), BENCH_DATA_DIR, 'postgres') } : {});
}

/** Wide rows per pgbench scale unit: with pgbench's ~15 MB per unit, about a sixth of the data. */
const WIDE_ROWS_PER_SCALE = 1_000;
/** Marks a data set as complete: set last, checked before reusing. */
const completeMark = (scale: number) => `pgproof bench data set: pgbench scale ${scale}, wide rows, complete`;

/** Builds (or reuses) the data set of `scale` in `cluster`. */
export async function prepareDataSet(
  cluster: PgCluster,
  scale: number,
  log: (line: string) => void,
): Promise<DataSet> {
  const database = `bench_s${scale}`;
  const [existing] = await cluster.query<{ comment: string | null }>(
    'postgres',
    `SELECT shobj_description(oid, 'pg_database') AS comment FROM pg_database WHERE datname = $1`,
    [database],
  );
  const reused = existing?.comment === completeMark(scale);
  const started = Date.now();
  if (!reused) {
    log(`building data set ${database} (pgbench scale ${scale} + ${scale * WIDE_ROWS_PER_SCALE} wide rows)`);
    await cluster.createDatabase(database);
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
    await cluster.query(database, 'VACUUM ANALYZE');
    await cluster.query('postgres', `COMMENT ON DATABASE "${database}" IS '${completeMark(scale)}'`);
  } else log(`reusing data set ${database}`);
  const [size] = await cluster.query<{ bytes: string; accounts: string; wide: string }>(
    database,
    `SELECT pg_database_size(current_database()) AS bytes,
            (SELECT count(*) FROM pgbench_accounts) AS accounts, (SELECT count(*) FROM wide_rows) AS wide`,
  );
  return {
    scale,
    database,
    bytes: Number(size?.bytes),
    rows: { accounts: Number(size?.accounts), wide: Number(size?.wide) },
    reused,
    buildSeconds: reused ? 0 : (Date.now() - started) / 1000,
  };
}
