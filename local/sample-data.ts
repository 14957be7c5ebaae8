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

/**
 * The varied database plus an object of every kind a restore must bring back, valid on PostgreSQL 13
 * and newer: an enum, a domain, identity and generated columns, a partitioned table, a view, a populated
 * materialized view, a PL/pgSQL function with its trigger, a large object, comments and grants to a
 * role of the database's own. The version matrix backs it up and drills it on every server major.
 */
export async function seedRichDatabase(pg: PgCluster, database: string, rows = 1_000): Promise<void> {
  await seedVariedDatabase(pg, database, rows);
  await pg.query(
    database,
    `
    DO $$ BEGIN CREATE ROLE pgproof_app_reader NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
    CREATE TYPE sales.order_state AS ENUM ('open', 'paid', 'shipped');
    CREATE DOMAIN public.positive_money AS numeric(12, 2) CHECK (VALUE >= 0);
    CREATE TABLE sales.invoices (
      id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY, state sales.order_state NOT NULL DEFAULT 'open',
      net public.positive_money NOT NULL, gross numeric GENERATED ALWAYS AS (net * 1.2) STORED,
      issued_on date NOT NULL);
    INSERT INTO sales.invoices (state, net, issued_on)
      SELECT (ARRAY['open', 'paid', 'shipped']::sales.order_state[])[1 + g % 3], g * 1.5,
             date '2026-01-01' + (g % 365)
      FROM generate_series(1, ${rows}) g;
    CREATE TABLE sales.measurements (at date NOT NULL, value double precision) PARTITION BY RANGE (at);
    CREATE TABLE sales.measurements_2026h1 PARTITION OF sales.measurements
      FOR VALUES FROM ('2026-01-01') TO ('2026-07-01');
    CREATE TABLE sales.measurements_2026h2 PARTITION OF sales.measurements
      FOR VALUES FROM ('2026-07-01') TO ('2027-01-01');
    INSERT INTO sales.measurements SELECT date '2026-01-01' + (g % 365), g / 3.0 FROM generate_series(1, ${rows}) g;
    CREATE INDEX ON sales.invoices (issued_on);
    CREATE VIEW sales.open_invoices AS SELECT id, net FROM sales.invoices WHERE state = 'open';
    CREATE MATERIALIZED VIEW sales.revenue_by_month AS
      SELECT date_trunc('month', issued_on) AS month, sum(net) AS net FROM sales.invoices GROUP BY 1;
    CREATE FUNCTION public.touch_audit() RETURNS trigger LANGUAGE plpgsql AS $f$
      BEGIN INSERT INTO public.audit_log (line) VALUES ('invoice ' || NEW.id); RETURN NEW; END $f$;
    CREATE TRIGGER invoices_audit AFTER INSERT ON sales.invoices FOR EACH ROW EXECUTE FUNCTION public.touch_audit();
    COMMENT ON TABLE sales.invoices IS 'invoices, one per order';
    GRANT USAGE ON SCHEMA sales TO pgproof_app_reader;
    GRANT SELECT ON ALL TABLES IN SCHEMA sales TO pgproof_app_reader;
    SELECT lo_from_bytea(0, convert_to('a large object', 'UTF8'));
    `,
  );
}
