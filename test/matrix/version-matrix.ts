import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseRestoreReport, type RestoreReport } from '../../core/drill-report.ts';
import { backupKeys } from '../../core/layout.ts';
import { type Manifest, parseManifest } from '../../core/manifest.ts';
import { clientVersion } from '../../engines/backup/pg-tools.ts';
import { toolchain } from '../../local/toolchain.ts';
import { embeddedBinDir, type PgCluster, startPostgres } from '../support/postgres.ts';
import { lastLine, type ProcessResult, startProcess } from '../support/processes.ts';
import { type S3Server, startS3 } from '../support/s3.ts';
import { seedRichDatabase } from '../support/seed.ts';

/**
 * The version matrix: for each server major, with one client, what production does end to end —
 * a backup with VERIFY=checksums of the richest sample database, a drill into a fresh server of the same
 * major, a restore into the newest major (the upgrade path), and a drill of the same backup with one
 * byte of its dump changed. The runners are the esbuild bundles the image runs, as plain processes.
 */

/** The client programs of one matrix column. */
export interface MatrixClient {
  /** What the table calls it, e.g. `18.6 (production)`. */
  readonly label: string;
  /** Folder of pg_dump, pg_dumpall, pg_restore and psql. */
  readonly binDir: string;
}

/** One measured step, for the table printed after the file's runs. */
interface MatrixResult {
  readonly server: string;
  readonly client: string;
  readonly step: string;
  readonly result: string;
  readonly seconds: number;
}

/** Benign-error rules a drill may report, by whether the target is before 17 and the client 17+. */
function expectedIgnoredRules(targetMajor: number, clientMajor: number): string[] {
  const rules = ['role-already-exists'];
  if (targetMajor < 17 && clientMajor >= 17) rules.push('transaction-timeout-before-17');
  return rules.sort();
}

/** Registers the matrix's tests for `client` against each of `serverMajors`. */
export function describeVersionMatrix(client: MatrixClient, serverMajors: readonly number[]): void {
  const newest = Math.max(...toolchain.postgresServerMajors);
  const results: MatrixResult[] = [];
  let dist: string;
  let s3: S3Server;
  let upgradeTarget: PgCluster;
  let clientMajor: number;

  beforeAll(async () => {
    dist = mkdtempSync(join(tmpdir(), 'pgproof-matrix-dist-'));
    execFileSync(process.execPath, ['containers/build.mjs', dist]);
    [s3, upgradeTarget] = await Promise.all([startS3(), startPostgres({ binDir: embeddedBinDir(newest) })]);
    clientMajor = (await clientVersion(join(client.binDir, 'pg_dump'))).major;
  });
  afterAll(async () => {
    await Promise.all([s3?.stop(), upgradeTarget?.stop()]);
    rmSync(dist, { recursive: true, force: true });
    console.log(
      [
        `version matrix, client ${client.label}:`,
        '| server | client | step | result | seconds |',
        '| --- | --- | --- | --- | ---: |',
        ...results.map(
          (r) => `| ${r.server} | ${r.client} | ${r.step} | ${r.result} | ${r.seconds.toFixed(2)} |`,
        ),
      ].join('\n'),
    );
  });

  /** Runs a bundled runner with the column's client, timing it. */
  const runBundle = async (
    bundle: 'pg-dump' | 'pg-restore',
    env: Record<string, string>,
  ): Promise<{ result: ProcessResult; seconds: number }> => {
    const started = performance.now();
    const result = await startProcess(
      process.execPath,
      [join(dist, `${bundle}.mjs`)],
      { ...s3.env, ...env, PG_BIN_DIR: client.binDir },
      dist,
    ).result;
    return { result, seconds: (performance.now() - started) / 1000 };
  };

  for (const major of serverMajors) {
    describe(`PostgreSQL ${major} server, ${client.label} client`, () => {
      let source: PgCluster;
      let scratch: PgCluster;
      let manifest: Manifest;
      let sourceVersion = String(major);
      const name = `m${major}`;
      const backupId = '20261127T020000Z';
      const record = (step: string, passed: boolean, seconds: number) =>
        results.push({
          server: sourceVersion,
          client: client.label,
          step,
          result: passed ? 'passed' : 'FAILED',
          seconds,
        });

      beforeAll(async () => {
        const binDir = embeddedBinDir(major);
        [source, scratch] = await Promise.all([startPostgres({ binDir }), startPostgres({ binDir })]);
        await seedRichDatabase(source, 'shop');
        const [row] = await source.query<{ v: string }>(
          'postgres',
          "SELECT current_setting('server_version') AS v",
        );
        sourceVersion = row?.v.split(' ')[0] ?? sourceVersion;
      });
      afterAll(async () => {
        await Promise.all([source?.stop(), scratch?.stop()]);
      });

      const drill = async (
        target: PgCluster,
        database: string,
      ): Promise<{ report: RestoreReport; code: number | null; stderr: string; seconds: number }> => {
        const { result, seconds } = await runBundle('pg-restore', {
          ...target.env(database),
          BACKUP_NAME: name,
          BACKUP_ID: backupId,
          RESTORE_JOBS: '2',
        });
        const report = parseRestoreReport(lastLine(result.stdout), 'stdout');
        return { report, code: result.code, stderr: result.stderr, seconds };
      };

      it('backs up with VERIFY=checksums', async () => {
        const { result, seconds } = await runBundle('pg-dump', {
          ...source.env('shop'),
          BACKUP_NAME: name,
          BACKUP_ID: backupId,
          VERIFY: 'checksums',
        });
        record('backup', result.code === 0, seconds);
        expect(result.stderr).toBe('');
        expect(result.code).toBe(0);
        manifest = parseManifest((await s3.get(backupKeys('', name, backupId).manifest)).toString(), name);
        expect(manifest.server.versionNum).toBeGreaterThanOrEqual(major * 10000);
        expect(manifest.pgDump.version.split('.')[0]).toBe(String(clientMajor));
        expect(manifest.dump.compression).toBe(clientMajor >= 16 ? 'zstd:1' : 'gzip:1');
        expect(manifest.tables.map((t) => `${t.schema}.${t.name}`)).toEqual(
          expect.arrayContaining(['sales.invoices', 'sales.measurements_2026h1', 'sales.orders']),
        );
        expect(manifest.tables.every((t) => t.hash !== undefined)).toBe(true);
      });

      it('passes its drill into a fresh server of the same major', async () => {
        const { report, code, stderr, seconds } = await drill(scratch, 'shop');
        record(`drill into ${major}`, report.passed, seconds);
        expect(stderr).toBe('');
        expect(report.error).toBeUndefined();
        expect(report.checks.filter((c) => !c.passed)).toEqual([]);
        expect(code).toBe(0);
        expect(report.tables).toHaveLength(manifest.tables.length);
        expect(report.tables.every((t) => t.hashMatched === true)).toBe(true);
        expect([...new Set((report.ignoredErrors ?? []).map((e) => e.rule))].sort()).toEqual(
          expectedIgnoredRules(major, clientMajor),
        );
      });

      it(`passes a restore into PostgreSQL ${newest} (the upgrade path)`, async () => {
        const { report, code, stderr, seconds } = await drill(upgradeTarget, `upgrade_${major}`);
        record(`restore into ${newest}`, report.passed, seconds);
        expect(stderr).toBe('');
        expect(report.checks.filter((c) => !c.passed)).toEqual([]);
        expect(code).toBe(0);
        expect(report.target.serverVersion?.split('.')[0]).toBe(String(newest));
        expect(report.tables.every((t) => t.hashMatched === true)).toBe(true);
        expect((report.ignoredErrors ?? []).map((e) => e.rule)).not.toContain(
          'transaction-timeout-before-17',
        );
      });

      it('fails the drill of the same backup with one byte of its dump changed, exit 2', async () => {
        const dump = await s3.get(manifest.dump.key);
        const at = Math.floor(dump.length / 2);
        dump[at] = (dump[at] ?? 0) ^ 0xff;
        await s3.client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: manifest.dump.key, Body: dump }));
        const { report, code, stderr, seconds } = await drill(scratch, 'tampered');
        record('drill of a tampered dump fails', !report.passed && code === 2, seconds);
        expect(stderr).toMatch(/^pgproof restore failed: checks failed: checksum \(report: drills\/m\d+\//);
        expect(code).toBe(2);
        expect(report.checks.map((c) => [c.name, c.passed])).toEqual([['checksum', false]]);
        const [restored] = await scratch.query<{ n: string }>(
          'postgres',
          "SELECT count(*) AS n FROM pg_database WHERE datname = 'tampered'",
        );
        expect(Number(restored?.n)).toBe(0);
      });
    });
  }
}
