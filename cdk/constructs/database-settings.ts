import { Duration } from 'aws-cdk-lib';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import { type DatabaseSettings, retentionDays } from '../../core/config.ts';
import type { DatabaseBackupProps } from './database-backup.ts';
import type { DrillDatabaseProps } from './restore-drill.ts';

/**
 * A database's settings (the config file's, or the library's `addDatabase` options, validated alike)
 * mapped to construct props, in one place. What a construct takes from other constructs (bucket,
 * cluster, image, login...) its caller wires in.
 */

/** A database's settings, with its name and where it is. */
type DatabaseSettingsOf = DatabaseSettings & {
  readonly name: string;
  /** Host name; a token for a database of the same app. */
  readonly host: string;
  /** Port; a token for a database of the same app. */
  readonly port: number;
};

/** The CPU architecture of a database's backup task. */
export function taskArchitecture(db: Pick<DatabaseSettings, 'task'>): ecs.CpuArchitecture {
  return db.task.architecture === 'ARM64' ? ecs.CpuArchitecture.ARM64 : ecs.CpuArchitecture.X86_64;
}

/** The props of a database's {@link DatabaseBackup} that come from its settings. */
export function databaseBackupSettings(
  db: DatabaseSettingsOf,
): Pick<
  DatabaseBackupProps,
  | 'name'
  | 'host'
  | 'port'
  | 'database'
  | 'schedule'
  | 'timeZone'
  | 'retentionDays'
  | 'rpo'
  | 'includeTables'
  | 'excludeTables'
  | 'includeSchemas'
  | 'excludeSchemas'
  | 'dumpGlobals'
  | 'verify'
  | 'dumpStreams'
  | 'cpu'
  | 'memoryMiB'
  | 'ephemeralStorageGiB'
  | 'architecture'
> {
  return {
    name: db.name,
    host: db.host,
    port: db.port,
    database: db.database,
    schedule: db.schedule,
    timeZone: db.timeZone,
    retentionDays: retentionDays(db),
    rpo: Duration.hours(db.rpoHours),
    includeTables: db.includeTables,
    excludeTables: db.excludeTables,
    includeSchemas: db.includeSchemas,
    excludeSchemas: db.excludeSchemas,
    dumpGlobals: db.dumpGlobals,
    verify: db.verify,
    dumpStreams: db.streams,
    cpu: db.task.cpu,
    memoryMiB: db.task.memoryMiB,
    ephemeralStorageGiB: db.task.ephemeralStorageGiB,
    architecture: taskArchitecture(db),
  };
}

/**
 * A database's drill from its settings. Without `drill` it is still drillable on demand, judged by
 * verification alone (no RTO), with no schedule and no overdue alarm (nothing would keep it quiet).
 */
export function drillDatabaseProps(db: DatabaseSettings & { readonly name: string }): DrillDatabaseProps {
  if (!db.drill) return { name: db.name, alarmWhenOverdue: false };
  return {
    name: db.name,
    rto: Duration.minutes(db.drill.rtoMinutes),
    schedule: db.drill.schedule,
    timeZone: db.drill.timeZone,
    maxDaysWithoutSuccess: db.drill.maxDaysWithoutSuccess,
    checks: db.drill.checks,
    ...(db.drill.postgresImage === undefined ? {} : { postgresImage: db.drill.postgresImage }),
    ...(db.drill.samples === undefined ? {} : { samples: db.drill.samples }),
    ...(db.drill.retrievalTier === undefined ? {} : { retrievalTier: db.drill.retrievalTier }),
  };
}
