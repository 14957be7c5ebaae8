import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseRestoreReport, type RestoreReport } from '../../../core/drill-report.ts';
import { backupKeys } from '../../../core/layout.ts';
import { type Manifest, parseManifest } from '../../../core/manifest.ts';
import { embeddedBinDir, type PgCluster, startPostgres } from '../../support/postgres.ts';
import { lastLine, type ProcessResult, runScript } from '../../support/processes.ts';
import { type S3Server, startS3 } from '../../support/s3.ts';
import { seedVariedDatabase } from '../../support/seed.ts';

const BACKUP_RUNNER = 'containers/pg-dump/main.ts';
const RESTORE_RUNNER = 'containers/pg-restore/main.ts';
const BACKUP_ID = '20261121T020000Z';

/** The tables of the seeded database, as the backup runner counts them. */
const SEEDED_TABLES = [
  'public.audit_log',
  'public.customers',
  'public.empty_table',
  'public.events',
  'sales.Odd Name',
  'sales.orders',
];

/** The inventory's checks (engines/restore/inventory-checks.ts), in the report's order. */
const INVENTORY_CHECKS = [
  'sequences',
  'indexes',
  'large objects',
  'materialized views',
  'constraints',
  'owners and privileges',
  'extensions',
  'object counts',
];

describe('restore runner', () => {
  let pg: PgCluster;
  let newer: PgCluster;
  let s3: S3Server;
  let manifest: Manifest;

  beforeAll(async () => {
    [pg, newer, s3] = await Promise.all([
      startPostgres(),
      startPostgres({ binDir: embeddedBinDir(18) }),
      startS3(),
    ]);
    await seedVariedDatabase(pg, 'shop');
    // Checksums: the restore must also reproduce every table's content hash.
    const backup = await runScript(BACKUP_RUNNER, {
      ...pg.env('shop'),
      ...s3.env,
      BACKUP_ID,
      VERIFY: 'checksums',
    });
    expect(backup.stderr).toBe('');
    manifest = parseManifest(
      (await s3.get(backupKeys('', 'shop', BACKUP_ID).manifest)).toString(),
      'manifest',
    );
  });
  afterAll(async () => {
    await Promise.all([pg?.stop(), newer?.stop(), s3?.stop()]);
  });

  /** Runs the restore runner against `cluster` (default: the source's) with the test S3 server. */
  const restore = (env: Record<string, string>, cluster: PgCluster = pg) =>
    runScript(RESTORE_RUNNER, {
      ...cluster.env(env.PGDATABASE ?? 'postgres'),
      ...s3.env,
      RESTORE_JOBS: '2',
      ...env,
    });

  /** The report a run printed last, checked to equal the one it stored. */
  const reportOf = async (result: ProcessResult): Promise<RestoreReport> => {
    const printed = parseRestoreReport(lastLine(result.stdout), 'stdout');
    expect(parseRestoreReport((await s3.get(printed.reportKey)).toString(), printed.reportKey)).toEqual(
      printed,
    );
    return printed;
  };

  /**
   * A copy of the backup under another id, its manifest pointing at the copied objects;
   * `change` alters the manifest or the dump's bytes on the way.
   */
  const copyBackup = async (
    backupId: string,
    change: { manifest?: (m: Manifest) => void; dump?: (bytes: Buffer) => void },
  ): Promise<string> => {
    const keys = backupKeys('', 'shop', backupId);
    const dump = await s3.get(manifest.dump.key);
    change.dump?.(dump);
    const copy: Manifest = structuredClone(manifest);
    copy.backupId = backupId;
    copy.dump.key = keys.dump;
    if (copy.globals) copy.globals.key = keys.globals;
    change.manifest?.(copy);
    const put = (Key: string, Body: Buffer | string) =>
      s3.client.send(new PutObjectCommand({ Bucket: s3.bucket, Key, Body }));
    await put(keys.dump, dump);
    await put(keys.globals, await s3.get(backupKeys('', 'shop', BACKUP_ID).globals));
    await put(keys.manifest, JSON.stringify(copy));
    return keys.manifest;
  };

  it('restores the latest backup into a scratch database, verifies every table and reports it', async () => {
    const result = await restore({
      BACKUP_NAME: 'shop',
      PGDATABASE: 'drill_ok',
      CHECKS_JSON: JSON.stringify([
        {
          name: 'every order has a customer',
          sql: 'SELECT bool_and(customer_id IS NOT NULL) FROM sales.orders',
        },
      ]),
      RTO_SECONDS: '3600',
    });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const report = await reportOf(result);
    expect(report).toMatchObject({
      passed: true,
      mode: 'drill',
      name: 'shop',
      backupId: BACKUP_ID,
      manifestKey: `shop/${BACKUP_ID}/manifest.json`,
      reportKey: expect.stringMatching(/^drills\/shop\/20261121T020000Z\/\d{8}T\d{6}Z\.json$/),
      target: { database: 'drill_ok', serverVersion: expect.stringMatching(/^15\./) },
      rto: { targetSeconds: 3600, met: true },
    });
    expect(report.tables.map((t) => `${t.schema}.${t.name}`)).toEqual(SEEDED_TABLES);
    for (const table of report.tables) {
      const expected = manifest.tables.find((t) => t.schema === table.schema && t.name === table.name);
      expect(table).toEqual({
        ...table,
        rows: expected?.rows,
        expectedRows: expected?.rows,
        hashMatched: true,
      });
    }
    expect(report.checks.map((c) => [c.name, c.kind, c.passed])).toEqual([
      ['checksum', 'checksum', true],
      ['globals', 'globals', true],
      ['restore', 'restore', true],
      ['ownership', 'restore', true],
      ...SEEDED_TABLES.map((name) => [name, 'table', true]),
      ...INVENTORY_CHECKS.map((name) => [name, 'inventory', true]),
      ['every order has a customer', 'sql', true],
    ]);
    // This scratch server's superuser is the source's own "postgres": what it owned stays with the
    // restoring role, said so (untrusted-archive.test.ts drills into a server whose superuser differs).
    expect(report.checks[3]?.detail).toMatch(
      /^\d+ object\(s\) given to their owners by the scratch server's superuser; left with pgproof_restore, their owner being a superuser on the scratch server \(nothing from a backup runs as one\): "postgres" \(\d+\)$/,
    );
    // The source's roles that the scratch server already has are kept as they are, never altered.
    expect(report.checks[1]?.detail).toMatch(
      /^roles restored as SQL statements; already there, kept as they were: .*postgres.* \(\d+ statement\(s\) about them skipped\)$/,
    );
    // The production client (18) on a PostgreSQL 15 server: its "SET transaction_timeout" on each
    // connection fails there, is ignored as benign, and is listed rather than hidden.
    expect(new Set(report.ignoredErrors?.map((e) => `${e.step}: ${e.rule}`))).toEqual(
      new Set(['globals: role-already-exists', 'restore: transaction-timeout-before-17']),
    );
    expect(report.checks[2]?.detail).toMatch(/; ignored as benign: transaction-timeout-before-17 \(\d+\)$/);
    const { downloadSeconds, restoreSeconds, verifySeconds, totalSeconds } = report.durations;
    expect(downloadSeconds + restoreSeconds + verifySeconds).toBeLessThanOrEqual(totalSeconds);
    expect(report.rto.seconds).toBeCloseTo(downloadSeconds + restoreSeconds, 2);
    // The restore by phase: pg_restore ran section by section, each timed within the restore's time.
    const d = report.durations;
    const phases = [d.globalsSeconds, d.preDataSeconds, d.dataSeconds, d.postDataSeconds];
    expect(phases.every((s) => s !== undefined && s > 0)).toBe(true);
    expect(phases.reduce((a = 0, b = 0) => a + b, 0)).toBeLessThanOrEqual(restoreSeconds + 0.002);
    expect(d.analyzeSeconds).toBeLessThanOrEqual(verifySeconds + 0.001);
    expect(d.preflightSeconds).toBeGreaterThan(0);
    const longest = Math.max(downloadSeconds, ...phases.map((s) => s ?? 0));
    expect(report.rto).toMatchObject({
      dominantPhase: expect.stringMatching(/^(download|globals|pre-data|data|post-data)$/),
      dominantSeconds: longest,
    });
    expect(report.checks[2]?.detail).toMatch(
      /^pg_restore --no-password --jobs=2 .*--section=pre-data\|data\|post-data finished without errors/,
    );
    // Each phase is a metric of the database (EMF on stdout, before the report's line).
    const emf = result.stdout
      .split('\n')
      .filter((line) => line.includes('"_aws"'))
      .map((line) => JSON.parse(line));
    expect(emf).toHaveLength(1);
    expect(emf[0]).toMatchObject({
      service: 'pgproof',
      Database: 'shop',
      RestoreDownloadSeconds: downloadSeconds,
      RestoreDataSeconds: d.dataSeconds,
      RestorePostDataSeconds: d.postDataSeconds,
      RestoreTotalSeconds: totalSeconds,
    });
    expect(report.backup).toEqual({
      takenAt: manifest.startedAt,
      ageHours: expect.closeTo(
        (Date.parse(report.startedAt) - Date.parse(manifest.startedAt)) / 3_600_000,
        3,
      ),
      dumpBytes: manifest.dump.bytes,
      serverVersion: manifest.server.version,
      tier: 'daily',
    });
    // The restored copy really is there, with its owner given back by the scratch server's superuser.
    const [owner] = await pg.query<{ owner: string }>(
      'drill_ok',
      "SELECT tableowner AS owner FROM pg_tables WHERE tablename = 'audit_log'",
    );
    expect(owner?.owner).toBe('pgproof_app_owner');
    console.info(`durations of the test data set: ${JSON.stringify(report.durations)}`);
  });

  it('fails a backup whose dump changed by one byte before restoring anything, exit 2, naming the checksum', async () => {
    const manifestKey = await copyBackup('20261101T020000Z', {
      dump: (bytes) => {
        const at = Math.floor(bytes.length / 2);
        bytes[at] = (bytes[at] ?? 0) ^ 0x01;
      },
    });
    const result = await restore({ MANIFEST_KEY: manifestKey, PGDATABASE: 'drill_tampered' });
    expect(result.code).toBe(2);
    expect(lastLine(result.stderr)).toMatch(
      /^pgproof restore failed: checks failed: checksum \(report: drills\/shop\//,
    );
    const report = await reportOf(result);
    expect(report.passed).toBe(false);
    expect(report.checks).toEqual([
      {
        name: 'checksum',
        kind: 'checksum',
        passed: false,
        detail: expect.stringMatching(
          /^shop\/20261101T020000Z\/dump\.pgdump has SHA-256 [0-9a-f]{64}, the manifest says [0-9a-f]{64}: the object was changed/,
        ),
      },
    ]);
    expect(report.durations.restoreSeconds).toBe(0);
    const databases = await pg.query(
      'postgres',
      "SELECT 1 FROM pg_database WHERE datname = 'drill_tampered'",
    );
    expect(databases).toEqual([]);
  });

  it('fails a backup whose manifest has a wrong row count for one table, naming that table', async () => {
    const manifestKey = await copyBackup('20261102T020000Z', {
      manifest: (m) => {
        const orders = m.tables.find((t) => t.name === 'orders');
        if (orders) orders.rows += 1;
      },
    });
    const result = await restore({ MANIFEST_KEY: manifestKey, PGDATABASE: 'drill_count' });
    expect(result.code).toBe(2);
    expect(lastLine(result.stderr)).toMatch(/checks failed: sales\.orders \(report/);
    const report = await reportOf(result);
    expect(report.checks.filter((c) => !c.passed)).toEqual([
      { name: 'sales.orders', kind: 'table', passed: false, detail: '10000 rows, the manifest has 10001' },
    ]);
  });

  it('fails the drill by the name of a SQL check that returns false; reports how its backup was picked and retrieved', async () => {
    const selection = { kind: 'sample', tier: 'daily', withinDays: 30, candidates: 2 };
    const retrieval = {
      storageClass: 'DEEP_ARCHIVE',
      tier: 'Bulk',
      requestedAt: '2026-11-20T02:00:00.000Z',
      availableAt: '2026-11-21T14:00:00.000Z',
      seconds: 129_600,
    };
    const result = await restore({
      BACKUP_NAME: 'shop',
      BACKUP_ID,
      PGDATABASE: 'drill_sql',
      // What ResolveBackup and RetrieveBackup give the drill task.
      DRILL_SELECTION: JSON.stringify(selection),
      DRILL_RETRIEVAL: JSON.stringify(retrieval),
      CHECKS_JSON: JSON.stringify([
        { name: 'customers exist', sql: 'SELECT count(*) = 5000 FROM public.customers' },
        { name: 'no customer owes money', sql: 'SELECT bool_and(balance < 0) FROM public.customers' },
        { name: 'first email', sql: 'SELECT email FROM public.customers ORDER BY id LIMIT 1' },
      ]),
    });
    expect(result.code).toBe(2);
    expect(lastLine(result.stderr)).toMatch(/checks failed: no customer owes money, first email \(report/);
    const report = await reportOf(result);
    expect(report.checks.filter((c) => c.kind === 'sql')).toEqual([
      { name: 'customers exist', kind: 'sql', passed: true, detail: 'returned true' },
      { name: 'no customer owes money', kind: 'sql', passed: false, detail: 'returned false, expected true' },
      // A value of the restored data never reaches the report (or the notification made from it).
      {
        name: 'first email',
        kind: 'sql',
        passed: false,
        detail:
          "returned a string value (not shown), expected true; the check's first column must be a boolean",
      },
    ]);
    expect(JSON.stringify(report)).not.toContain('c1@example.com');
    expect(report.selection).toEqual(selection);
    expect(report.retrieval).toEqual(retrieval);
  });

  it('restores only the selected table, into its schema', async () => {
    const result = await restore({
      BACKUP_NAME: 'shop',
      PGDATABASE: 'drill_one',
      RESTORE_TABLES: 'sales.orders',
    });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const report = await reportOf(result);
    expect(report.tables).toEqual([
      { schema: 'sales', name: 'orders', expectedRows: 10000, rows: 10000, hashMatched: true },
    ]);
    const restored = await pg.query<{ name: string }>(
      'drill_one',
      "SELECT schemaname || '.' || tablename AS name FROM pg_tables WHERE schemaname IN ('public', 'sales')",
    );
    expect(restored).toEqual([{ name: 'sales.orders' }]);
  });

  it('fails a selection that matches nothing before restoring anything, exit 1, naming each unmatched name', async () => {
    const result = await restore({
      BACKUP_NAME: 'shop',
      PGDATABASE: 'drill_nothing',
      RESTORE_TABLES: 'sales.orders, sales.nope',
      RESTORE_SCHEMAS: 'Sales',
    });
    expect(result.code).toBe(1);
    expect(lastLine(result.stderr)).toMatch(
      /^pgproof restore failed: RESTORE_TABLES "sales\.nope", RESTORE_SCHEMAS "Sales" match nothing in backup 20261121T020000Z of "shop"; nothing was restored: check the names \(exact, case included; schema\.table\): its tables are public\.audit_log, public\.customers, .*sales\.orders \(report/,
    );
    const databases = await pg.query('postgres', "SELECT 1 FROM pg_database WHERE datname = 'drill_nothing'");
    expect(databases).toEqual([]);
  });

  it('restores tables whose names hold a comma, a dot or a quote, selected as a JSON list', async () => {
    await pg.createDatabase('odd');
    await pg.query(
      'odd',
      `CREATE SCHEMA "my.schema";
       CREATE TABLE public."a,b" (id int); INSERT INTO public."a,b" VALUES (1), (2);
       CREATE TABLE "my.schema"."x.y ""z""" (id int); INSERT INTO "my.schema"."x.y ""z""" VALUES (3);
       CREATE TABLE public.other (id int);`,
    );
    const backup = await runScript(BACKUP_RUNNER, { ...pg.env('odd'), ...s3.env, BACKUP_ID });
    expect(backup.stderr).toBe('');
    const result = await restore({
      BACKUP_NAME: 'odd',
      PGDATABASE: 'drill_odd',
      RESTORE_TABLES: JSON.stringify(['public.a,b', '"my.schema"."x.y ""z"""']),
    });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const report = await reportOf(result);
    expect(report.tables).toEqual([
      { schema: 'my.schema', name: 'x.y "z"', expectedRows: 1, rows: 1 },
      { schema: 'public', name: 'a,b', expectedRows: 2, rows: 2 },
    ]);
    const restored = await pg.query<{ name: string }>(
      'drill_odd',
      "SELECT schemaname || '|' || tablename AS name FROM pg_tables WHERE schemaname IN ('public', 'my.schema') ORDER BY 1",
    );
    expect(restored).toEqual([{ name: 'my.schema|x.y "z"' }, { name: 'public|a,b' }]);
  });

  it('fails an index that does not restore, naming it by type, schema and name', async () => {
    // The classic: an index on a function that finds its table through search_path, which pg_restore empties.
    await pg.createDatabase('lookup');
    await pg.query(
      'lookup',
      `CREATE TABLE public.rates (code text PRIMARY KEY, factor int); INSERT INTO public.rates VALUES ('a', 2);
       CREATE FUNCTION public.factor_of(c text) RETURNS int LANGUAGE plpgsql IMMUTABLE
         AS 'BEGIN RETURN (SELECT factor FROM rates WHERE code = c); END';
       CREATE TABLE public.items (id int, code text); INSERT INTO public.items VALUES (1, 'a');
       CREATE INDEX items_factor_idx ON public.items (public.factor_of(code));`,
    );
    const backup = await runScript(BACKUP_RUNNER, { ...pg.env('lookup'), ...s3.env, BACKUP_ID });
    expect(backup.stderr).toBe('');
    const result = await restore({ BACKUP_NAME: 'lookup', PGDATABASE: 'drill_lookup' });
    expect(result.code).toBe(2);
    const report = await reportOf(result);
    expect(report.checks.find((c) => c.name === 'restore')).toEqual({
      name: 'restore',
      kind: 'restore',
      passed: false,
      detail: expect.stringMatching(
        /^pg_restore reported 1 error\(s\): INDEX public\.items_factor_idx failed: relation "rates" does not exist(; ignored as benign: .*)?$/,
      ),
    });
  });

  it('restores into a newer PostgreSQL major (the upgrade path) and verifies it', async () => {
    expect(newer.major).toBeGreaterThan(pg.major);
    const result = await restore({ BACKUP_NAME: 'shop', PGDATABASE: 'upgraded' }, newer);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const report = await reportOf(result);
    expect(report.target.serverVersion).toMatch(new RegExp(`^${newer.major}\\.`));
    expect(report.tables.every((t) => t.hashMatched && t.rows === t.expectedRows)).toBe(true);
  });

  /** The requests for dumps made since `from` (an index into the S3 server's request log). */
  const dumpRequests = (from: number) =>
    s3.requests.slice(from).filter((r) => r.path.includes('dump.pgdump'));

  it('fails a wrong password before downloading a byte, exit 1, naming the login', async () => {
    const before = s3.requests.length;
    const result = await restore({ BACKUP_NAME: 'shop', PGDATABASE: 'drill_login', PGPASSWORD: 'wrong' });
    expect(result.code).toBe(1);
    expect(lastLine(result.stderr)).toMatch(
      /^pgproof restore failed: cannot log in to PostgreSQL at 127\.0\.0\.1:\d+ as "postgres": password authentication failed for user "postgres"; check the user and password \(PGUSER\/PGPASSWORD, or the database's secret\) \(report: drills\/shop\//,
    );
    expect(dumpRequests(before)).toEqual([]);
    const report = await reportOf(result);
    expect(report.durations.downloadSeconds).toBe(0);
    expect(report.checks).toEqual([]);
    console.info(`a wrong password fails after ${report.durations.totalSeconds} s, before any download`);
  });

  it('fails a backup needing an extension the scratch server lacks before any download, naming it and the config field', async () => {
    const manifestKey = await copyBackup('20261104T020000Z', {
      manifest: (m) => {
        m.inventory = {
          ...(m.inventory ?? {
            sequences: [],
            largeObjects: { count: 0, hash: '0', owners: [] },
            materializedViews: [],
            constraints: [],
            owners: [],
            sharedPreloadLibraries: '',
            objectCounts: [],
          }),
          extensions: [
            { name: 'plpgsql', version: '1.0', schema: 'pg_catalog' },
            { name: 'postgis', version: '3.4.2', schema: 'public' },
          ],
        };
      },
    });
    const before = s3.requests.length;
    const result = await restore({ MANIFEST_KEY: manifestKey, PGDATABASE: 'drill_postgis' });
    expect(result.code).toBe(1);
    expect(lastLine(result.stderr)).toMatch(
      /^pgproof restore failed: the drill's scratch server \(PostgreSQL 15\.\d+\) lacks extension\(s\) backup 20261104T020000Z of "shop" needs: postgis; set drill\.postgresImage of database "shop" in the deployment config to a PostgreSQL 15 image that has them \(nothing was downloaded\)/,
    );
    expect(dumpRequests(before)).toEqual([]);
  });

  it('refuses to restore into a non-empty database in restore mode, exit 1, before the download, unless told to clean it', async () => {
    const before = s3.requests.length;
    const refused = await restore({ RESTORE_MODE: 'restore', BACKUP_NAME: 'shop', PGDATABASE: 'shop' });
    expect(dumpRequests(before)).toEqual([]);
    expect(refused.code).toBe(1);
    expect(lastLine(refused.stderr)).toMatch(
      /database "shop" on 127\.0\.0\.1:\d+ is not empty \(\d+ tables, views or sequences\): restoring into it would mix data; restore into an empty database, or set RESTORE_CLEAN=true/,
    );
    expect((await reportOf(refused)).error).toMatch(/is not empty/);

    const cleaned = await restore({
      RESTORE_MODE: 'restore',
      RESTORE_CLEAN: 'true',
      BACKUP_NAME: 'shop',
      PGDATABASE: 'shop',
    });
    expect(cleaned.stderr).toBe('');
    expect(cleaned.code).toBe(0);
    expect((await reportOf(cleaned)).mode).toBe('restore');
  });

  it('restores as a user that is not a superuser (an RDS master user), reporting the ownership it could not give', async () => {
    await pg.query(
      'postgres',
      "DO $$ BEGIN CREATE ROLE rds_master LOGIN CREATEDB CREATEROLE PASSWORD 'master-secret'; EXCEPTION WHEN duplicate_object THEN NULL; END $$",
    );
    const result = await restore({
      RESTORE_MODE: 'restore',
      BACKUP_NAME: 'shop',
      PGDATABASE: 'as_master',
      PGUSER: 'rds_master',
      PGPASSWORD: 'master-secret',
    });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const report = await reportOf(result);
    expect(report.passed).toBe(true);
    expect(report.tables.every((t) => t.hashMatched && t.rows === t.expectedRows)).toBe(true);
    const notGiven = report.ignoredErrors?.filter((e) => e.rule === 'owner-not-given') ?? [];
    expect(notGiven.map((e) => e.message).sort()).toEqual([
      'must be member of role "pgproof_app_owner"',
      'must be member of role "postgres"',
    ]);
    const [owner] = await pg.query<{ owner: string }>(
      'as_master',
      "SELECT tableowner AS owner FROM pg_tables WHERE tablename = 'audit_log'",
    );
    expect(owner?.owner).toBe('rds_master');
  });

  it("notes, without failing, a source's preloaded libraries that the restoring user may not check", async () => {
    const manifestKey = await copyBackup('20261105T020000Z', {
      manifest: (m) => {
        if (m.inventory) m.inventory.sharedPreloadLibraries = 'pg_stat_statements';
      },
    });
    const result = await restore({
      RESTORE_MODE: 'restore',
      MANIFEST_KEY: manifestKey,
      PGDATABASE: 'as_master_preload',
      PGUSER: 'rds_master',
      PGPASSWORD: 'master-secret',
    });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect((await reportOf(result)).preflight?.notes).toEqual([
      'the source preloads pg_stat_statements (shared_preload_libraries); "rds_master" may not read this server\'s setting (it needs pg_read_all_settings), so whether it preloads them is unknown',
    ]);
  });

  it('refuses a manifest whose dump.key points at another database, before downloading a byte', async () => {
    // Another database's dump, named by a manifest in shop's folder: a drill must never read it.
    const manifestKey = await copyBackup('20261103T020000Z', {
      manifest: (m) => {
        m.dump.key = 'billing/20261103T020000Z/dump.pgdump';
      },
    });
    const requestsBefore = s3.requests.length;
    const result = await restore({ MANIFEST_KEY: manifestKey, PGDATABASE: 'drill_foreign' });
    expect(result.code).toBe(1);
    expect(lastLine(result.stderr)).toBe(
      `pgproof restore failed: manifest ${manifestKey} does not belong where it is: its dump.key is "billing/20261103T020000Z/dump.pgdump", not "shop/20261103T020000Z/dump.pgdump"; it was not written there by pgproof: restore another backup, and find out who wrote it`,
    );
    expect(s3.requests.slice(requestsBefore).filter((r) => r.path.includes('dump.pgdump'))).toEqual([]);
  });

  it('fails with exit 1 and a clear message when the database has no backup', async () => {
    const result = await restore({ BACKUP_NAME: 'nothing', PGDATABASE: 'drill_none' });
    expect(result.code).toBe(1);
    expect(lastLine(result.stderr)).toBe(
      `pgproof restore failed: database "nothing" has no backup in s3://${s3.bucket}/nothing/ (no manifest.json); check the name, or run a backup first`,
    );
  });

  it('rejects an invalid environment, naming every problem', async () => {
    const result = await runScript(RESTORE_RUNNER, { RESTORE_JOBS: 'many', CHECKS_JSON: '[{"name":"x"}]' });
    expect(result.code).toBe(1);
    expect(lastLine(result.stderr)).toBe(
      'pgproof restore failed: invalid environment: BACKUP_BUCKET is required: set it to the backup bucket name; RESTORE_JOBS must be a whole number; CHECKS_JSON must be a list of { "name": "...", "sql": "..." } (Invalid input: expected string, received undefined)',
    );
  });
});
