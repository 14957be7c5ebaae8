import { RESTORE_PHASES, type RestoreReport } from '../core/drill-report.ts';
import { formatBytes, formatTable } from './output.ts';

/**
 * A restore report as a person reads it at a glance: the verdict first, then what was proven, table by
 * table, and how long each phase took.
 */
export function formatReport(report: RestoreReport): string[] {
  const verdict = report.passed ? 'PASSED' : 'FAILED';
  const lines = [
    `${report.mode === 'drill' ? 'Restore drill' : 'Restore'} ${verdict}: ${report.name} backup ${report.backupId} (${report.backup.tier}, ${formatBytes(report.backup.dumpBytes)}, taken ${report.backup.ageHours.toFixed(1)} h before, PostgreSQL ${report.backup.serverVersion})`,
    `  into ${report.target.host}:${report.target.port}/${report.target.database}${report.target.serverVersion ? ` (PostgreSQL ${report.target.serverVersion})` : ''}`,
  ];
  if (report.error) lines.push(`  error: ${report.error}`);
  lines.push('', '  checks:');
  for (const check of report.checks.filter((c) => c.kind !== 'table')) {
    lines.push(`    ${check.passed ? 'ok  ' : 'FAIL'} ${check.name}: ${check.detail}`);
  }
  if (report.preflight?.notes.length) {
    lines.push('', '  noted before the download (not failures):');
    for (const note of report.preflight.notes) lines.push(`    ${note}`);
  }
  if (report.ignoredErrors?.length) {
    lines.push('', '  ignored as benign (nothing lost; see the README\'s "Benign restore errors"):');
    for (const e of report.ignoredErrors) {
      lines.push(`    ${e.step} ${e.rule}${e.count > 1 ? ` (${e.count}x)` : ''}: ${e.message}`);
    }
  }
  if (report.tables.length) {
    lines.push('', '  tables:');
    const rows = report.tables.map((t) => {
      const ok = t.rows === t.expectedRows && t.hashMatched !== false;
      return [
        ok ? 'ok' : 'FAIL',
        `${t.schema}.${t.name}`,
        String(t.expectedRows),
        t.rows === null ? '-' : String(t.rows),
        t.hashMatched === undefined ? '' : t.hashMatched ? 'hash ok' : 'hash differs',
      ];
    });
    for (const line of formatTable(['', 'TABLE', 'MANIFEST', 'RESTORED', ''], rows))
      lines.push(`    ${line}`);
  }
  lines.push('', ...formatDurations(report));
  return lines;
}

/**
 * How long the restore took, phase by phase as far as the report has them (older reports: download,
 * restore, verify), and the recovery time against the RTO with the phase that took longest.
 */
export function formatDurations(report: RestoreReport): string[] {
  const d = report.durations;
  const seconds = (value: number) => `${value.toFixed(1)} s`;
  const phased = d.dataSeconds !== undefined;
  const parts = phased
    ? RESTORE_PHASES.filter(({ field }) => d[field] !== undefined).map(
        ({ phase, field }) => `${phase} ${seconds(d[field] ?? 0)}`,
      )
    : [
        `download ${seconds(d.downloadSeconds)}`,
        `restore ${seconds(d.restoreSeconds)}`,
        `verify ${seconds(d.verifySeconds)}`,
        `total ${seconds(d.totalSeconds)}`,
      ];
  const { rto } = report;
  const longest =
    rto.dominantPhase === undefined
      ? ''
      : `; longest: ${rto.dominantPhase} ${seconds(rto.dominantSeconds ?? 0)}`;
  const verdict =
    rto.targetSeconds === undefined
      ? `recovery time ${seconds(rto.seconds)} (download + restore${longest})`
      : `recovery time ${seconds(rto.seconds)} of the RTO's ${rto.targetSeconds} s: ${rto.met ? 'met' : 'MISSED'}${longest}`;
  return [`  time: ${parts.join(', ')}`, `  ${verdict}`];
}
