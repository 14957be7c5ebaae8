import { describe, expect, it } from 'vitest';
import { parseRestoreReport } from '../../../core/drill-report.ts';
import { buildReport, dominantPhase } from '../../../engines/restore/report.ts';
import { fakeManifest } from '../../support/manifests.ts';

const manifest = fakeManifest('orders', '20261121T020000Z');
const input = (durations: Parameters<typeof buildReport>[0]['durations'], rtoSeconds?: number) =>
  buildReport({
    mode: 'drill',
    manifestKey: 'orders/20261121T020000Z/manifest.json',
    manifest,
    reportKey: 'drills/orders/20261121T020000Z/20261122T050000Z.json',
    startedAt: new Date('2026-11-22T05:00:00Z'),
    finishedAt: new Date('2026-11-22T05:20:00Z'),
    target: { host: 'localhost', port: 5432, database: 'orders' },
    checks: [{ name: 'checksum', kind: 'checksum', passed: true, detail: 'as in the manifest' }],
    tables: [],
    ignoredErrors: [],
    durations,
    rtoSeconds,
    error: undefined,
  });

describe('the report of a restore timed by phase', () => {
  it('names the phase of the recovery time that took longest', () => {
    expect(
      dominantPhase({
        downloadSeconds: 120,
        restoreSeconds: 900,
        verifySeconds: 60,
        preflightSeconds: 2,
        globalsSeconds: 0.1,
        preDataSeconds: 3,
        dataSeconds: 300,
        postDataSeconds: 596.9,
        analyzeSeconds: 50,
      }),
    ).toEqual({ dominantPhase: 'post-data', dominantSeconds: 596.9 });
    // Phases outside the recovery time (verify, analyze, preflight) are never named.
    expect(dominantPhase({ downloadSeconds: 1, restoreSeconds: 0, verifySeconds: 999 })).toEqual({
      dominantPhase: 'download',
      dominantSeconds: 1,
    });
    expect(dominantPhase({ downloadSeconds: 0, restoreSeconds: 0, verifySeconds: 0 })).toEqual({});
  });

  it('a missed RTO names the phase that dominated; the phases are rounded and parse with the schema', () => {
    const report = input(
      {
        downloadSeconds: 120.00049,
        restoreSeconds: 900,
        verifySeconds: 60,
        globalsSeconds: 0.1,
        preDataSeconds: 3,
        dataSeconds: 300,
        postDataSeconds: 596.9,
        analyzeSeconds: 50,
      },
      600,
    );
    expect(report.rto).toEqual({
      seconds: 1020,
      targetSeconds: 600,
      met: false,
      dominantPhase: 'post-data',
      dominantSeconds: 596.9,
    });
    expect(report.durations).toEqual({
      downloadSeconds: 120,
      restoreSeconds: 900,
      verifySeconds: 60,
      globalsSeconds: 0.1,
      preDataSeconds: 3,
      dataSeconds: 300,
      postDataSeconds: 596.9,
      analyzeSeconds: 50,
      totalSeconds: 1200,
    });
    expect(parseRestoreReport(JSON.stringify(report), 'report')).toEqual(report);
  });

  it('parses a report written before the phases', () => {
    const old = input({ downloadSeconds: 1, restoreSeconds: 2, verifySeconds: 3 });
    const { dominantPhase: _phase, dominantSeconds: _seconds, ...rto } = old.rto;
    expect(parseRestoreReport(JSON.stringify({ ...old, rto }), 'old').durations).toEqual({
      downloadSeconds: 1,
      restoreSeconds: 2,
      verifySeconds: 3,
      totalSeconds: 1200,
    });
  });
});
