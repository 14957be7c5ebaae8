import { z } from 'zod';

/**
 * The report of a restore (DESIGN.md "Restore runner"): what the restore runner writes to S3 and
 * prints as its last stdout line, and what the drill workflow's EvaluateReport reads back. One
 * schema for the writer and every reader.
 */

/** What a check looked at. */
export const CHECK_KINDS = ['checksum', 'globals', 'restore', 'table', 'inventory', 'sql'] as const;

/** One check of a restore: the dump's checksum, each step, each table, each SQL check (by its name). */
export const restoreCheckSchema = z.object({
  /** `checksum`, `globals`, `restore`, `<schema>.<table>`, or the SQL check's own name. */
  name: z.string(),
  kind: z.enum(CHECK_KINDS),
  passed: z.boolean(),
  /** One line a person reads: what was expected, what was found. */
  detail: z.string(),
});
export type RestoreCheck = z.infer<typeof restoreCheckSchema>;

/** One restored table against its manifest entry. */
export const restoredTableSchema = z.object({
  schema: z.string(),
  name: z.string(),
  expectedRows: z.number().int().nonnegative(),
  /** null when the table is missing from the restored database. */
  rows: z.number().int().nonnegative().nullable(),
  /** Present when the manifest has a hash for the table. */
  hashMatched: z.boolean().optional(),
});
export type RestoredTable = z.infer<typeof restoredTableSchema>;

/**
 * An error pg_restore or psql reported that a benign rule accepted (containers/pg-restore/restore-errors.ts):
 * listed so that nothing is hidden, with the rule that accepted it and why it loses nothing.
 */
export const ignoredRestoreErrorSchema = z.object({
  step: z.enum(['globals', 'restore']),
  /** The rule's id, e.g. `transaction-timeout-before-17`. */
  rule: z.string(),
  reason: z.string(),
  message: z.string(),
  /** How many times this error was reported (pg_restore reports it once per connection). */
  count: z.number().int().positive(),
  /** The archive's TOC entry, or the globals.sql line, of its first report. */
  entry: z.string().optional(),
});
export type IgnoredRestoreError = z.infer<typeof ignoredRestoreErrorSchema>;

/** How long each phase took, in seconds. */
export const restoreDurationsSchema = z.object({
  /** Download of the dump and globals, and their SHA-256 checks. */
  downloadSeconds: z.number().nonnegative(),
  /**
   * From opening the target after the download to the last object restored: globals, the archive's
   * sections and, in a drill, the restoring role's steps around them (globals + pre-data + data +
   * post-data, and the connection).
   */
  restoreSeconds: z.number().nonnegative(),
  /** Row counts, hashes, the inventory and SQL checks, with ANALYZE alongside. */
  verifySeconds: z.number().nonnegative(),
  totalSeconds: z.number().nonnegative(),
  /** The checks before the download (target, login, emptiness, extensions, disk); absent in older reports. */
  preflightSeconds: z.number().nonnegative().optional(),
  // The phases of restoreSeconds and verifySeconds below: absent in older reports, and for phases that did not run.
  /** globals.sql's roles. */
  globalsSeconds: z.number().nonnegative().optional(),
  /** The archive's definitions (`pg_restore --section=pre-data`), after a drill's role and extensions. */
  preDataSeconds: z.number().nonnegative().optional(),
  /** Rows, sequence values, large objects (`--section=data`, `-j N`). */
  dataSeconds: z.number().nonnegative().optional(),
  /** Indexes, constraints, triggers, materialized views' data (`--section=post-data`, `-j N`), then owners. */
  postDataSeconds: z.number().nonnegative().optional(),
  /** ANALYZE, which runs alongside the verification: part of `verifySeconds`, not after it. */
  analyzeSeconds: z.number().nonnegative().optional(),
});
export type RestoreDurations = z.infer<typeof restoreDurationsSchema>;

/**
 * The phases of a restore in the order they run: the report's field, and the metric the restore
 * runner publishes per database (namespace and dimensions of core/telemetry.ts) for the dashboard.
 */
export const RESTORE_PHASES = [
  { phase: 'preflight', field: 'preflightSeconds', metric: 'RestorePreflightSeconds' },
  { phase: 'download', field: 'downloadSeconds', metric: 'RestoreDownloadSeconds' },
  { phase: 'globals', field: 'globalsSeconds', metric: 'RestoreGlobalsSeconds' },
  { phase: 'pre-data', field: 'preDataSeconds', metric: 'RestorePreDataSeconds' },
  { phase: 'data', field: 'dataSeconds', metric: 'RestoreDataSeconds' },
  { phase: 'post-data', field: 'postDataSeconds', metric: 'RestorePostDataSeconds' },
  { phase: 'analyze', field: 'analyzeSeconds', metric: 'RestoreAnalyzeSeconds' },
  { phase: 'verify', field: 'verifySeconds', metric: 'RestoreVerifySeconds' },
  { phase: 'total', field: 'totalSeconds', metric: 'RestoreTotalSeconds' },
] as const satisfies readonly { phase: string; field: keyof RestoreDurations; metric: string }[];

/** A phase's name, e.g. `post-data`. */
export type RestorePhase = (typeof RESTORE_PHASES)[number]['phase'];

/** The phases the measured recovery time (download + restore) is made of. */
export const RTO_PHASES = [
  'download',
  'globals',
  'pre-data',
  'data',
  'post-data',
] as const satisfies readonly RestorePhase[];

/**
 * What a DR drill (a drill in the replica region, of the replica bucket under the replica key) measured
 * about the replication: how old the newest replicated backup was and how long it took to arrive.
 */
export const drReportSchema = z.object({
  /** The region the drill ran in (the replica's). */
  region: z.string(),
  /** The newest backup of the database in the replica bucket when the drill started. */
  newestBackupId: z.string(),
  /**
   * Hours between that backup's snapshot (its manifest's `startedAt`) and the start of the drill: the
   * data a failover to this region would lose if the primary were gone now.
   */
  newestBackupAgeHours: z.number(),
  /**
   * Seconds between the primary writing that backup's manifest (its `finishedAt`) and the manifest
   * landing in the replica bucket (the replica object's LastModified): the replication lag, measured
   * from the replica alone. S3 gives LastModified in whole seconds, so a lag under a second reads as 0.
   */
  replicationLagSeconds: z.number().nonnegative(),
});
export type DrReport = z.infer<typeof drReportSchema>;

/** `primary`: a drill of the backup bucket; `dr`: of the replica bucket, in the replica region. */
export const DRILL_KINDS = ['primary', 'dr'] as const;
export type DrillKind = (typeof DRILL_KINDS)[number];

/** How the drilled backup was chosen: the latest, one named, or one sampled at random from a tier. */
export const SELECTION_KINDS = ['latest', 'explicit', 'sample'] as const;

/**
 * How a drill's backup was picked (the plan's and the report's `selection`): for a sample, the tier
 * and window it was drawn from and how many backups it was drawn among.
 */
export const drillSelectionSchema = z.object({
  kind: z.enum(SELECTION_KINDS),
  /** A sample's tier (`daily`, `weekly`, `monthly`, `yearly`). */
  tier: z.string().optional(),
  /** A sample's window: backups taken within this many days before the drill. */
  withinDays: z.number().int().positive().optional(),
  /** How many backups of the tier were in the window (the sample is one of them, uniformly at random). */
  candidates: z.number().int().positive().optional(),
});
export type DrillSelection = z.infer<typeof drillSelectionSchema>;

/**
 * An archived backup's retrieval before its drill (S3 RestoreObject of its objects in Glacier Flexible
 * Retrieval or Deep Archive): what it was, which retrieval tier (the cost class) and how long it took.
 */
export const retrievalReportSchema = z.object({
  /** The coldest storage class among the backup's objects, e.g. `DEEP_ARCHIVE`. */
  storageClass: z.string(),
  /** S3's retrieval tier: `Standard` or `Bulk` (cheaper, slower). */
  tier: z.string(),
  /** When the first restore request was sent. */
  requestedAt: z.string(),
  /** When every object was seen readable (at a poll: up to one poll interval after it became so). */
  availableAt: z.string(),
  /** `availableAt` minus `requestedAt`. */
  seconds: z.number().nonnegative(),
});
export type RetrievalReport = z.infer<typeof retrievalReportSchema>;

export const restoreReportSchema = z.object({
  formatVersion: z.literal(1),
  /** True only when every check passed and nothing failed to run. */
  passed: z.boolean(),
  /** `drill`: a scratch server; `restore`: a real target. */
  mode: z.enum(['drill', 'restore']),
  /** The database's name in the key layout (`BACKUP_NAME`). */
  name: z.string(),
  backupId: z.string(),
  manifestKey: z.string(),
  reportKey: z.string(),
  startedAt: z.string(),
  finishedAt: z.string(),
  backup: z.object({
    /** When the backup's snapshot was taken (the manifest's `startedAt`). */
    takenAt: z.string(),
    /** Hours between the backup's snapshot and the start of this restore. */
    ageHours: z.number(),
    /** The bytes downloaded: every archive of a dump taken in parallel streams. */
    dumpBytes: z.number().int().nonnegative(),
    /** The source server's version. */
    serverVersion: z.string(),
    tier: z.string(),
  }),
  target: z.object({
    host: z.string(),
    port: z.number().int(),
    database: z.string(),
    /** Unknown when the target could not be reached. */
    serverVersion: z.string().optional(),
  }),
  checks: z.array(restoreCheckSchema),
  tables: z.array(restoredTableSchema),
  /**
   * What the checks before the download found that does not stop the restore (a newer extension
   * version, a library the source preloads); absent when they did not run, and in older reports.
   */
  preflight: z.object({ notes: z.array(z.string()) }).optional(),
  /** Errors reported by pg_restore or psql that a benign rule accepted; absent in older reports. */
  ignoredErrors: z.array(ignoredRestoreErrorSchema).optional(),
  durations: restoreDurationsSchema,
  /**
   * The measured recovery time: download + restore (until the database is usable), against the
   * target when one was given.
   */
  rto: z.object({
    seconds: z.number().nonnegative(),
    targetSeconds: z.number().positive().optional(),
    met: z.boolean().optional(),
    /**
     * The phase of the recovery time that took longest (`download`, `globals`, `pre-data`, `data`,
     * `post-data`), and its seconds: what to work on when the RTO is missed. Absent in older reports.
     */
    dominantPhase: z.enum(RTO_PHASES).optional(),
    dominantSeconds: z.number().nonnegative().optional(),
  }),
  /** Why the restore could not run to its end (exit 1); absent when it ran. */
  error: z.string().optional(),
  /**
   * Present only in a DR drill's report (core/ledger.ts counts these): what it measured about the
   * replication of the bucket it restored from.
   */
  dr: drReportSchema.optional(),
  /** How the drilled backup was picked; absent outside the drill workflow and in older reports. */
  selection: drillSelectionSchema.optional(),
  /** Present when the backup had to be retrieved from an archive storage class before the drill. */
  retrieval: retrievalReportSchema.optional(),
});

/** The report of one restore or drill. */
export type RestoreReport = z.infer<typeof restoreReportSchema>;

/**
 * A report's JSON text (`indent` for the stored object, none for the stdout line), written through the
 * schema EvaluateReport and the CLI parse with.
 */
export function serializeRestoreReport(report: RestoreReport, indent?: number): string {
  return JSON.stringify(restoreReportSchema.parse(report), null, indent);
}

/** Parses a report's JSON text; throws a one-line error naming the key on anything malformed. */
export function parseRestoreReport(text: string, key: string): RestoreReport {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    throw new Error(`restore report ${key} is not valid JSON`, { cause });
  }
  const parsed = restoreReportSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(
      `restore report ${key} is invalid at ${issue?.path.join('.') || '(root)'}: ${issue?.message}`,
    );
  }
  return parsed.data;
}

/** The line a person reads about a DR drill's replication, e.g. in its notification. */
export function describeDr(dr: DrReport): string {
  return `DR drill in ${dr.region}: newest replicated backup ${dr.newestBackupId} was ${dr.newestBackupAgeHours.toFixed(1)} hours old; it replicated ${dr.replicationLagSeconds} s after the primary finished it.`;
}

/** The checks that failed, as `name: detail` lines. */
export function failedChecks(report: RestoreReport): string[] {
  return report.checks.filter((c) => !c.passed).map((c) => `${c.name}: ${c.detail}`);
}
