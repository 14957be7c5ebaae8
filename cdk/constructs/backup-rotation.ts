import { Duration, Token } from 'aws-cdk-lib';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { TIER_TAG } from '../../core/layout.ts';
import { TIERS, type Tier } from '../../core/retention-tiers.ts';

/** How long the backups under one key prefix are kept, per tier. */
export interface PrefixRotation {
  /** Key prefix of one database's backups: `<BACKUP_PREFIX><name>/`. */
  readonly prefix: string;
  /** Days each tier is kept before its objects expire. */
  readonly retentionDays: Readonly<Record<Tier, number>>;
}

/** Where the restore drill keeps its reports in a vault, and how long. */
export interface DrillReportRotation {
  /** Key prefix of the reports: `<BACKUP_PREFIX>drills/`. */
  readonly prefix: string;
  /**
   * Days a report is kept (reports are a few KiB each).
   * @default 400 - more than a year of drill history, for audits that look back a year
   */
  readonly expirationDays?: number;
}

/** Days a drill report is kept when {@link DrillReportRotation.expirationDays} says nothing. */
export const DEFAULT_DRILL_REPORT_DAYS = 400;

/** Days after which a tier moves to Glacier Instant Retrieval (still readable at once by a restore). */
const INSTANT_ARCHIVE_AFTER_DAYS = 30;
/** Days after which yearly backups move to Deep Archive (hours to read back; only for old yearlies). */
const DEEP_ARCHIVE_AFTER_DAYS = 365;
/** Minimum storage charged by Glacier Instant Retrieval and Deep Archive: moving shorter-lived objects costs more. */
const GLACIER_IR_MINIMUM_DAYS = 90;
const DEEP_ARCHIVE_MINIMUM_DAYS = 180;

/**
 * The lifecycle rules that rotate backups: per database prefix and tier tag, expiry after the tier's
 * retention; monthly and yearly backups move to cheaper storage first when they live long enough to
 * pay for it. Drill reports, when given, expire after their own days (they carry no tier tag). One
 * rule for the whole bucket aborts incomplete multipart uploads after a day and expires noncurrent
 * versions.
 */
export function rotationRules(
  rotation: readonly PrefixRotation[],
  noncurrentVersionDays: number,
  drillReports?: DrillReportRotation,
): s3.LifecycleRule[] {
  // The whole-bucket rule first and each database's last: a vault given its databases one at a time
  // (BackupVault.addRotation) then has its rules in the same order as one given them all at once.
  return [
    {
      id: 'incomplete-uploads-and-old-versions',
      abortIncompleteMultipartUploadAfter: Duration.days(1),
      noncurrentVersionExpiration: Duration.days(noncurrentVersionDays),
      expiredObjectDeleteMarker: true,
    },
    ...(drillReports ? drillReportRules(drillReports) : []),
    ...rotation.flatMap(prefixRules),
  ];
}

/** The rules of one database's prefix: per tier, expiry after its retention, and cheaper storage first when it pays. */
export function prefixRules({ prefix, retentionDays }: PrefixRotation): s3.LifecycleRule[] {
  return TIERS.map((tier): s3.LifecycleRule => {
    const days = retentionDays[tier];
    const transitions: s3.Transition[] = [];
    if (
      (tier === 'monthly' || tier === 'yearly') &&
      days >= INSTANT_ARCHIVE_AFTER_DAYS + GLACIER_IR_MINIMUM_DAYS
    ) {
      transitions.push({
        storageClass: s3.StorageClass.GLACIER_INSTANT_RETRIEVAL,
        transitionAfter: Duration.days(INSTANT_ARCHIVE_AFTER_DAYS),
      });
    }
    if (tier === 'yearly' && days >= DEEP_ARCHIVE_AFTER_DAYS + DEEP_ARCHIVE_MINIMUM_DAYS) {
      transitions.push({
        storageClass: s3.StorageClass.DEEP_ARCHIVE,
        transitionAfter: Duration.days(DEEP_ARCHIVE_AFTER_DAYS),
      });
    }
    return {
      id: `${prefix}${tier}`.slice(-255),
      prefix,
      tagFilters: { [TIER_TAG]: tier },
      expiration: Duration.days(days),
      transitions,
    };
  });
}

/** The drill reports' rule: expiry after their own days (they carry no tier tag). */
export function drillReportRules(drillReports: DrillReportRotation): s3.LifecycleRule[] {
  return [
    {
      id: 'drill-reports',
      prefix: drillReports.prefix,
      expiration: Duration.days(drillReports.expirationDays ?? DEFAULT_DRILL_REPORT_DAYS),
    },
  ];
}

/** Throws on a tier kept for less than a whole day, naming the prefix and tier. */
export function validateRotation(rotation: readonly PrefixRotation[]): void {
  for (const { prefix, retentionDays } of rotation) {
    for (const tier of TIERS) {
      const days = retentionDays[tier];
      if (!Token.isUnresolved(days) && (!Number.isInteger(days) || days < 1)) {
        throw new Error(
          `'rotation[${prefix}].retentionDays.${tier}' must be a whole number of at least 1, got ${days}`,
        );
      }
    }
  }
}

/** Throws on drill report settings that would expire too soon or reach into a database's backups. */
export function validateDrillReports(
  drillReports: DrillReportRotation,
  rotation: readonly PrefixRotation[],
): void {
  const days = drillReports.expirationDays ?? DEFAULT_DRILL_REPORT_DAYS;
  if (!Token.isUnresolved(days) && (!Number.isInteger(days) || days < 1)) {
    throw new Error(`'drillReports.expirationDays' must be a whole number of at least 1, got ${days}`);
  }
  if (!drillReports.prefix.endsWith('/')) {
    throw new Error(`'drillReports.prefix' must end with "/", got "${drillReports.prefix}"; e.g. "drills/"`);
  }
  // The reports' rule has no tier filter: over a database's folder it would expire every tier at once.
  const clash = rotation.find(
    (r) => r.prefix.startsWith(drillReports.prefix) || drillReports.prefix.startsWith(r.prefix),
  );
  if (clash) {
    throw new Error(
      `'drillReports.prefix' "${drillReports.prefix}" overlaps the backups under "${clash.prefix}"; rename that database so its backups and the drill reports stay apart`,
    );
  }
}
