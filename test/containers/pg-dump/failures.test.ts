import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type KmsServer, startKms } from '../../../local/kms-server.ts';
import { embeddedBinDir, type PgCluster, startPostgres, systemBinDir } from '../../support/postgres.ts';
import { lastLine, type ProcessResult, runScript, startScript } from '../../support/processes.ts';
import { type S3Server, startS3 } from '../../support/s3.ts';
import { s3Operation } from '../../support/s3-requests.ts';
import { seedLargeTable, seedVariedDatabase } from '../../support/seed.ts';

const RUNNER = 'containers/pg-dump/main.ts';

/**
 * Every failure: exit 1, stderr ends with one plain line (before it only JSON log records), no
 * manifest, no multipart upload left open, a failure metric.
 */
async function expectCleanFailure(s3: S3Server, result: ProcessResult, message: RegExp, folder: string) {
  expect(result.code, result.stderr).toBe(1);
  const stderr = result.stderr.trim().split('\n');
  expect(
    stderr.slice(0, -1).every((line) => line.startsWith('{"level":')),
    result.stderr,
  ).toBe(true);
  expect(lastLine(result.stderr)).toMatch(/^pgproof backup failed: /);
  expect(lastLine(result.stderr)).toMatch(message);
  expect(await s3.keys(folder)).not.toContain(`${folder}manifest.json`);
  expect(s3.incompleteUploads()).toEqual([]);
  expect(result.stdout).toContain('"BackupSucceeded":0');
}

describe('backup runner failures', () => {
  let cluster: PgCluster;
  let s3: S3Server;
  beforeAll(async () => {
    [cluster, s3] = await Promise.all([startPostgres(), startS3()]);
    await seedVariedDatabase(cluster, 'shop', 500);
    await seedLargeTable(cluster, 'shop', 40);
  });
  afterAll(async () => {
    await Promise.all([cluster?.stop(), s3?.stop()]);
  });

  const env = (id: string, extra: Record<string, string> = {}) => ({
    ...cluster.env('shop'),
    ...s3.env,
    BACKUP_ID: id,
    ...extra,
  });

  it('fails on a wrong password, naming the login and the fix', async () => {
    const result = await runScript(RUNNER, env('20261110T000001Z', { PGPASSWORD: 'wrong' }));
    await expectCleanFailure(
      s3,
      result,
      /cannot log in to PostgreSQL at 127\.0\.0\.1:\d+ as "postgres": password authentication failed.*check the user and password/,
      'shop/20261110T000001Z/',
    );
  });

  it('fails on a missing database', async () => {
    const result = await runScript(RUNNER, { ...env('20261110T000002Z'), PGDATABASE: 'nope' });
    await expectCleanFailure(
      s3,
      result,
      /database "nope" does not exist on 127\.0\.0\.1:\d+; check PGDATABASE/,
      'nope/',
    );
  });

  it('fails when no server listens, naming host and port', async () => {
    const result = await runScript(RUNNER, env('20261110T000003Z', { PGPORT: '1' }));
    await expectCleanFailure(
      s3,
      result,
      /cannot reach PostgreSQL at 127\.0\.0\.1:1 \(ECONNREFUSED\)/,
      'shop/',
    );
  });

  it('fails with every invalid setting named at once', async () => {
    const result = await runScript(RUNNER, {
      ...cluster.env('shop'),
      VERIFY: 'all',
      RETENTION_DAYS: '-3',
      BACKUP_TIER: 'hourly',
    });
    await expectCleanFailure(s3, result, /^pgproof backup failed: invalid environment: /, 'shop/');
    const line = lastLine(result.stderr);
    for (const problem of [
      'BACKUP_BUCKET is required',
      'BACKUP_TIER must be daily, weekly, monthly or yearly',
      'RETENTION_DAYS must be a whole number of days',
      'VERIFY must be counts, checksums or none',
    ]) {
      expect(line).toContain(problem);
    }
  });

  it('fails when pg_dump exits with an error, quoting it', async () => {
    const result = await runScript(RUNNER, env('20261110T000004Z', { INCLUDE_TABLES: 'no_such_table' }));
    await expectCleanFailure(
      s3,
      result,
      /pg_dump failed \(exit 1\): pg_dump: error: no matching tables were found.*run the backup again/,
      'shop/20261110T000004Z/',
    );
  });

  it('fails when the dump connection is killed mid-dump, aborting the upload', async () => {
    s3.requests.length = 0;
    s3.inject({ when: s3Operation.uploadPart, status: 0, delayMs: 300 });
    try {
      const running = startScript(RUNNER, env('20261110T000005Z'));
      await waitUntil(() => s3.requests.some(s3Operation.uploadPart));
      await cluster.query(
        'postgres',
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'pg_dump'",
      );
      const result = await running.result;
      await expectCleanFailure(
        s3,
        result,
        /pg_dump failed \(exit 1\): pg_dump: error: Dumping the contents of table "blobs" failed.*Error message from server: .*(closed the connection|terminating connection)/,
        'shop/20261110T000005Z/',
      );
      expect(s3.requests.filter(s3Operation.abortMultipartUpload).length).toBeGreaterThanOrEqual(1);
    } finally {
      s3.clearFaults();
    }
  });

  it('fails when S3 refuses a part, aborting the multipart upload', async () => {
    s3.inject({
      when: (r) => s3Operation.uploadPart(r) && r.query.partNumber === '2',
      status: 403,
      code: 'AccessDenied',
    });
    try {
      const result = await runScript(RUNNER, env('20261110T000006Z'));
      await expectCleanFailure(
        s3,
        result,
        /S3 refused multipart upload on s3:\/\/backups\/shop\/20261110T000006Z\/dump\.pgdump \(AccessDenied\); check the role's permissions/,
        'shop/20261110T000006Z/',
      );
      expect(s3.requests.filter(s3Operation.abortMultipartUpload).length).toBeGreaterThanOrEqual(1);
    } finally {
      s3.clearFaults();
    }
  });

  it("fails when S3 refuses a part of a data stream: every pg_dump stopped, every stream's upload aborted", async () => {
    s3.inject({
      when: (r) =>
        s3Operation.uploadPart(r) && r.path.endsWith('/data-1.pgdump') && r.query.partNumber === '2',
      status: 403,
      code: 'AccessDenied',
    });
    try {
      // The 40 MB table is the data stream's; the rest, dump.pgdump's, is under one part.
      const result = await runScript(RUNNER, env('20261110T000016Z', { DUMP_STREAMS: '2' }));
      await expectCleanFailure(
        s3,
        result,
        /S3 refused multipart upload on s3:\/\/backups\/shop\/20261110T000016Z\/data-1\.pgdump \(AccessDenied\); check the role's permissions/,
        'shop/20261110T000016Z/',
      );
      expect(s3.requests.filter(s3Operation.abortMultipartUpload).length).toBeGreaterThanOrEqual(1);
    } finally {
      s3.clearFaults();
    }
  });

  it('fails when the bucket does not exist', async () => {
    const result = await runScript(RUNNER, env('20261110T000007Z', { BACKUP_BUCKET: 'missing-bucket' }));
    await expectCleanFailure(
      s3,
      result,
      /bucket "missing-bucket" does not exist; check the bucket name/,
      'shop/',
    );
  });

  it('fails when S3 is unreachable', async () => {
    const result = await runScript(
      RUNNER,
      env('20261110T000008Z', { AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:1' }),
    );
    await expectCleanFailure(
      s3,
      result,
      /cannot reach S3 for HeadObject on s3:\/\/backups\/shop\/20261110T000008Z\/manifest\.json/,
      'shop/',
    );
  });

  it('stops on SIGTERM mid-upload, aborting the upload', async () => {
    s3.requests.length = 0;
    s3.inject({ when: s3Operation.uploadPart, status: 0, delayMs: 500 });
    try {
      const running = startScript(RUNNER, env('20261110T000009Z'));
      await waitUntil(() => s3.requests.some(s3Operation.uploadPart));
      running.kill('SIGTERM');
      const result = await running.result;
      await expectCleanFailure(
        s3,
        result,
        /stopped by SIGTERM before it finished; nothing was kept/,
        'shop/20261110T000009Z/',
      );
      expect(s3.requests.filter(s3Operation.abortMultipartUpload).length).toBeGreaterThanOrEqual(1);
    } finally {
      s3.clearFaults();
    }
  });

  it('refuses to overwrite an existing backup and leaves it intact', async () => {
    const first = await runScript(RUNNER, env('20261110T000010Z', { INCLUDE_TABLES: 'public.customers' }));
    expect(first.code, first.stderr).toBe(0);
    const manifest = await s3.get('shop/20261110T000010Z/manifest.json');
    const dump = await s3.get('shop/20261110T000010Z/dump.pgdump');
    const before = s3.requests.length;
    const second = await runScript(RUNNER, env('20261110T000010Z'));
    expect(second.code).toBe(1);
    expect(lastLine(second.stderr)).toMatch(
      /a backup already exists at s3:\/\/backups\/shop\/20261110T000010Z\/manifest\.json; backups are never overwritten/,
    );
    expect(s3.requests.slice(before).filter((r) => r.method !== 'GET' && r.method !== 'HEAD')).toEqual([]);
    expect(await s3.get('shop/20261110T000010Z/manifest.json')).toEqual(manifest);
    expect(await s3.get('shop/20261110T000010Z/dump.pgdump')).toEqual(dump);
  });
});

describe('backup runner when the server goes away mid-dump', () => {
  let doomed: PgCluster;
  let s3: S3Server;
  beforeAll(async () => {
    [doomed, s3] = await Promise.all([startPostgres(), startS3()]);
    await doomed.createDatabase('shop');
    await seedLargeTable(doomed, 'shop', 40);
  });
  afterAll(async () => {
    await Promise.all([doomed?.stop(), s3?.stop()]);
  });

  it('fails, aborting the upload, saying the connection was lost', async () => {
    s3.inject({ when: s3Operation.uploadPart, status: 0, delayMs: 300 });
    const running = startScript(RUNNER, { ...doomed.env('shop'), ...s3.env, BACKUP_ID: '20261110T000012Z' });
    await waitUntil(() => s3.requests.some(s3Operation.uploadPart));
    doomed.kill();
    const result = await running.result;
    await expectCleanFailure(
      s3,
      result,
      /(lost the connection to PostgreSQL at 127\.0\.0\.1:\d+ while|pg_dump failed \(exit 1\): .*(server closed the connection|terminating connection))/,
      'shop/20261110T000012Z/',
    );
    expect(s3.requests.filter(s3Operation.abortMultipartUpload).length).toBeGreaterThanOrEqual(1);
  });
});

describe("backup runner against a server newer than its pg_dump (Debian's PostgreSQL 15 client)", () => {
  let newer: PgCluster;
  let s3: S3Server;
  beforeAll(async () => {
    [newer, s3] = await Promise.all([startPostgres({ binDir: embeddedBinDir(18) }), startS3()]);
    await newer.createDatabase('shop');
  });
  afterAll(async () => {
    await Promise.all([newer?.stop(), s3?.stop()]);
  });

  it('fails before dumping, naming both versions', async () => {
    const result = await runScript(RUNNER, {
      ...newer.env('shop'),
      ...s3.env,
      BACKUP_ID: '20261110T000011Z',
      // The production client dumps every server up to its own major; Debian's 15 is the older one here.
      PG_BIN_DIR: systemBinDir(),
    });
    await expectCleanFailure(
      s3,
      result,
      new RegExp(
        `pg_dump 15\\.\\d+ cannot dump PostgreSQL ${newer.major}\\.\\d+: use a PostgreSQL ${newer.major} or newer client`,
      ),
      'shop/',
    );
    expect(s3.requests.filter((r) => r.method === 'PUT' || r.method === 'POST')).toEqual([]);
  });
});

async function waitUntil(condition: () => boolean, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('backup runner with a KMS key that cannot be used', () => {
  let cluster: PgCluster;
  let s3: S3Server;
  let kms: KmsServer;
  const keyArn = 'arn:aws:kms:eu-west-1:111122223333:key/0f0f0f0f-1111-2222-3333-444444444444';
  beforeAll(async () => {
    [cluster, s3, kms] = await Promise.all([startPostgres(), startS3(), startKms()]);
    await cluster.createDatabase('shop');
  });
  afterAll(async () => {
    await Promise.all([cluster?.stop(), s3?.stop(), kms?.stop()]);
  });

  it.each([
    [
      'PendingDeletion',
      'cancel its deletion (kms:CancelKeyDeletion), then enable it; every backup under it depends on it',
    ],
    ['Disabled', 'enable the key'],
  ])('fails in seconds, before dumping, when the key is %s, naming the fix', async (state, fix) => {
    kms.setKeyState(keyArn, state);
    s3.requests.length = 0;
    const result = await runScript(RUNNER, {
      ...cluster.env('shop'),
      ...s3.env,
      ...kms.env,
      KMS_KEY_ID: keyArn,
      BACKUP_ID: '20261110T000021Z',
    });
    expect(result.code).toBe(1);
    expect(lastLine(result.stderr)).toBe(
      `pgproof backup failed: KMS key ${keyArn} is ${state}: no backup can be encrypted with it, so none was started; ${fix}`,
    );
    expect(s3.requests.filter((r) => r.method === 'PUT' || r.method === 'POST')).toEqual([]);
  });
});
