import { describe, expect, it } from 'vitest';
import {
  describeRestoreFailure,
  formatPlace,
  parseListingEntry,
} from '../../../engines/restore/archive-places.ts';
import {
  BENIGN_RULES,
  classifyErrors,
  parsePgRestoreErrors,
} from '../../../engines/restore/restore-errors.ts';

/** What pg_restore 18.6 printed restoring with -j 2 into a PostgreSQL 15 server (captured here). */
const PG_RESTORE_18_INTO_15 = `pg_restore: while INITIALIZING:
pg_restore: error: could not execute query: ERROR:  unrecognized configuration parameter "transaction_timeout"
Command was: SET transaction_timeout = 0;
pg_restore: while PROCESSING TOC:
pg_restore: from TOC entry 214; 1259 16385 TABLE t app
pg_restore: error: could not execute query: ERROR:  unrecognized configuration parameter "transaction_timeout"
Command was: SET transaction_timeout = 0;
pg_restore: error: could not execute query: ERROR:  unrecognized configuration parameter "transaction_timeout"
Command was: SET transaction_timeout = 0;
pg_restore: warning: errors ignored on restore: 3
`;

/**
 * The same with its parallel workers' messages interleaved, as captured here in 1 of 70 runs: each
 * message's prefix is written in pieces, its text in one write.
 */
const PG_RESTORE_INTERLEAVED = `pg_restore: error: could not execute query: ERROR:  unrecognized configuration parameter "transaction_timeout"
Command was: SET transaction_timeout = 0;
pg_restore: pg_restore:error:  could not execute query: ERROR:  unrecognized configuration parameter "transaction_timeout"
Command was: SET transaction_timeout = 0;
error: could not execute query: ERROR:  unrecognized configuration parameter "transaction_timeout"
Command was: SET transaction_timeout = 0;
pg_restore: error: could not execute query: ERROR:  unrecognized configuration parameter "transaction_timeout"
Command was: SET transaction_timeout = 0;
pg_restore: warning: errors ignored on restore: 2
`;

/** A real loss: an index whose function is missing, with DETAIL and a command over two lines. */
const PG_RESTORE_LOST_INDEX = `pg_restore: while PROCESSING TOC:
pg_restore: from TOC entry 3201; 1259 16420 INDEX public orders_total_idx postgres
pg_restore: error: could not execute query: ERROR:  function public.net(numeric) does not exist
LINE 1: CREATE INDEX orders_total_idx ON public.orders USING btree (public.net(total));
HINT:  No function matches the given name and argument types.
Command was: CREATE INDEX orders_total_idx
  ON public.orders USING btree (public.net(total));
pg_restore: warning: errors ignored on restore: 1
`;

/**
 * A table's data refused by the server, from a parallel worker (no TOC entry printed before it), as
 * pg_restore 18.6 printed it restoring an archive whose CHECK constraint calls COPY TO PROGRAM.
 */
const PG_RESTORE_COPY_FAILED = `pg_restore: error: COPY failed for table "trap": ERROR:  must be superuser or have privileges of the pg_execute_server_program role to COPY to or from an external program
HINT:  Anyone can COPY to stdout or from stdin. psql's \\copy command also works for anyone.
CONTEXT:  SQL statement "COPY (SELECT 1) TO PROGRAM 'touch /tmp/x'"
PL/pgSQL function public.plausible(integer) line 2 at EXECUTE
COPY trap, line 1: "secret row value"
pg_restore: warning: errors ignored on restore: 1
`;

describe('pg_restore error parsing', () => {
  it("reads a table's failed COPY as one error naming the table, without the row the server quoted", () => {
    const errors = parsePgRestoreErrors(PG_RESTORE_COPY_FAILED);
    expect(errors).toEqual([
      {
        step: 'restore',
        message:
          'must be superuser or have privileges of the pg_execute_server_program role to COPY to or from an external program',
        sqlState: undefined,
        command: 'COPY trap',
        entry: 'TABLE DATA "trap"',
      },
    ]);
    expect(JSON.stringify(errors)).not.toContain('secret row value');
  });

  it('reads each error with its message, command and TOC entry', () => {
    expect(parsePgRestoreErrors(PG_RESTORE_LOST_INDEX)).toEqual([
      {
        step: 'restore',
        message: 'function public.net(numeric) does not exist',
        sqlState: undefined,
        command: 'CREATE INDEX orders_total_idx\n  ON public.orders USING btree (public.net(total));',
        entry: '3201; 1259 16420 INDEX public orders_total_idx postgres',
      },
    ]);
  });

  it('reads an error printed while initializing as having no TOC entry', () => {
    const [first, second] = parsePgRestoreErrors(PG_RESTORE_18_INTO_15);
    expect(first?.entry).toBeUndefined();
    expect(second?.entry).toBe('214; 1259 16385 TABLE t app');
  });

  it('reads every error when parallel workers interleave their messages', () => {
    const errors = parsePgRestoreErrors(PG_RESTORE_INTERLEAVED);
    expect(errors.map((e) => [e.message, e.command])).toEqual(
      Array(4).fill([
        'unrecognized configuration parameter "transaction_timeout"',
        'SET transaction_timeout = 0;',
      ]),
    );
  });

  it('returns any text it does not understand as an error of its own', () => {
    const errors = parsePgRestoreErrors(
      `${PG_RESTORE_INTERLEAVED}pg_restore: error: could not read from input file: end of file\n`,
    );
    expect(errors.at(-1)?.message).toBe('could not read from input file: end of file');
    expect(classifyErrors(errors, { targetMajor: 15, clientMajor: 18 }).failing).toHaveLength(1);
  });

  it('reads an error that is not a query, such as a refused connection', () => {
    const errors = parsePgRestoreErrors(
      'pg_restore: error: connection to server at "127.0.0.1", port 5 failed: Connection refused\n',
    );
    expect(errors.map((e) => [e.message, e.command])).toEqual([
      ['connection to server at "127.0.0.1", port 5 failed: Connection refused', undefined],
    ]);
  });
});

describe('benign restore errors', () => {
  const errors = parsePgRestoreErrors(PG_RESTORE_18_INTO_15);

  it('ignores the 17+ client\'s "SET transaction_timeout" on a server before 17, counted once with its reason', () => {
    const { ignored, failing } = classifyErrors(errors, { targetMajor: 15, clientMajor: 18 });
    expect(failing).toEqual([]);
    expect(ignored).toEqual([
      {
        step: 'restore',
        rule: 'transaction-timeout-before-17',
        reason: expect.stringContaining('servers before 17 have no such setting'),
        message: 'unrecognized configuration parameter "transaction_timeout"',
        count: 3,
        entry: '214; 1259 16385 TABLE t app',
      },
    ]);
  });

  it('fails the same error on a server of 17 or newer, where the setting exists', () => {
    const { ignored, failing } = classifyErrors(errors, { targetMajor: 17, clientMajor: 18 });
    expect(ignored).toEqual([]);
    expect(failing).toHaveLength(3);
  });

  it('fails an unknown setting other than transaction_timeout', () => {
    const other = parsePgRestoreErrors(
      PG_RESTORE_18_INTO_15.replaceAll('transaction_timeout', 'lock_timeout_v2'),
    );
    expect(classifyErrors(other, { targetMajor: 15, clientMajor: 18 }).failing).toHaveLength(3);
  });

  it('fails every error no rule accepts', () => {
    const { ignored, failing } = classifyErrors(parsePgRestoreErrors(PG_RESTORE_LOST_INDEX), {
      targetMajor: 15,
      clientMajor: 18,
    });
    expect(ignored).toEqual([]);
    expect(failing.map((e) => e.message)).toEqual(['function public.net(numeric) does not exist']);
  });

  it('has a reason and a distinct id for every rule', () => {
    expect(new Set(BENIGN_RULES.map((r) => r.id)).size).toBe(BENIGN_RULES.length);
    for (const rule of BENIGN_RULES) expect(rule.reason.length).toBeGreaterThan(40);
  });
});

describe('globals errors', () => {
  /** A failed statement of globals.sql, as applyGlobals (globals.ts) reports it. */
  const failed = (command: string, message: string, sqlState: string, line: number) => ({
    step: 'globals' as const,
    message,
    sqlState,
    command,
    entry: `globals.sql:${line}`,
  });

  it('ignores a role the target already has, and fails a tablespace it cannot create', () => {
    const { ignored, failing } = classifyErrors(
      [
        failed('CREATE ROLE postgres;', 'role "postgres" already exists', '42710', 2),
        failed(
          "CREATE TABLESPACE fast LOCATION '/mnt/fast';",
          'directory "/mnt/fast" does not exist',
          '58P01',
          4,
        ),
      ],
      { targetMajor: 15, clientMajor: 18 },
    );
    expect(ignored.map((e) => [e.rule, e.message, e.entry])).toEqual([
      ['role-already-exists', 'role "postgres" already exists', 'globals.sql:2'],
    ]);
    expect(failing.map((e) => e.entry)).toEqual(['globals.sql:4']);
  });

  it('fails "already exists" for anything but a plain CREATE ROLE, or with another SQLSTATE', () => {
    const context = { targetMajor: 15, clientMajor: 18 };
    const alter = failed('ALTER ROLE postgres WITH SUPERUSER;', 'role "postgres" already exists', '42710', 3);
    const other = failed('CREATE ROLE postgres;', 'role "postgres" already exists', 'XX000', 2);
    expect(classifyErrors([alter, other], context).failing).toHaveLength(2);
  });
});

describe('the place of a failed restore step in the archive', () => {
  /** Lines of a `pg_restore --list` of an archive, as pg_restore 18 prints them. */
  const LISTING = [
    ';',
    '; Archive created at 2026-11-21 02:00:00 UTC',
    '3201; 1259 16420 INDEX public orders_total_idx postgres',
    '3190; 2606 16404 CONSTRAINT sales orders orders_pkey app',
    '3185; 0 16385 TABLE DATA public trap mallory',
    '3186; 0 16390 TABLE DATA sales Odd Name app',
    '3100; 3079 16500 EXTENSION - hstore ',
  ];

  it('names an index, a constraint and a table by type, schema and name', () => {
    const [lostIndex] = parsePgRestoreErrors(PG_RESTORE_LOST_INDEX);
    expect(lostIndex && describeRestoreFailure(lostIndex, LISTING)).toBe(
      'INDEX public.orders_total_idx failed: function public.net(numeric) does not exist',
    );
    const constraint = {
      step: 'restore' as const,
      message: 'could not create unique index "orders_pkey"',
      sqlState: undefined,
      command: 'ALTER TABLE ONLY sales.orders ADD CONSTRAINT orders_pkey PRIMARY KEY (id);',
      entry: '3190; 2606 16404 CONSTRAINT orders orders_pkey app',
    };
    expect(describeRestoreFailure(constraint, LISTING)).toBe(
      'CONSTRAINT orders_pkey ON sales.orders failed: could not create unique index "orders_pkey"',
    );
  });

  it("finds a parallel worker's failed COPY by its table's name", () => {
    const [copy] = parsePgRestoreErrors(PG_RESTORE_COPY_FAILED);
    expect(copy && describeRestoreFailure(copy, LISTING)).toBe(
      'TABLE DATA public.trap failed: must be superuser or have privileges of the pg_execute_server_program role to COPY to or from an external program',
    );
    // Without a listing the table's name is still the place.
    expect(copy && describeRestoreFailure(copy, [])).toMatch(/^TABLE DATA trap failed: must be superuser/);
  });

  it('reads entries whose names hold spaces, and entries outside a schema', () => {
    expect(parseListingEntry('3186; 0 16390 TABLE DATA sales Odd Name app')).toEqual({
      dumpId: 3186,
      type: 'TABLE DATA',
      schema: 'sales',
      name: 'Odd Name',
    });
    expect(parseListingEntry('3100; 3079 16500 EXTENSION - hstore ')).toMatchObject({
      type: 'EXTENSION',
      schema: undefined,
      name: 'hstore',
    });
    expect(formatPlace({ type: 'EXTENSION', schema: undefined, name: 'hstore' })).toBe('EXTENSION hstore');
  });

  it("names a parallel worker's failure, which has no TOC entry, by its command", () => {
    const failed = (command: string) =>
      describeRestoreFailure(
        { step: 'restore', message: 'boom', sqlState: undefined, command, entry: undefined },
        LISTING,
      );
    expect(
      failed('CREATE INDEX items_factor_idx ON public.items USING btree (public.factor_of(code));'),
    ).toBe('INDEX public.items_factor_idx failed: boom');
    expect(failed('CREATE UNIQUE INDEX "Odd Idx" ON ONLY sales."Odd Name" USING btree (id);')).toBe(
      'INDEX sales.Odd Idx failed: boom',
    );
    expect(
      failed(
        'ALTER TABLE ONLY sales.orders\n    ADD CONSTRAINT orders_customer_fkey FOREIGN KEY (customer_id) REFERENCES public.customers(id);',
      ),
    ).toBe('FK CONSTRAINT orders_customer_fkey ON sales.orders failed: boom');
    expect(failed('ALTER TABLE ONLY public.orders\n    ADD CONSTRAINT orders_pkey PRIMARY KEY (id);')).toBe(
      'CONSTRAINT orders_pkey ON public.orders failed: boom',
    );
    expect(
      failed(
        'CREATE TRIGGER audit AFTER INSERT ON public.orders FOR EACH ROW EXECUTE FUNCTION public.log();',
      ),
    ).toBe('TRIGGER audit ON public.orders failed: boom');
    expect(failed('REFRESH MATERIALIZED VIEW sales.revenue_by_month;')).toBe(
      'MATERIALIZED VIEW DATA sales.revenue_by_month failed: boom',
    );
    expect(failed('CREATE TABLE public.t (\n    id integer\n);')).toBe('TABLE public.t failed: boom');
  });

  it('leaves an error without an entry as its message', () => {
    const refused = {
      step: 'restore' as const,
      message: 'connection to server failed',
      sqlState: undefined,
      command: undefined,
      entry: undefined,
    };
    expect(describeRestoreFailure(refused, [])).toBe('connection to server failed');
  });
});
