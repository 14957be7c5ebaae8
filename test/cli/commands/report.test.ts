import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AwsClients } from '../../../cli/aws.ts';
import { runCli } from '../../../cli/main.ts';
import { LEDGER_CSV_COLUMNS, ledgerSchema } from '../../../core/ledger.ts';
import { recordOutput } from '../../support/cli-output.ts';
import { type S3Server, startS3 } from '../../support/s3.ts';
import { putSimulatedMonthOfDrills } from '../../support/simulated-drills.ts';

/** `pgproof report` on the harness's S3 server, over a simulated month of drills of two databases. */
describe('pgproof report', () => {
  let s3: S3Server;
  let work: string;

  beforeAll(async () => {
    [s3, work] = await Promise.all([startS3(), mkdtemp(join(tmpdir(), 'pgproof-ledger-'))]);
    await putSimulatedMonthOfDrills(s3);
    // Another deployment's prefix: one good report, one damaged, one of another month.
    const [good] = await putSimulatedMonthOfDrills(s3, 'damaged/').then((reports) =>
      reports.filter((r) => r.startedAt.startsWith('2026-11-12')),
    );
    const put = (Key: string, Body: string) =>
      s3.client.send(new PutObjectCommand({ Bucket: s3.bucket, Key, Body }));
    await put('damaged/drills/orders/20261113T020000Z/20261113T030000Z.json', '{"passed": tru');
    await put('damaged/drills/orders/20261113T020000Z/20261114T030000Z.json', '{"passed": true}');
    expect(good).toBeDefined();
  });
  afterAll(async () => {
    await Promise.all([s3?.stop(), rm(work, { recursive: true, force: true })]);
  });

  async function cli(...args: string[]) {
    const output = recordOutput(args.includes('--json'));
    const clients = { s3: s3.client } as unknown as AwsClients;
    const code = await runCli(['report', ...args, '--bucket', s3.bucket], { output, clients: () => clients });
    return { code, ...output };
  }

  it("prints the month's ledger: a summary per database and every drill that started in it", async () => {
    const { code, stdout, stderr } = await cli('--month', '2026-11');
    console.info(`pgproof report --month 2026-11\n${stdout.join('\n')}`);
    expect(code, stderr.join('\n')).toBe(0);
    expect(stderr).toEqual([]);
    expect(stdout.slice(0, 6)).toEqual([
      `Evidence ledger 2026-11: drills started 2026-11-01 00:00 to 2026-12-01 00:00 UTC, from s3://${s3.bucket}/drills/`,
      '25 drills of 2 databases: 21 passed, 4 failed',
      '',
      'DATABASE  DRILLS  PASSED  FAILED  DR  RTO MISSED  LAST PASSED                          LONGEST RTO',
      'billing   10      9       1       0   0           2026-11-28 04:31 (20261128T020000Z)  135.1 s (20261125T020000Z)',
      'orders    15      12      3       0   1           2026-11-30 23:58 (20261130T020000Z)  632.6 s (20261124T020000Z)',
    ]);
    const rows = (database: string) => {
      const start = stdout.indexOf(`${database} (seconds)`);
      const end = stdout.indexOf('', start);
      return stdout.slice(start + 2, end === -1 ? undefined : end).map((l) => l.trim().split(/\s{2,}/));
    };
    const billing = rows('billing');
    expect(billing.map((r) => [r[0], r[1], r.at(-1)])).toEqual([
      ['2026-11-01 00:02', '20261031T020000Z', 'passed'],
      ['2026-11-04 04:31', '20261104T020000Z', 'passed'],
      ['2026-11-07 04:31', '20261107T020000Z', 'passed'],
      ['2026-11-10 04:31', '20261110T020000Z', 'passed'],
      ['2026-11-13 04:31', '20261113T020000Z', 'FAILED: public.invoices; sequences'],
      ['2026-11-16 04:31', '20261116T020000Z', 'passed'],
      ['2026-11-19 04:31', '20261119T020000Z', 'passed'],
      ['2026-11-22 04:31', '20261122T020000Z', 'passed'],
      ['2026-11-25 04:31', '20261125T020000Z', 'passed'],
      ['2026-11-28 04:31', '20261128T020000Z', 'passed'],
    ]);
    const orders = rows('orders');
    expect(orders).toHaveLength(15);
    expect(orders.filter((r) => r.at(-1) !== 'passed').map((r) => [r[0], r.at(-1)])).toEqual([
      ['2026-11-10 03:01', 'FAILED: orders_not_empty'],
      [
        '2026-11-18 03:01',
        'FAILED: could not run: cannot reach PostgreSQL at 127.0.0.1:5432 (ECONNREFUSED); check PGHOST/PGPORT and that the network and security groups let this task in',
      ],
      ['2026-11-24 03:01', 'FAILED: RTO missed'],
    ]);
    // The sampled monthly backup of October, 45 days old; the RTO against orders' 600 s.
    expect(orders.find((r) => r[0] === '2026-11-16 03:01')?.slice(1, 7)).toEqual([
      '20261001T020000Z',
      'monthly',
      '1105.0h',
      'drill',
      '6/6',
      expect.stringMatching(/^\d+\.\d\/600$/),
    ]);
    expect(orders.find((r) => r[0] === '2026-11-24 03:01')?.[6]).toBe('632.6/600 MISSED');
  });

  it('lists the reports once and reads only those near the month; one database under its own folder', async () => {
    const requests = async (...args: string[]) => {
      const before = s3.requests.length;
      expect((await cli(...args)).code).toBe(0);
      const made = s3.requests.slice(before).filter((r) => r.method === 'GET');
      return {
        lists: made.filter((r) => 'list-type' in r.query).map((r) => r.query.prefix),
        reads: made.filter((r) => !('list-type' in r.query)).map((r) => r.path.slice(s3.bucket.length + 2)),
      };
    };
    const all = await requests('--month', '2026-11');
    expect(all.lists).toEqual(['drills/']);
    // November's 25, and 4 near its edges whose start decides (29-31 October, 1 December).
    expect(all.reads).toHaveLength(29);
    expect(all.reads).not.toContain('drills/orders/20261202T020000Z/20261202T030000Z.json');
    const one = await requests('--month', '2026-11', '--database', 'billing');
    expect(one.lists).toEqual(['drills/billing/']);
    expect(one.reads.every((key) => key.startsWith('drills/billing/'))).toBe(true);
    expect(one.reads).toHaveLength(12);
  });

  it('prints CSV and JSON with the same rows, and one database with --database', async () => {
    const csv = await cli('--month', '2026-11', '--format', 'csv');
    console.info(`pgproof report --month 2026-11 --format csv\n${csv.stdout.join('\n')}`);
    expect(csv.code).toBe(0);
    expect(csv.stdout[0]).toBe(`${LEDGER_CSV_COLUMNS.join(',')}\r`);
    expect(csv.stdout).toHaveLength(26);
    expect(csv.stdout[1]).toMatch(
      /^billing,2026-11-01T00:02:00\.000Z,2026-11-01T00:0\d:\d\d\.\d{3}Z,20261031T020000Z,daily,22,drill,,true,6,6,0,,134\.1,,,,,24,110\.1,,,,,,12,147\.9,,drills\/billing\/20261031T020000Z\/20261031T235500Z\.json\r$/,
    );

    const json = await cli('--month', '2026-11', '--json');
    const ledger = ledgerSchema.parse(JSON.parse(json.stdout.join('\n')));
    expect(ledger.drills).toHaveLength(25);
    expect(ledger.drills.filter((d) => !d.passed).map((d) => `${d.database} ${d.backupId}`)).toEqual([
      'billing 20261113T020000Z',
      'orders 20261110T020000Z',
      'orders 20261118T020000Z',
      'orders 20261124T020000Z',
    ]);

    const one = await cli('--month', '2026-11', '--database', 'orders', '--format', 'json');
    const orders = ledgerSchema.parse(JSON.parse(one.stdout.join('\n')));
    expect(orders.database).toBe('orders');
    expect(orders.databases.map((s) => [s.database, s.drills, s.passed, s.failed])).toEqual([
      ['orders', 15, 12, 3],
    ]);
  });

  it('writes --out in the format its extension names', async () => {
    const file = join(work, 'november.html');
    const { code, stdout, stderr } = await cli('--month', '2026-11', '--out', file);
    expect(code).toBe(0);
    expect(stdout).toEqual([]);
    expect(stderr).toEqual([`wrote the 2026-11 ledger (25 drills) to ${file}`]);
    const page = await readFile(file, 'utf8');
    expect(page).toMatch(/^<!DOCTYPE html>/);
    expect(page).toContain('<h1>pgproof evidence ledger: 2026-11</h1>');
  });

  it('stores ledger.csv, .json and .html under ledger/<month>/, the page as HTML', async () => {
    const { code, stderr } = await cli('--month', '2026-11', '--store', '--format', 'json');
    expect(code).toBe(0);
    expect(stderr).toEqual([
      `stored s3://${s3.bucket}/ledger/2026-11/ledger.csv`,
      `stored s3://${s3.bucket}/ledger/2026-11/ledger.json`,
      `stored s3://${s3.bucket}/ledger/2026-11/ledger.html`,
    ]);
    expect(await s3.keys('ledger/')).toEqual([
      'ledger/2026-11/ledger.csv',
      'ledger/2026-11/ledger.html',
      'ledger/2026-11/ledger.json',
    ]);
    const stored = ledgerSchema.parse(JSON.parse((await s3.get('ledger/2026-11/ledger.json')).toString()));
    expect(stored.drills).toHaveLength(25);
    expect((await s3.get('ledger/2026-11/ledger.csv')).toString().split('\r\n')).toHaveLength(27);
    const head = await s3.client.send(
      new HeadObjectCommand({ Bucket: s3.bucket, Key: 'ledger/2026-11/ledger.html' }),
    );
    expect(head.ContentType).toBe('text/html; charset=utf-8');
  });

  it('lists a report it cannot read, and goes on', async () => {
    const { code, stdout, stderr } = await cli('--month', '2026-11', '--prefix', 'damaged/');
    expect(code).toBe(0);
    expect(stdout[1]).toBe('25 drills of 2 databases: 21 passed, 4 failed');
    expect(stderr).toEqual([
      'pgproof: drill report damaged/drills/orders/20261113T020000Z/20261113T030000Z.json left out: restore report damaged/drills/orders/20261113T020000Z/20261113T030000Z.json is not valid JSON',
      'pgproof: drill report damaged/drills/orders/20261113T020000Z/20261114T030000Z.json left out: restore report damaged/drills/orders/20261113T020000Z/20261114T030000Z.json is invalid at formatVersion: Invalid input: expected 1',
    ]);
    expect(stdout).toContain('reports that could not be read:');
  });

  it('fails a month without any drill report, naming where it looked and what to do', async () => {
    const { code, stdout, stderr } = await cli('--month', '2025-01');
    expect(code).toBe(1);
    expect(stdout).toEqual([]);
    expect(stderr).toEqual([
      `pgproof: no drill started in 2025-01 (UTC) has a report under s3://${s3.bucket}/drills/: check --month and --bucket/--prefix, or run a drill with \`pgproof drill <database>\``,
    ]);
    const one = await cli('--month', '2026-11', '--database', 'payroll');
    expect(one.code).toBe(1);
    expect(one.stderr[0]).toMatch(/under s3:\/\/backups\/drills\/payroll\/: check --month, --database and/);
  });

  it('rejects a bad command line with the fix', async () => {
    const message = async (...args: string[]) => {
      const { code, stderr } = await cli(...args);
      expect(code).toBe(1);
      return stderr;
    };
    expect(await message()).toEqual([
      'pgproof: `pgproof report` needs --month YYYY-MM, e.g. --month 2026-11',
    ]);
    expect(await message('--month', '2026-13')).toEqual([
      'pgproof: --month must be a month like 2026-11 (YYYY-MM, UTC), got "2026-13"',
    ]);
    expect(await message('--month', '2026-11', '--format', 'xml')).toEqual([
      'pgproof: --format must be one of text, csv, json, html, got "xml"',
    ]);
    expect(await message('--month', '2026-11', '--format', 'csv', '--json')).toEqual([
      'pgproof: --json and --format csv disagree: pass one of them',
    ]);
    expect(await message('--month', '2026-11', '--database', '../x')).toEqual([
      'pgproof: --database "../x" may hold only letters, digits, "_" and "-" (at most 63, starting with a letter or digit), as in pgproof.config.json',
    ]);
    expect(await message('--month', '2026-11', '--database', 'orders', '--store')).toEqual([
      "pgproof: --store keeps the whole month's ledger at ledger/2026-11/: leave out --database (or use --out for one database's)",
    ]);
  });
});
