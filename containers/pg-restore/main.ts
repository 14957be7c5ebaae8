import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { RESTORE_PHASES, type RestoreReport, serializeRestoreReport } from '../../core/drill-report.ts';
import { oneLine } from '../../core/errors.ts';
import { createLogger, createMetrics } from '../../core/observability.ts';
import { createS3Client } from '../../core/s3-client.ts';
import { DATABASE_DIMENSION } from '../../core/telemetry.ts';
import { exitStatus, writeReport } from '../../engines/restore/report.ts';
import { runRestore } from '../../engines/restore/restore.ts';
import { readRestoreSettings } from '../../engines/restore/settings.ts';

/**
 * The restore runner's entrypoint (the drill task's command; `npm run restore`): reads the
 * environment, restores and verifies one backup, writes the report to S3 and prints it as the last
 * line on stdout, after the time of each phase as EMF metrics. Exit status: 0 passed; 2 the backup did
 * not verify; 1 the restore could not run.
 */

const logger = createLogger('restore-runner');
const metrics = createMetrics();

/**
 * The time of each phase that ran, as one EMF line per database (RESTORE_PHASES names the metrics): the
 * dashboard shows them side by side, so that a growing post-data phase is seen before it breaks the RTO.
 */
function publishPhases(report: RestoreReport): void {
  metrics.addDimension(DATABASE_DIMENSION, report.name);
  for (const { field, metric } of RESTORE_PHASES) {
    const seconds = report.durations[field];
    // A phase that did not run (a failed preflight's download) is no data point, not a zero.
    if (seconds !== undefined && (seconds > 0 || field === 'totalSeconds')) {
      metrics.addMetric(metric, MetricUnit.Seconds, seconds);
    }
  }
  metrics.publishStoredMetrics();
}

async function main(): Promise<number> {
  const startedAt = new Date();
  const abort = new AbortController();
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      logger.warn('signal received: stopping the restore', { signal });
      abort.abort(signal);
    });
  }

  try {
    const settings = readRestoreSettings(process.env, startedAt);
    const s3 = createS3Client({ forcePathStyle: settings.forcePathStyle });
    logger.info('restore started', { mode: settings.mode, bucket: settings.bucket, backup: settings.backup });
    const report = await runRestore(settings, {
      s3,
      now: () => new Date(),
      signal: abort.signal,
      log: (message, fields) => logger.info(message, fields ?? {}),
    });
    logger.appendKeys({ backupId: report.backupId, database: report.name });
    let status = exitStatus(report);
    try {
      await writeReport(s3, settings.bucket, report);
    } catch (error) {
      logger.error('the report could not be stored', { error: oneLine(error) });
      process.stderr.write(`pgproof restore: the report could not be stored: ${oneLine(error)}\n`);
      status = 1;
    }
    const failed = report.checks.filter((c) => !c.passed).map((c) => c.name);
    logger.info(report.passed ? 'restore passed' : 'restore failed', {
      reportKey: report.reportKey,
      failed,
      error: report.error,
      durations: report.durations,
    });
    if (!report.passed) {
      process.stderr.write(
        `pgproof restore failed: ${report.error ?? `checks failed: ${failed.join(', ')}`} (report: ${report.reportKey})\n`,
      );
    }
    publishPhases(report);
    // The contract: the report is the last line on stdout.
    process.stdout.write(`${serializeRestoreReport(report)}\n`);
    return status;
  } catch (error) {
    const message = oneLine(error);
    logger.error('restore could not run', { error: message, kind: (error as Error)?.name });
    process.stderr.write(`pgproof restore failed: ${message}\n`);
    return 1;
  }
}

process.exitCode = await main();
