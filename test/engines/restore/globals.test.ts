import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyGlobals, parseGlobals } from '../../../engines/restore/globals.ts';
import { type PgCluster, startPostgres } from '../../support/postgres.ts';

/** What pg_dumpall 18.6 --globals-only --no-role-passwords wrote for a PostgreSQL 15 server (captured here). */
const PG_DUMPALL_18 = `--
-- PostgreSQL database cluster dump
--

\\restrict VYAyXkq9fxyITxIBv8M12SCDFtUaSmpF98e5JlHurbAPNfF40CE1hlDgxvs9T42

SET default_transaction_read_only = off;

SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;

--
-- Roles
--

CREATE ROLE app;
ALTER ROLE app WITH NOSUPERUSER INHERIT NOCREATEROLE NOCREATEDB NOLOGIN NOREPLICATION NOBYPASSRLS;
CREATE ROLE postgres;
ALTER ROLE postgres WITH SUPERUSER INHERIT CREATEROLE CREATEDB LOGIN REPLICATION BYPASSRLS;

--
-- User Configurations
--

\\unrestrict VYAyXkq9fxyITxIBv8M12SCDFtUaSmpF98e5JlHurbAPNfF40CE1hlDgxvs9T42

--
-- PostgreSQL database cluster dump complete
--
`;

describe('globals.sql read as statements', () => {
  it('takes what pg_dumpall writes, with the line each statement starts on, and skips its guard lines', () => {
    const { statements, rejected } = parseGlobals(PG_DUMPALL_18);
    expect(rejected).toEqual([]);
    expect(statements).toEqual([
      { line: 7, sql: 'SET default_transaction_read_only = off;' },
      { line: 9, sql: "SET client_encoding = 'UTF8';" },
      { line: 10, sql: 'SET standard_conforming_strings = on;' },
      { line: 16, sql: 'CREATE ROLE app;' },
      {
        line: 17,
        sql: 'ALTER ROLE app WITH NOSUPERUSER INHERIT NOCREATEROLE NOCREATEDB NOLOGIN NOREPLICATION NOBYPASSRLS;',
      },
      { line: 18, sql: 'CREATE ROLE postgres;' },
      {
        line: 19,
        sql: 'ALTER ROLE postgres WITH SUPERUSER INHERIT CREATEROLE CREATEDB LOGIN REPLICATION BYPASSRLS;',
      },
    ]);
  });

  it('keeps quoted names and comments over several lines, semicolons inside them included', () => {
    const text = `CREATE ROLE "odd;name";\nCOMMENT ON ROLE "odd;name" IS 'line one;\n-- not a comment\nline three';\nGRANT "odd;name" TO app GRANTED BY postgres;\n`;
    expect(parseGlobals(text)).toEqual({
      statements: [
        { line: 1, sql: 'CREATE ROLE "odd;name";' },
        { line: 2, sql: `COMMENT ON ROLE "odd;name" IS 'line one;\n-- not a comment\nline three';` },
        { line: 5, sql: 'GRANT "odd;name" TO app GRANTED BY postgres;' },
      ],
      rejected: [],
    });
  });

  it('rejects every line that is not what pg_dumpall writes, naming it', () => {
    const text = [
      'CREATE ROLE app;',
      '\\! touch /tmp/pwned',
      "COPY (SELECT 1) TO PROGRAM 'id';",
      'GRANT ALL ON SCHEMA public TO app;',
      "ALTER ROLE app SET session_preload_libraries TO 'evil';",
      'CREATE ROLE unfinished',
    ].join('\n');
    expect(parseGlobals(text).rejected.map((r) => [r.line, r.reason])).toEqual([
      [2, 'a psql meta-command'],
      [3, 'not a role or tablespace statement'],
      [4, 'a grant on something other than a tablespace or parameter'],
      [5, 'a role setting that loads libraries into its sessions'],
      [6, 'a statement without its closing ";"'],
    ]);
  });
});

describe('globals.sql applied to a real server', () => {
  let cluster: PgCluster;
  let client: pg.Client;
  const context = { targetMajor: 15, clientMajor: 18 };
  beforeAll(async () => {
    cluster = await startPostgres();
    await cluster.query('postgres', 'CREATE ROLE app NOLOGIN');
    client = new pg.Client({ ...clientOptions(cluster), database: 'postgres' });
    await client.connect();
  });
  afterAll(async () => {
    await client?.end();
    await cluster?.stop();
  });

  it('creates missing roles and never changes one the target already has', async () => {
    const globals = [
      'CREATE ROLE app;',
      'ALTER ROLE app WITH LOGIN CONNECTION LIMIT 5;',
      "ALTER ROLE app SET statement_timeout TO '1s';",
      'CREATE ROLE reporting;',
      'ALTER ROLE reporting WITH NOLOGIN;',
      'GRANT reporting TO app;',
    ].join('\n');
    const result = await applyGlobals(client, globals, context);
    expect(result).toMatchObject({ passed: true, keptRoles: ['app'], errors: [] });
    expect(result.skipped.map((s) => s.line)).toEqual([2, 3]);
    expect(result.ignored.map((e) => [e.rule, e.entry])).toEqual([['role-already-exists', 'globals.sql:1']]);
    const [app] = await cluster.query<{ login: boolean; limit: number; config: string[] | null }>(
      'postgres',
      "SELECT rolcanlogin AS login, rolconnlimit AS limit, rolconfig AS config FROM pg_roles WHERE rolname = 'app'",
    );
    expect(app).toEqual({ login: false, limit: -1, config: null });
    const [member] = await cluster.query<{ n: string }>(
      'postgres',
      "SELECT count(*) AS n FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid WHERE r.rolname = 'reporting'",
    );
    expect(Number(member?.n)).toBe(1);
  });

  it('runs nothing of a globals.sql holding a shell escape, and names the line', async () => {
    const work = mkdtempSync(join(tmpdir(), 'pgproof-globals-'));
    try {
      const marker = join(work, 'ran');
      const globals = `CREATE ROLE never_created;\n\\! touch ${marker}\n`;
      const result = await applyGlobals(client, globals, context);
      expect(result.passed).toBe(false);
      expect(result.errors).toEqual([
        `globals.sql:2 is a psql meta-command, which pg_dumpall never writes; nothing of globals.sql was applied: \\! touch ${marker}`,
      ]);
      expect(existsSync(marker)).toBe(false);
      const roles = await cluster.query('postgres', "SELECT 1 FROM pg_roles WHERE rolname = 'never_created'");
      expect(roles).toEqual([]);
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });
});

function clientOptions(cluster: PgCluster) {
  return { host: cluster.host, port: cluster.port, user: cluster.user, password: cluster.password };
}
