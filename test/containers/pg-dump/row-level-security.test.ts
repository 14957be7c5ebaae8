import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type PgCluster, startPostgres } from '../../support/postgres.ts';
import { lastLine, runScript } from '../../support/processes.ts';
import { type S3Server, startS3 } from '../../support/s3.ts';

/** A backup role that row-level security applies to: pg_dump refuses, and the message says what to do. */
describe('backup runner and row-level security', () => {
  let cluster: PgCluster;
  let s3: S3Server;
  beforeAll(async () => {
    [cluster, s3] = await Promise.all([startPostgres(), startS3()]);
    await cluster.createDatabase('tenants');
    await cluster.query(
      'tenants',
      `CREATE TABLE public.accounts (id int, tenant text);
       INSERT INTO public.accounts VALUES (1, 'a'), (2, 'b');
       ALTER TABLE public.accounts ENABLE ROW LEVEL SECURITY;
       CREATE POLICY own_tenant ON public.accounts USING (tenant = current_user);
       DO $$ BEGIN CREATE ROLE backup_reader LOGIN PASSWORD 'reader-secret'; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
       GRANT SELECT ON ALL TABLES IN SCHEMA public TO backup_reader;`,
    );
  });
  afterAll(async () => {
    await Promise.all([cluster?.stop(), s3?.stop()]);
  });

  it('fails a backup refused by row-level security, naming the table, BYPASSRLS and EXCLUDE_TABLES', async () => {
    const result = await runScript('containers/pg-dump/main.ts', {
      ...cluster.env('tenants'),
      ...s3.env,
      PGUSER: 'backup_reader',
      PGPASSWORD: 'reader-secret',
      DUMP_GLOBALS: 'false',
    });
    expect(result.code).toBe(1);
    expect(lastLine(result.stderr)).toMatch(
      /^pgproof backup failed: pg_dump failed \(exit 1\): .*row-level security.*; the backup role "backup_reader" is subject to row-level security on public\.accounts: grant it BYPASSRLS \(ALTER ROLE backup_reader BYPASSRLS, as a superuser or, on RDS, the master user\), or leave the table out \(EXCLUDE_TABLES=public\.accounts\); nothing was kept/,
    );
  });
});
