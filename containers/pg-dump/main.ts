import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { KMSClient } from '@aws-sdk/client-kms';
import { oneLine } from '../../core/errors.ts';
import { dumpTotalBytes } from '../../core/manifest.ts';
import { createLogger, createMetrics } from '../../core/observability.ts';
import { createS3Client } from '../../core/s3-client.ts';
import { DATABASE_DIMENSION, METRICS } from '../../core/telemetry.ts';
import { runBackup } from '../../engines/backup/backup.ts';
import { rdsAuthTokenProvider } from '../../engines/backup/iam-token.ts';
import { readSettings } from '../../engines/backup/settings.ts';

/**
 * The backup runner's entrypoint (the pg-dump container; `npm run dump`): reads the environment,
 * runs one backup, reports it as JSON logs and EMF metrics on stdout, and exits 0 only when the
 * manifest was written. On failure the last line on stderr says what failed and what to do.
 */

const logger = createLogger('backup-runner');
const metrics = createMetrics();

async function main(): Promise<number> {
  const startedAt = new Date();
  const abort = new AbortController();
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      logger.warn('signal received: stopping pg_dump and aborting the upload', { signal });
      abort.abort(signal);
    });
  }

  let name = process.env.BACKUP_NAME || process.env.PGDATABASE || 'unknown';
  try {
    const settings = readSettings(process.env, startedAt);
    name = settings.name;
    logger.appendKeys({ backupId: settings.backupId, database: settings.name, tier: settings.tier });
    logger.info('backup started', {
      bucket: settings.bucket,
      prefix: settings.prefix,
      verify: settings.verify,
      authentication: settings.iamAuth ? 'iam' : 'password',
    });

    const manifest = await runBackup(settings, {
      s3: createS3Client({ forcePathStyle: settings.forcePathStyle }),
      // A key check answers in milliseconds; a missing route to KMS must fail in seconds, not minutes.
      ...(settings.kmsKeyId
        ? {
            kms: new KMSClient({
              maxAttempts: 2,
              requestHandler: { connectionTimeout: 3000, requestTimeout: 10_000 },
            }),
          }
        : {}),
      ...(settings.iamAuth
        ? {
            authToken: rdsAuthTokenProvider({
              host: settings.host,
              port: settings.port,
              user: settings.user,
              region: settings.iamAuth.region,
            }),
          }
        : {}),
      now: () => new Date(),
      signal: abort.signal,
      log: (message, fields) => logger.info(message, fields ?? {}),
    });

    const seconds = (Date.now() - startedAt.getTime()) / 1000;
    logger.info('backup succeeded', {
      manifest: manifest.dump.key.replace(/dump\.pgdump$/, 'manifest.json'),
      bytes: dumpTotalBytes(manifest.dump),
      sha256: manifest.dump.sha256,
      tables: manifest.tables.length,
      seconds,
    });
    publish(name, 1, seconds, dumpTotalBytes(manifest.dump));
    return 0;
  } catch (error) {
    const message = oneLine(error);
    logger.error('backup failed', { error: message, kind: (error as Error)?.name });
    publish(name, 0, (Date.now() - startedAt.getTime()) / 1000);
    process.stderr.write(`pgproof backup failed: ${message}\n`);
    return 1;
  }
}

function publish(database: string, succeeded: 0 | 1, seconds: number, bytes?: number): void {
  metrics.addDimension(DATABASE_DIMENSION, database);
  metrics.addMetric(METRICS.backupSucceeded, MetricUnit.Count, succeeded);
  metrics.addMetric(METRICS.backupDurationSeconds, MetricUnit.Seconds, seconds);
  if (bytes !== undefined) metrics.addMetric(METRICS.backupBytes, MetricUnit.Bytes, bytes);
  metrics.publishStoredMetrics();
}

process.exitCode = await main();
