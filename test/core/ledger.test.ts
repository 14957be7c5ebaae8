import { describe, expect, it } from 'vitest';
import { RESTORE_PHASES, type RestoreReport, restoreReportSchema } from '../../core/drill-report.ts';
import {
  buildLedger,
  csvField,
  drMarker,
  LEDGER_CSV_COLUMNS,
  LEDGER_PHASES,
  type LedgerSource,
  ledgerKeys,
  ledgerSchema,
  parseLedgerMonth,
  renderLedgerCsv,
  renderLedgerHtml,
  serializeLedger,
} from '../../core/ledger.ts';
import { simulatedMonthOfDrills } from '../support/simulated-drills.ts';

const NOVEMBER = parseLedgerMonth('2026-11');
if (!NOVEMBER) throw new Error('2026-11 is a month');
const GENERATED = new Date('2026-12-01T06:00:00Z');

function sources(reports: readonly RestoreReport[]): LedgerSource[] {
  return reports.map((report) => ({ key: report.reportKey, report }));
}

function ledgerOf(reports: readonly RestoreReport[], month = NOVEMBER ?? parseLedgerMonth('2026-11')) {
  if (!month) throw new Error('no month');
  return buildLedger({
    month,
    sources: sources(reports),
    generatedAt: GENERATED,
    bucket: 'backups',
    prefix: '',
  });
}

/** One report of the simulated month, changed. */
function oneReport(change: (report: RestoreReport) => RestoreReport): RestoreReport {
  const [first] = simulatedMonthOfDrills().filter((r) => r.startedAt.startsWith('2026-11-12'));
  if (!first) throw new Error('the simulated month drills orders on 2026-11-12');
  return restoreReportSchema.parse(change(structuredClone(first)));
}

describe('evidence ledger', () => {
  it('parses a month as UTC bounds, across the year end, and rejects what is not one', () => {
    expect(parseLedgerMonth('2026-11')).toEqual({
      month: '2026-11',
      from: new Date('2026-11-01T00:00:00Z'),
      to: new Date('2026-12-01T00:00:00Z'),
    });
    expect(parseLedgerMonth('2026-12')?.to).toEqual(new Date('2027-01-01T00:00:00Z'));
    expect(parseLedgerMonth('2027-01')?.from).toEqual(new Date('2027-01-01T00:00:00Z'));
    for (const bad of ['2026-13', '2026-00', '2026-1', '26-11', '2026-11-01', 'November'])
      expect(parseLedgerMonth(bad)).toBeUndefined();
  });

  it('puts the stored ledger under <prefix>ledger/<month>/', () => {
    expect(ledgerKeys('prod/', '2026-11')).toEqual({
      csv: 'prod/ledger/2026-11/ledger.csv',
      json: 'prod/ledger/2026-11/ledger.json',
      html: 'prod/ledger/2026-11/ledger.html',
    });
  });

  it('shows every phase a report can time', () => {
    const fields = LEDGER_PHASES.map((p) => p.field as string);
    for (const { field } of RESTORE_PHASES) expect(fields).toContain(field);
  });

  it('keeps the drills that started in the month, by database then start, with a summary each', () => {
    const ledger = ledgerOf(simulatedMonthOfDrills());
    expect(ledger.drills).toHaveLength(25);
    expect(ledger.drills.every((d) => d.startedAt >= '2026-11-01' && d.startedAt < '2026-12-01')).toBe(true);
    // Planned on 31 October, started on 1 November: November's. Started at 23:59:30 on 31 October: not.
    expect(ledger.drills.filter((d) => d.database === 'billing')[0]?.startedAt).toBe(
      '2026-11-01T00:02:00.000Z',
    );
    expect(ledger.drills.some((d) => d.startedAt === '2026-10-31T23:59:30.000Z')).toBe(false);
    // Started on the 30th, finished in December: November's.
    const last = ledger.drills.filter((d) => d.database === 'orders').at(-1);
    expect(last).toMatchObject({ startedAt: '2026-11-30T23:58:00.000Z', passed: true });
    expect(last?.finishedAt.startsWith('2026-12-01')).toBe(true);
    expect(ledger.databases).toEqual([
      {
        database: 'billing',
        drills: 10,
        passed: 9,
        failed: 1,
        drDrills: 0,
        rtoMissed: 0,
        lastPassed: { startedAt: '2026-11-28T04:31:00.000Z', backupId: '20261128T020000Z' },
        longestRto: { startedAt: '2026-11-25T04:31:00.000Z', backupId: '20261125T020000Z', seconds: 135.1 },
      },
      {
        database: 'orders',
        drills: 15,
        passed: 12,
        failed: 3,
        drDrills: 0,
        rtoMissed: 1,
        lastPassed: { startedAt: '2026-11-30T23:58:00.000Z', backupId: '20261130T020000Z' },
        longestRto: { startedAt: '2026-11-24T03:01:00.000Z', backupId: '20261124T020000Z', seconds: 632.6 },
      },
    ]);
  });

  it('makes a row of a failed drill: its failed checks, its RTO against the target, every phase', () => {
    const ledger = ledgerOf(simulatedMonthOfDrills());
    const failed = ledger.drills.find((d) => d.startedAt.startsWith('2026-11-10') && d.database === 'orders');
    expect(failed).toEqual({
      database: 'orders',
      startedAt: '2026-11-10T03:01:00.000Z',
      finishedAt: expect.any(String),
      backupId: '20261110T020000Z',
      tier: 'daily',
      backupTakenAt: '2026-11-10T02:00:00.000Z',
      backupAgeHours: 1,
      mode: 'drill',
      dr: null,
      passed: false,
      checks: { total: 6, passed: 5, failed: 1, failedNames: ['orders_not_empty'] },
      rto: { seconds: expect.any(Number), targetSeconds: 600, met: false, dominantPhase: 'data' },
      phases: {
        preflight: 0.8,
        download: expect.any(Number),
        restore: expect.any(Number),
        globals: 0.2,
        preData: 1.4,
        data: expect.any(Number),
        postData: expect.any(Number),
        analyze: 3.5,
        verify: expect.any(Number),
        total: expect.any(Number),
      },
      error: null,
      reportKey: 'drills/orders/20261110T020000Z/20261110T030000Z.json',
    });
    // A drill that could not run, and one whose checks passed but took longer than its RTO.
    const orders = ledger.drills.filter((d) => d.database === 'orders');
    expect(orders.find((d) => d.startedAt.startsWith('2026-11-18'))).toMatchObject({
      passed: false,
      checks: { total: 1, failed: 0 },
      error: expect.stringMatching(/^cannot reach PostgreSQL/),
    });
    expect(orders.find((d) => d.startedAt.startsWith('2026-11-24'))).toMatchObject({
      passed: false,
      checks: { failed: 0 },
      rto: { seconds: 632.6, targetSeconds: 600, met: false },
    });
  });

  it('reads reports from before restores were timed by phase: those phases are null, never 0', () => {
    const ledger = ledgerOf(simulatedMonthOfDrills());
    const older = ledger.drills.find((d) => d.startedAt.startsWith('2026-11-04') && d.database === 'orders');
    expect(older?.phases).toMatchObject({
      preflight: null,
      globals: null,
      preData: null,
      data: null,
      postData: null,
      analyze: null,
      download: expect.any(Number),
      restore: expect.any(Number),
      verify: expect.any(Number),
      total: expect.any(Number),
    });
    expect(older?.rto.dominantPhase).toBeNull();
    const line = renderLedgerCsv(ledger)
      .split('\r\n')
      .find((l) => l.includes('20261104T020000Z'));
    const cells = line?.split(',') ?? [];
    expect(cells[LEDGER_CSV_COLUMNS.indexOf('data_seconds')]).toBe('');
    expect(cells[LEDGER_CSV_COLUMNS.indexOf('rto_dominant_phase')]).toBe('');
    expect(renderLedgerHtml(ledger)).toContain('<td class="n">–</td>');
  });

  it('counts a month across the year end by start, to the millisecond', () => {
    const at = (startedAt: string) => oneReport((r) => ({ ...r, startedAt, reportKey: `k/${startedAt}` }));
    const reports = [
      at('2026-12-31T23:59:59.999Z'),
      at('2027-01-01T00:00:00.000Z'),
      at('2026-12-01T00:00:00.000Z'),
    ];
    const december = ledgerOf(reports, parseLedgerMonth('2026-12'));
    expect(december.drills.map((d) => d.startedAt)).toEqual([
      '2026-12-01T00:00:00.000Z',
      '2026-12-31T23:59:59.999Z',
    ]);
    expect(december).toMatchObject({ from: '2026-12-01T00:00:00.000Z', to: '2027-01-01T00:00:00.000Z' });
    const january = ledgerOf(reports, parseLedgerMonth('2027-01'));
    expect(january.drills.map((d) => d.startedAt)).toEqual(['2027-01-01T00:00:00.000Z']);
  });

  it('reads whether a report says it was a DR drill, and counts DR drills', () => {
    expect(drMarker({ dr: true })).toBe(true);
    expect(drMarker({ dr: { sourceRegion: 'eu-central-1', replicationLagHours: 0.2 } })).toBe(true);
    expect(drMarker({ dr: false })).toBe(false);
    expect(drMarker({ passed: true })).toBeUndefined();
    expect(drMarker('dr')).toBeUndefined();
    const report = oneReport((r) => r);
    const ledger = buildLedger({
      month: NOVEMBER,
      sources: [{ key: 'a', report, dr: true }],
      generatedAt: GENERATED,
      bucket: 'b',
      prefix: '',
    });
    expect(ledger.drills[0]?.dr).toBe(true);
    expect(ledger.databases[0]?.drDrills).toBe(1);
    expect(renderLedgerHtml(ledger)).toContain('<td>DR drill</td>');
  });

  it('quotes CSV as RFC 4180 says and never lets a spreadsheet run a check name', () => {
    expect(csvField('plain')).toBe('plain');
    expect(csvField('a,b')).toBe('"a,b"');
    expect(csvField('say "hi"')).toBe('"say ""hi"""');
    expect(csvField('two\nlines')).toBe('"two\nlines"');
    expect(csvField('=HYPERLINK("http://x")')).toBe('"\'=HYPERLINK(""http://x"")"');
    expect(csvField('@SUM(A1)')).toBe("'@SUM(A1)");
    expect(csvField(null)).toBe('');
    expect(csvField(12.5)).toBe('12.5');
    expect(csvField(false)).toBe('false');
    const hostile = oneReport((r) => ({
      ...r,
      checks: [
        ...r.checks,
        { name: '=cmd|" /C calc"!A0, "quoted"', kind: 'sql', passed: false, detail: 'x' },
        { name: 'line\r\nbreak', kind: 'sql', passed: false, detail: 'y' },
      ],
      passed: false,
    }));
    const csv = renderLedgerCsv(ledgerOf([hostile]));
    expect(csv.startsWith(`${LEDGER_CSV_COLUMNS.join(',')}\r\n`)).toBe(true);
    expect(csv.endsWith('\r\n')).toBe(true);
    // The quoted field keeps its line break; the row is one record.
    expect(csv).toContain(',"\'=cmd|"" /C calc""!A0, ""quoted""; line\r\nbreak",');
    expect(csv.split('\r\n')).toHaveLength(4);
    expect(LEDGER_CSV_COLUMNS).toHaveLength(
      new Set(LEDGER_CSV_COLUMNS).size, // no column twice
    );
  });

  it('escapes a hostile database and check name in the HTML page, which loads nothing from anywhere', () => {
    const name = '<script>alert("db")</script>';
    const hostile = oneReport((r) => ({
      ...r,
      name,
      checks: [
        ...r.checks,
        { name: `<img src=x onerror='alert(1)'>`, kind: 'sql', passed: false, detail: 'x' },
      ],
      passed: false,
      error: 'a & b',
    }));
    const page = renderLedgerHtml(ledgerOf([hostile]));
    expect(page.startsWith('<!DOCTYPE html>')).toBe(true);
    expect(page).not.toMatch(/<script|<img|onerror='/i);
    expect(page).toContain('&lt;script&gt;alert(&quot;db&quot;)&lt;/script&gt;');
    expect(page).toContain('&lt;img src=x onerror=&#39;alert(1)&#39;&gt;');
    expect(page).toContain('could not run: a &amp; b');
    expect(page).toContain(`content="default-src 'none'; style-src 'unsafe-inline'"`);
    expect(page).not.toMatch(/(src|href)="(https?:)?\/\//);
    // Links only within the page.
    for (const href of page.match(/href="[^"]*"/g) ?? []) expect(href).toMatch(/^href="#db-\d+"$/);
  });

  it('writes JSON through its versioned schema, and lists unreadable reports as problems', () => {
    const ledger = buildLedger({
      month: NOVEMBER,
      sources: sources(simulatedMonthOfDrills()),
      problems: [
        { key: 'drills/orders/x/20261105T030000Z.json', problem: 'restore report is not valid JSON' },
      ],
      generatedAt: GENERATED,
      bucket: 'backups',
      prefix: '',
      database: 'billing',
    });
    const json = JSON.parse(serializeLedger(ledger));
    expect(ledgerSchema.parse(json)).toEqual(ledger);
    expect(json).toMatchObject({
      formatVersion: 1,
      month: '2026-11',
      database: 'billing',
      generatedAt: '2026-12-01T06:00:00.000Z',
      source: { bucket: 'backups', prefix: '' },
      problems: [{ key: 'drills/orders/x/20261105T030000Z.json' }],
    });
    expect(json.drills.map((d: { database: string }) => d.database)).toEqual(Array(10).fill('billing'));
    expect(ledgerSchema.safeParse({ ...json, formatVersion: 2 }).success).toBe(false);
    expect(renderLedgerHtml(ledger)).toContain('Reports that could not be read');
  });
});
