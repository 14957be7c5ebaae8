import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SCRATCH_SUPERUSER } from '../../../cdk/constructs/drill-tasks.ts';
import { parseRestoreReport, type RestoreReport } from '../../../core/drill-report.ts';
import { RESTORING_ROLE } from '../../../engines/restore/restoring-role.ts';
import { pgRestoreInto } from '../../support/pg-restore.ts';
import { type PgCluster, startPostgres } from '../../support/postgres.ts';
import { lastLine, runScript } from '../../support/processes.ts';
import { type S3Server, startS3 } from '../../support/s3.ts';
import { seedRichDatabase } from '../../support/seed.ts';

/**
 * A drill restores an archive nobody vetted. A role that may only CREATE in the source database plants
 * a function that runs a shell command through `COPY ... TO PROGRAM`, called by a CHECK constraint of
 * its table: restored as a superuser, the COPY of that table's rows runs it. The drill restores as an
 * ordinary role, so the command fails instead of running, the report says which table and why, and
 * everything else still restores with its owners and extensions.
 */

const BACKUP_ID = '20261121T020000Z';

describe('a drill of an untrusted archive', () => {
  let source: PgCluster;
  let scratch: PgCluster;
  let s3: S3Server;
  const marker = join(tmpdir(), `pgproof-pwned-${process.pid}`);

  beforeAll(async () => {
    [source, scratch, s3] = await Promise.all([
      startPostgres(),
      startPostgres({ superuser: SCRATCH_SUPERUSER }),
      startS3(),
    ]);
    await seedRichDatabase(source, 'shop', 100);
    await source.query(
      'shop',
      `
      CREATE ROLE mallory NOLOGIN;
      CREATE SCHEMA ext AUTHORIZATION pgproof_app_owner;
      CREATE EXTENSION hstore WITH SCHEMA ext;
      CREATE EXTENSION pgcrypto;
      GRANT CREATE ON SCHEMA public TO mallory;
      SET ROLE mallory;
      CREATE FUNCTION public.plausible(int) RETURNS boolean LANGUAGE plpgsql AS $$ BEGIN RETURN true; END $$;
      CREATE TABLE public.trap (x int CHECK (public.plausible(x)));
      INSERT INTO public.trap VALUES (1), (2);
      CREATE OR REPLACE FUNCTION public.plausible(int) RETURNS boolean LANGUAGE plpgsql AS $$
        BEGIN EXECUTE 'COPY (SELECT 1) TO PROGRAM ''touch ${marker}'''; RETURN true; END $$;
      RESET ROLE;
      `,
    );
    const backup = await runScript('containers/pg-dump/main.ts', {
      ...source.env('shop'),
      ...s3.env,
      BACKUP_ID,
    });
    expect(backup.stderr).toBe('');
  });
  afterAll(async () => {
    rmSync(marker, { force: true });
    await Promise.all([source?.stop(), scratch?.stop(), s3?.stop()]);
  });

  const drill = async (database: string): Promise<{ code: number | null; report: RestoreReport }> => {
    const result = await runScript('containers/pg-restore/main.ts', {
      ...scratch.env('postgres'),
      ...s3.env,
      BACKUP_NAME: 'shop',
      PGDATABASE: database,
      RESTORE_JOBS: '2',
    });
    return { code: result.code, report: parseRestoreReport(lastLine(result.stdout), 'stdout') };
  };

  it('runs the planted command when a superuser restores the archive: the trap is real', async () => {
    const dump = join(tmpdir(), `pgproof-trap-${process.pid}.pgdump`);
    writeFileSync(dump, await s3.get(`shop/${BACKUP_ID}/dump.pgdump`));
    try {
      await scratch.createDatabase('as_superuser');
      await scratch.query('as_superuser', 'CREATE EXTENSION hstore; CREATE SCHEMA ext');
      await pgRestoreInto(scratch, 'as_superuser', dump).catch(() => {});
      expect(existsSync(marker)).toBe(true);
    } finally {
      rmSync(marker, { force: true });
      rmSync(dump, { force: true });
    }
  });

  it('never runs it in a drill: the trapped table fails, named with the reason, and nothing else is lost', async () => {
    const { code, report } = await drill('drill_trap');
    expect(existsSync(marker)).toBe(false);
    expect(code).toBe(2);
    expect(report.passed).toBe(false);
    const restore = report.checks.find((c) => c.name === 'restore');
    expect(restore?.passed).toBe(false);
    expect(restore?.detail).toMatch(
      /^pg_restore reported 1 error\(s\): TABLE DATA public\.trap failed: must be superuser or have privileges of the pg_execute_server_program role to COPY to or from an external program(; ignored as benign: .*)?$/,
    );
    // The source's superuser is an ordinary role here (this is the scratch server's first drill).
    expect(report.checks.find((c) => c.name === 'globals')?.detail).toMatch(
      /; made ordinary roles here \(NOSUPERUSER NOREPLICATION\): postgres$/,
    );
    // Every other table restored in full, and the report names the one that did not.
    const failedTables = report.checks.filter((c) => c.kind === 'table' && !c.passed).map((c) => c.name);
    expect(failedTables).toEqual(['public.trap']);
  });

  it("gives every object its source owner, none of them a superuser on the scratch server, and creates the archive's extensions itself", async () => {
    const { report } = await drill('drill_owners');
    expect(report.checks.find((c) => c.name === 'ownership')).toEqual({
      name: 'ownership',
      kind: 'restore',
      passed: true,
      detail: expect.stringMatching(
        /^\d+ object\(s\) given to their owners by the scratch server's superuser$/,
      ),
    });
    const owners = await scratch.query<{ name: string; owner: string }>(
      'drill_owners',
      `SELECT c.relnamespace::regnamespace || '.' || c.relname AS name, c.relowner::regrole::text AS owner
       FROM pg_class c WHERE c.relname IN ('customers', 'audit_log', 'trap', 'revenue_by_month') ORDER BY 1`,
    );
    expect(owners).toEqual([
      { name: 'public.audit_log', owner: 'pgproof_app_owner' },
      { name: 'public.customers', owner: 'postgres' },
      { name: 'public.trap', owner: 'mallory' },
      { name: 'sales.revenue_by_month', owner: 'postgres' },
    ]);
    const [facts] = await scratch.query<Record<string, unknown>>(
      'drill_owners',
      `SELECT (SELECT rolsuper FROM pg_roles WHERE rolname = 'postgres') AS postgres_is_superuser,
              (SELECT rolsuper FROM pg_roles WHERE rolname = '${RESTORING_ROLE}') AS restorer_is_superuser,
              (SELECT nspowner::regrole::text FROM pg_namespace WHERE nspname = 'ext') AS ext_owner,
              (SELECT extnamespace::regnamespace::text FROM pg_extension WHERE extname = 'hstore') AS hstore_schema,
              (SELECT count(*)::int FROM pg_extension WHERE extname = 'pgcrypto') AS pgcrypto,
              (SELECT lomowner::regrole::text FROM pg_largeobject_metadata LIMIT 1) AS large_object_owner,
              has_table_privilege('pgproof_app_reader', 'sales.invoices', 'SELECT') AS reader_grant`,
    );
    expect(facts).toEqual({
      postgres_is_superuser: false,
      restorer_is_superuser: false,
      ext_owner: 'pgproof_app_owner',
      hstore_schema: 'ext',
      pgcrypto: 1,
      large_object_owner: 'postgres',
      reader_grant: true,
    });
  });
});
