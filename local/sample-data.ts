import type { PgCluster } from './postgres.ts';

/**
 * A database of varied types and shapes, the round-trip test data set: text, bytea, jsonb, numeric,
 * timestamptz, arrays, a table with no primary key, an empty table, a second schema, odd names.
 */
export async function seedVariedDatabase(pg: PgCluster, database: string, rows = 5_000): Promise<void> {
  await pg.createDatabase(database);
  await pg.query(
    database,
    `
    DO $$ BEGIN CREATE ROLE pgproof_app_owner NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
    CREATE SCHEMA sales;
    CREATE TABLE public.customers (
      id bigserial PRIMARY KEY, name text NOT NULL, email text, avatar bytea, prefs jsonb,
      balance numeric(14, 2), created_at timestamptz NOT NULL DEFAULT now(), tags text[]);
    CREATE TABLE sales.orders (
      id bigserial PRIMARY KEY, customer_id bigint REFERENCES public.customers(id), total numeric,
      placed_at timestamptz, lines jsonb, scores double precision[]);
    CREATE TABLE public.events (at timestamptz, kind text, payload jsonb);
    CREATE TABLE public.empty_table (id int PRIMARY KEY, note text);
    CREATE TABLE sales."Odd Name" ("Mixed Case" text, "with space" int);
    CREATE TABLE public.audit_log (id bigserial PRIMARY KEY, line text);
    ALTER TABLE public.audit_log OWNER TO pgproof_app_owner;
    INSERT INTO public.customers (name, email, avatar, prefs, balance, created_at, tags)
      SELECT 'customer ' || g || ' ünïcødé ''quoted''', 'c' || g || '@example.com',
             decode(md5(g::text), 'hex'), jsonb_build_object('n', g, 'nested', jsonb_build_array(g, 'x')),
             (g * 12.34)::numeric(14, 2), timestamptz '2026-01-01 00:00:00+00' + g * interval '1 minute',
             ARRAY['tag' || (g % 7), NULL, 'a,b']
      FROM generate_series(1, ${rows}) g;
    INSERT INTO sales.orders (customer_id, total, placed_at, lines, scores)
      SELECT 1 + (g % ${rows}), g / 3.0, timestamptz '2026-02-01 12:00:00+05' + g * interval '1 second',
             jsonb_build_array(jsonb_build_object('sku', 'S' || g, 'qty', g % 5)), ARRAY[g / 7.0, 0.1]
      FROM generate_series(1, ${rows * 2}) g;
    INSERT INTO public.events SELECT now() - g * interval '1 hour', 'k' || (g % 3), '{"a":1}' FROM generate_series(1, ${rows}) g;
    INSERT INTO public.events SELECT now(), 'dup', '{"a":1}' FROM generate_series(1, 10);
    INSERT INTO sales."Odd Name" VALUES ('x', 1), ('y', NULL);
    INSERT INTO public.audit_log (line) SELECT 'line ' || g FROM generate_series(1, 100) g;
    `,
  );
}

/**
 * Adds `public.blobs`: about `megabytes` MB of incompressible bytea, so that a dump needs several
 * multipart parts (8 MiB each) and takes long enough to act on while it runs.
 */
export async function seedLargeTable(pg: PgCluster, database: string, megabytes: number): Promise<void> {
  await pg.query(
    database,
    `CREATE TABLE public.blobs (id int PRIMARY KEY, data bytea);
     ALTER TABLE public.blobs ALTER COLUMN data SET STORAGE EXTERNAL;
     INSERT INTO public.blobs
       SELECT g, decode(string_agg(md5(g::text || ':' || i::text), ''), 'hex')
       FROM generate_series(1, ${megabytes * 1024}) g, generate_series(1, 64) i GROUP BY g;`,
  );
}
