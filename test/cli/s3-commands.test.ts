import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AwsClients } from '../../cli/aws.ts';
import { runCli } from '../../cli/main.ts';
import { backupKeys } from '../../core/layout.ts';
import { recordOutput } from '../support/cli-output.ts';
import { type MotoServer, startMoto } from '../support/moto.ts';
import { type PgCluster, startPostgres, systemBinDir } from '../support/postgres.ts';
import { runScript } from '../support/processes.ts';
import { seedVariedDatabase } from '../support/seed.ts';

/**
 * `list`, `verify` and `restore` against the real PostgreSQL and moto's S3 (versioned, as production's
 * bucket is, so the versions a manifest names are what is read).
 */
describe('pgproof list, verify and restore', () => {
  let cluster: PgCluster;
  let s3: MotoServer;
  const GOOD = '20261120T020000Z';
  const OLDER = '20261119T020000Z';
  const TAMPERED = '20261121T020000Z';
  /** A backup of its own name (so `shop`'s listing stays as it is) whose dump key has a newer version. */
  const PINNED = backupKeys('', 'shop_pinned', GOOD);
  let pinnedDump: Buffer;

  beforeAll(async () => {
    [cluster, s3] = await Promise.all([startPostgres(), startMoto()]);
    await seedVariedDatabase(cluster, 'shop', 1_000);
    for (const [id, tier] of [
      [OLDER, 'weekly'],
      [GOOD, 'daily'],
    ] as const) {
      const result = await runScript('containers/pg-dump/main.ts', {
        ...cluster.env('shop'),
        ...s3.env,
        BACKUP_ID: id,
        BACKUP_TIER: tier,
      });
      expect(result.code, result.stderr).toBe(0);
    }
    // The tampered backup: a copy of the good one whose dump differs in one byte.
    const good = backupKeys('', 'shop', GOOD);
    const bad = backupKeys('', 'shop', TAMPERED);
    const dump = await s3.get(good.dump);
    const middle = Math.floor(dump.length / 2);
    dump.writeUInt8((dump.readUInt8(middle) + 1) % 256, middle);
    const written = await s3.client.send(
      new PutObjectCommand({ Bucket: s3.bucket, Key: bad.dump, Body: dump }),
    );
    const manifest = JSON.parse((await s3.get(good.manifest)).toString());
    manifest.backupId = TAMPERED;
    manifest.dump.key = bad.dump;
    manifest.dump.versionId = written.VersionId;
    manifest.globals = null;
    await s3.client.send(
      new PutObjectCommand({ Bucket: s3.bucket, Key: bad.manifest, Body: JSON.stringify(manifest) }),
    );
    await s3.client.send(
      new PutObjectCommand({
        Bucket: s3.bucket,
        Key: `drills/shop/${OLDER}/20261119T100000Z.json`,
        Body: JSON.stringify({ passed: true }),
      }),
    );
    // The pinned backup, then the tampered dump put over its dump as a newer version.
    const pinned = await runScript('containers/pg-dump/main.ts', {
      ...cluster.env('shop'),
      ...s3.env,
      BACKUP_NAME: 'shop_pinned',
      BACKUP_ID: GOOD,
    });
    expect(pinned.code, pinned.stderr).toBe(0);
    pinnedDump = await s3.get(PINNED.dump);
    await s3.client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: PINNED.dump, Body: dump }));
  });
  afterAll(async () => {
    await Promise.all([cluster?.stop(), s3?.stop()]);
  });

  /** Runs the CLI with `--bucket`: S3-only commands need no stack. */
  async function cli(...args: string[]) {
    const output = recordOutput(args.includes('--json'));
    const clients = { s3: s3.client } as unknown as AwsClients;
    const code = await runCli([...args, '--bucket', s3.bucket], { output, clients: () => clients });
    return { code, ...output };
  }

  it('lists backups newest first with tier, size, age and last drill', async () => {
    const { code, stdout } = await cli('list', 'shop');
    expect(code).toBe(0);
    expect(stdout[0]).toMatch(/^BACKUP\s+TIER\s+SIZE\s+AGE\s+LAST DRILL$/);
    expect(stdout.slice(1).map((l) => l.split(/\s{2,}/)[0])).toEqual([TAMPERED, GOOD, OLDER]);
    expect(stdout[2]).toMatch(new RegExp(`^${GOOD}\\s+daily\\s+\\d+(\\.\\d)? KB\\s+\\S+\\s+never drilled$`));
    expect(stdout[3]).toMatch(/weekly .* passed .* ago$/);
  });

  it('lists as JSON for scripts', async () => {
    const { code, stdout } = await cli('list', 'shop', '--json', '--limit', '2');
    expect(code).toBe(0);
    const listed = JSON.parse(stdout.join('\n'));
    expect(listed.map((b: { backupId: string }) => b.backupId)).toEqual([TAMPERED, GOOD]);
    expect(listed[1]).toMatchObject({ tier: 'daily', bytes: expect.any(Number), lastDrill: null });
  });

  it('says how to take the first backup of a database that has none', async () => {
    const { code, stderr } = await cli('list', 'nothing');
    expect(code).toBe(0);
    expect(stderr).toEqual([
      `no backup of nothing yet under s3://${s3.bucket}/nothing/: take one with \`pgproof backup nothing\``,
    ]);
  });

  it('verifies a good backup: checksum and archive contents', async () => {
    const { code, stdout } = await cli('verify', 'shop', '--backup', GOOD);
    expect(code).toBe(0);
    expect(stdout[0]).toBe(`VERIFIED: shop backup ${GOOD} (s3://${s3.bucket}/shop/${GOOD}/manifest.json)`);
    expect(stdout[1]).toMatch(/^ {2}ok {3}checksum: /);
    expect(stdout[2]).toMatch(/^ {2}ok {3}archive: readable: \d+ entries, 6 with table data$/);
  });

  it('rejects a tampered backup in verify, naming the checksum', async () => {
    const { code, stdout } = await cli('verify', 'shop');
    expect(code).toBe(2);
    expect(stdout[0]).toMatch(new RegExp(`^FAILED: shop backup ${TAMPERED}`));
    expect(stdout[1]).toMatch(
      /^ {2}FAIL checksum: shop\/20261121T020000Z\/dump.pgdump has SHA-256 [0-9a-f]{64}, the manifest says [0-9a-f]{64}: the object was changed/,
    );
  });

  it('restores into any PostgreSQL and verifies every table', async () => {
    await cluster.createDatabase('shop_copy');
    const { code, stdout } = await cli('restore', 'shop', '--backup', GOOD, '--to', cluster.url('shop_copy'));
    expect(code, stdout.join('\n')).toBe(0);
    expect(stdout[0]).toMatch(new RegExp(`^Restore PASSED: shop backup ${GOOD} \\(daily, `));
    expect(stdout.join('\n')).toMatch(/ok\s+sales\.orders\s+2000\s+2000/);
    const [row] = await cluster.query<{ n: string }>('shop_copy', 'SELECT count(*) AS n FROM sales.orders');
    expect(Number(row?.n)).toBe(2_000);
  });

  it("creates the backup's missing roles only with --globals, naming the flag when owners are missing", async () => {
    const fresh = await startPostgres();
    try {
      await fresh.createDatabase('shop');
      const without = await cli('restore', 'shop', '--backup', GOOD, '--to', fresh.url('shop'));
      expect(without.code).toBe(2);
      expect(without.stdout.join('\n')).toMatch(
        /FAIL restore: pg_restore reported \d+ error\(s\): .*role "pgproof_app_owner" does not exist.*; the backup's roles were not created: pass --globals to create those the target lacks \(it never changes a role it has\)/,
      );
      await fresh.createDatabase('shop');
      const withGlobals = await cli(
        'restore',
        'shop',
        '--backup',
        GOOD,
        '--to',
        fresh.url('shop'),
        '--globals',
      );
      expect(withGlobals.code, withGlobals.stdout.join('\n')).toBe(0);
      const roles = await fresh.query(
        'postgres',
        "SELECT 1 FROM pg_roles WHERE rolname = 'pgproof_app_owner'",
      );
      expect(roles).toHaveLength(1);
    } finally {
      await fresh.stop();
    }
  });

  it('never changes a role the target already has, even with --globals', async () => {
    await cluster.query('postgres', 'ALTER ROLE pgproof_app_owner NOLOGIN CONNECTION LIMIT 3');
    await cluster.createDatabase('shop_roles');
    const { code, stdout } = await cli(
      'restore',
      'shop',
      '--backup',
      GOOD,
      '--to',
      cluster.url('shop_roles'),
      '--globals',
      '--json',
    );
    expect(code).toBe(0);
    const globals = JSON.parse(stdout.join('\n')).checks.find((c: { name: string }) => c.name === 'globals');
    expect(globals).toMatchObject({ passed: true });
    expect(globals.detail).toMatch(/kept as they were: .*pgproof_app_owner/);
    const [role] = await cluster.query<{ login: boolean; limit: number }>(
      'postgres',
      "SELECT rolcanlogin AS login, rolconnlimit AS limit FROM pg_roles WHERE rolname = 'pgproof_app_owner'",
    );
    expect(role).toEqual({ login: false, limit: 3 });
  });

  it('restores only the tables asked for', async () => {
    await cluster.createDatabase('shop_one');
    const { code, stdout } = await cli(
      'restore',
      'shop',
      '--backup',
      GOOD,
      '--table',
      'public.customers',
      '--to',
      cluster.url('shop_one'),
      '--json',
    );
    expect(code).toBe(0);
    const report = JSON.parse(stdout.join('\n'));
    expect(report.tables.map((t: { name: string }) => t.name)).toEqual(['customers']);
    const tables = await cluster.query<{ name: string }>(
      'shop_one',
      "SELECT table_schema || '.' || table_name AS name FROM information_schema.tables WHERE table_schema NOT IN ('pg_catalog', 'information_schema')",
    );
    expect(tables.map((t) => t.name)).toEqual(['public.customers']);
  });

  it('fails a --table that matches nothing in the backup, naming it in the words typed', async () => {
    await cluster.createDatabase('shop_none');
    const { code, stdout } = await cli(
      'restore',
      'shop',
      '--backup',
      GOOD,
      '--table',
      'public.custmers',
      '--to',
      cluster.url('shop_none'),
    );
    expect(code).toBe(1);
    expect(stdout.join('\n')).toMatch(
      /--table "public\.custmers" matches nothing in backup 20261120T020000Z of "shop"; nothing was restored: check the names \(exact, case included; schema\.table\): its tables are /,
    );
    const tables = await cluster.query('shop_none', "SELECT 1 FROM pg_tables WHERE schemaname = 'public'");
    expect(tables).toEqual([]);
  });

  it('refuses a non-empty target unless told to clean it', async () => {
    const { code, stdout } = await cli('restore', 'shop', '--backup', GOOD, '--to', cluster.url('shop_copy'));
    expect(code).toBe(1);
    // In the words the person typed: the CLI's flag, not the runner's environment variable behind it.
    expect(stdout.join('\n')).toMatch(
      /is not empty .*restore into an empty database, or pass --clean to drop/,
    );
    expect(stdout.join('\n')).not.toMatch(/RESTORE_CLEAN/);
    const cleaned = await cli(
      'restore',
      'shop',
      '--backup',
      GOOD,
      '--to',
      cluster.url('shop_copy'),
      '--clean',
    );
    expect(cleaned.code, cleaned.stdout.join('\n')).toBe(0);
  });

  it('refuses, before the download, a local client older than the pg_dump that took the backup, naming what to install', async () => {
    // The backup was taken with the production client (18); Debian's 15 is the workstation's older one.
    const fix =
      /pg_restore 15\.\d+ is older than the pg_dump 18\.\d+ that wrote this backup: install the PostgreSQL 18 client \(Debian\/Ubuntu: postgresql-client-18 from the PostgreSQL apt repository; macOS: brew install libpq\)/;
    await cluster.createDatabase('shop_old_client');
    const restore = await cli(
      'restore',
      'shop',
      '--backup',
      GOOD,
      '--to',
      cluster.url('shop_old_client'),
      '--pg-bin-dir',
      systemBinDir(),
    );
    expect(restore.code).toBe(1);
    expect(restore.stdout.join('\n')).toMatch(fix);
    expect(restore.stdout.join('\n')).not.toMatch(/downloading|FAIL checksum/);
    const tables = await cluster.query(
      'shop_old_client',
      "SELECT 1 FROM pg_tables WHERE schemaname = 'public'",
    );
    expect(tables).toEqual([]);

    const verify = await cli('verify', 'shop', '--backup', GOOD, '--pg-bin-dir', systemBinDir());
    expect(verify.code).toBe(1);
    expect(verify.stderr.join('\n')).toMatch(fix);
  });

  it('fails a wrong login in --to naming --to, not the variables behind it', async () => {
    const url = cluster.url('shop_login').replace(`:${cluster.password}@`, ':wrong-password@');
    const { code, stdout } = await cli('restore', 'shop', '--backup', GOOD, '--to', url);
    expect(code).toBe(1);
    expect(stdout.join('\n')).toMatch(
      /cannot log in to PostgreSQL at 127\.0\.0\.1:\d+ as "postgres": .*; check the user in --to and the password \(PGPASSWORD or ~\/\.pgpass\)/,
    );
    expect(stdout.join('\n')).not.toMatch(/PGUSER|wrong-password/);
  });

  it('verifies TLS by default: refuses a server without it unless --to says sslmode=disable', async () => {
    await cluster.createDatabase('shop_tls');
    const plain = cluster.url('shop_tls').replace('?sslmode=disable', '');
    const { code, stdout } = await cli('restore', 'shop', '--backup', GOOD, '--to', plain);
    expect(code).toBe(1);
    expect(stdout.join('\n')).toMatch(
      /error: PostgreSQL at 127\.0\.0\.1:\d+ does not offer TLS, and pgproof verifies TLS by default; add \?sslmode=disable to --to to connect without it, on a network you trust/,
    );
    const tables = await cluster.query('shop_tls', "SELECT 1 FROM pg_tables WHERE schemaname = 'public'");
    expect(tables).toEqual([]);
  });

  it('warns about a password in --to and never hands it to pg_restore on its command line', async () => {
    await cluster.createDatabase('shop_argv');
    const { code, stdout, stderr } = await cli(
      'restore',
      'shop',
      '--backup',
      GOOD,
      '--to',
      cluster.url('shop_argv'),
      '--json',
    );
    expect(code).toBe(0);
    expect(stderr).toContain(
      'pgproof: warning: --to holds a password, which your shell history and the process list can show; leave it out and use PGPASSWORD or ~/.pgpass',
    );
    const restore = JSON.parse(stdout.join('\n')).checks.find((c: { name: string }) => c.name === 'restore');
    expect(restore.detail).toMatch(/^pg_restore --no-password /);
    expect(restore.detail).not.toContain(cluster.password);
  });

  it('rejects a tampered backup in restore before restoring anything', async () => {
    await cluster.createDatabase('shop_bad');
    const { code, stdout } = await cli('restore', 'shop', '--to', cluster.url('shop_bad'));
    expect(code).toBe(2);
    expect(stdout[0]).toMatch(new RegExp(`^Restore FAILED: shop backup ${TAMPERED}`));
    expect(stdout.join('\n')).toMatch(/FAIL checksum/);
    const tables = await cluster.query('shop_bad', "SELECT 1 FROM pg_tables WHERE schemaname = 'public'");
    expect(tables).toEqual([]);
  });

  it('verifies and restores the dump version the manifest names, not a newer one put at its key', async () => {
    // The bucket's current version is the tampered one; the manifest's is the original.
    const manifest = JSON.parse((await s3.get(PINNED.manifest)).toString());
    expect(
      (await s3.versions(PINNED.dump)).map((v) => [v.versionId === manifest.dump.versionId, v.isLatest]),
    ).toEqual([
      [false, true],
      [true, false],
    ]);
    expect((await s3.get(PINNED.dump)).equals(pinnedDump)).toBe(false);
    const verified = await cli('verify', 'shop_pinned', '--backup', GOOD);
    expect(verified.code, verified.stdout.join('\n')).toBe(0);
    expect(verified.stdout[1]).toBe(
      `  ok   checksum: ${PINNED.dump}: ${pinnedDump.length} bytes, SHA-256 ${manifest.dump.sha256} as in the manifest; ${PINNED.globals}: ${manifest.globals.bytes} bytes, SHA-256 ${manifest.globals.sha256} as in the manifest`,
    );
    await cluster.createDatabase('shop_pinned_copy');
    const restored = await cli('restore', 'shop_pinned', '--to', cluster.url('shop_pinned_copy'));
    expect(restored.code, restored.stdout.join('\n')).toBe(0);
    expect(restored.stdout[0]).toMatch(new RegExp(`^Restore PASSED: shop_pinned backup ${GOOD} \\(daily, `));
  });

  it('rejects bad command lines with the fix', async () => {
    expect((await cli('restore', 'shop')).stderr).toEqual([
      'pgproof: `pgproof restore` needs --to postgres://user@host:5432/database',
    ]);
    expect((await cli('restore', 'shop', '--to', 'mysql://x/y')).stderr).toEqual([
      'pgproof: --to must be a postgres:// URL, got mysql://...',
    ]);
  });

  it('rejects a --bucket that does not exist, in the words of the flag', async () => {
    const output = recordOutput();
    const clients = { s3: s3.client } as unknown as AwsClients;
    const code = await runCli(['list', 'shop', '--bucket', 'no-such-bucket'], {
      output,
      clients: () => clients,
    });
    expect(code).toBe(1);
    expect(output.stderr).toEqual(['pgproof: bucket "no-such-bucket" does not exist; check the bucket name']);
  });

  it('lists the backups even when a drill report has no verdict, naming the report and the fix', async () => {
    const manifest = JSON.parse((await s3.get(backupKeys('', 'shop', GOOD).manifest)).toString());
    await s3.client.send(
      new PutObjectCommand({
        Bucket: s3.bucket,
        Key: backupKeys('', 'odd', GOOD).manifest,
        // A manifest believed only about its own place: its name and keys are odd's.
        Body: JSON.stringify({
          ...manifest,
          name: 'odd',
          dump: { ...manifest.dump, key: backupKeys('', 'odd', GOOD).dump },
          globals: manifest.globals && { ...manifest.globals, key: backupKeys('', 'odd', GOOD).globals },
        }),
      }),
    );
    await s3.client.send(
      new PutObjectCommand({
        Bucket: s3.bucket,
        Key: `drills/odd/${GOOD}/20261121T100000Z.json`,
        Body: '{"verdict":"ok"}',
      }),
    );
    const { code, stdout, stderr } = await cli('list', 'odd');
    expect(code).toBe(0);
    expect(stdout[1]).toMatch(new RegExp(`^${GOOD}\\s+daily\\s+.*UNREADABLE report .* ago$`));
    expect(stderr).toEqual([
      `pgproof: drill report s3://${s3.bucket}/drills/odd/${GOOD}/20261121T100000Z.json is not what pgproof expects at passed: Invalid input: expected boolean, received undefined; it was not written by a pgproof drill; remove or replace it`,
    ]);
  });

  it('says when there is no backup yet', async () => {
    const { code, stderr } = await cli('verify', 'nothing');
    expect(code).toBe(1);
    expect(stderr[0]).toMatch(
      /^pgproof: database "nothing" has no backup in s3:\/\/backups\/nothing\/ \(no manifest.json\); check the name, or run a backup first$/,
    );
  });
});
