/**
 * Names shared by everything that logs or publishes metrics, and by the alarms and dashboard that
 * read them: change one here and every producer and consumer follows.
 */

/** Powertools `serviceName` of every pgproof process. */
export const SERVICE_NAME = 'pgproof';

/** CloudWatch namespace of every pgproof metric. */
export const METRICS_NAMESPACE = 'pgproof';

/** The dimension naming the database (its `BACKUP_NAME`) on every per-database metric. */
export const DATABASE_DIMENSION = 'Database';

/** Metric names (EMF on stdout from the runners, Powertools Metrics in the Lambdas). */
export const METRICS = {
  /** 1 when a backup's manifest was written, 0 when the runner failed. */
  backupSucceeded: 'BackupSucceeded',
  /** Size of the dump object in bytes. */
  backupBytes: 'BackupBytes',
  /** Wall time of the whole backup in seconds. */
  backupDurationSeconds: 'BackupDurationSeconds',
  /** 1 when a restore drill passed, 0 when it failed. */
  drillPassed: 'DrillPassed',
  /**
   * 1 when a DR drill (of the replica bucket, in the replica region) passed, 0 when it failed: a name of
   * its own, so that no alarm or dashboard of the primary's drills ever counts it.
   */
  drDrillPassed: 'DrDrillPassed',
  /**
   * Whole days since a DR drill of a database last passed (at most its window + 1), published daily by
   * the DR drill's watch: CloudWatch alarms cannot look back a month at `DrDrillPassed` themselves.
   */
  daysSinceDrDrillPassed: 'DaysSinceDrDrillPassed',
  /** A DR drill's measured replication lag of the newest replicated backup, in seconds. */
  replicationLagSeconds: 'ReplicationLagSeconds',
  /** A DR drill's age of the newest replicated backup, in hours: what a failover would lose. */
  replicaBackupAgeHours: 'ReplicaBackupAgeHours',
  /** Measured restore time (RTO) of a drill in seconds. */
  restoreSeconds: 'RestoreSeconds',
  /** Age of the restored backup in hours when the drill ran. */
  backupAgeHours: 'BackupAgeHours',
  /** 1 per backup task the launcher started. */
  backupLaunched: 'BackupLaunched',
  /** 1 per scheduled backup the launcher did not start because the previous one still runs. */
  backupLaunchRefused: 'BackupLaunchRefused',
} as const;

/**
 * The exact dimensions every per-database metric carries. Powertools Metrics always adds
 * `service`; alarms and dashboards must name both or they match no data.
 */
export function databaseMetricDimensions(database: string): Record<string, string> {
  return { service: SERVICE_NAME, [DATABASE_DIMENSION]: database };
}
