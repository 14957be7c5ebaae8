import { describe, expect, it } from 'vitest';
import { formatDurations, formatReport } from '../../cli/report-view.ts';
import type { RestoreReport } from '../../core/drill-report.ts';

const base: RestoreReport = {
  formatVersion: 1,
  passed: true,
  mode: 'drill',
  name: 'orders',
  backupId: '20261121T020000Z',
  manifestKey: 'orders/20261121T020000Z/manifest.json',
  reportKey: 'drills/orders/20261121T020000Z/20261122T050000Z.json',
  startedAt: '2026-11-22T05:00:00.000Z',
  finishedAt: '2026-11-22T05:20:00.000Z',
  backup: {
    takenAt: '2026-11-21T02:00:00.000Z',
    ageHours: 27,
    dumpBytes: 1024,
    serverVersion: '15.8',
    tier: 'daily',
  },
  target: { host: 'localhost', port: 5432, database: 'orders', serverVersion: '15.8' },
  checks: [{ name: 'checksum', kind: 'checksum', passed: true, detail: 'as in the manifest' }],
  tables: [],
  durations: {
    preflightSeconds: 0.2,
    downloadSeconds: 120,
    globalsSeconds: 0.1,
    preDataSeconds: 3,
    dataSeconds: 300,
    postDataSeconds: 596.9,
    restoreSeconds: 900,
    analyzeSeconds: 50,
    verifySeconds: 60,
    totalSeconds: 1200,
  },
  rto: { seconds: 1020, targetSeconds: 600, met: false, dominantPhase: 'post-data', dominantSeconds: 596.9 },
};

describe('the human summary of a report', () => {
  it('shows every phase in order and the phase that dominated a missed RTO', () => {
    expect(formatDurations(base)).toEqual([
      '  time: preflight 0.2 s, download 120.0 s, globals 0.1 s, pre-data 3.0 s, data 300.0 s, post-data 596.9 s, analyze 50.0 s, verify 60.0 s, total 1200.0 s',
      "  recovery time 1020.0 s of the RTO's 600 s: MISSED; longest: post-data 596.9 s",
    ]);
  });

  it('shows a report written before the phases as it did: download, restore, verify', () => {
    const { durations, rto } = base;
    const old: RestoreReport = {
      ...base,
      durations: {
        downloadSeconds: durations.downloadSeconds,
        restoreSeconds: durations.restoreSeconds,
        verifySeconds: durations.verifySeconds,
        totalSeconds: durations.totalSeconds,
      },
      rto: { seconds: rto.seconds },
    };
    expect(formatDurations(old)).toEqual([
      '  time: download 120.0 s, restore 900.0 s, verify 60.0 s, total 1200.0 s',
      '  recovery time 1020.0 s (download + restore)',
    ]);
  });

  it('lists what the preflight noted without failing', () => {
    const lines = formatReport({
      ...base,
      preflight: { notes: ["extension hstore restores at version 1.8, the backup's source had 1.7"] },
    });
    expect(lines).toContain('  noted before the download (not failures):');
    expect(lines).toContain("    extension hstore restores at version 1.8, the backup's source had 1.7");
  });
});
