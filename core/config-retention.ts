import { z } from 'zod';
import { wholeNumber } from './config-fields.ts';
import { TIERS, type Tier } from './retention-tiers.ts';

/**
 * How long a database's backups are kept, tier by tier (DESIGN.md "Deployment config"): as configured,
 * and turned into days for the bucket's lifecycle and Object Lock.
 */

/** How long one tier's backups are kept: a number of days, or the backups of the last `count` periods. */
const tierRetentionSchema = z
  .object(
    {
      days: wholeNumber(1, 36_500, 'give the days to keep this tier').optional(),
      count: wholeNumber(1, 1_000, 'give how many of this tier to keep').optional(),
    },
    { error: 'must be an object like { "days": 35 } or { "count": 5 }; set one of them' },
  )
  .strict()
  .refine((r) => (r.days === undefined) !== (r.count === undefined), {
    message: 'must set exactly one of "days" and "count"; e.g. { "count": 7 }',
  });

/** A tier's retention as configured. */
export type TierRetention = z.infer<typeof tierRetentionSchema>;

/** Retention when a database's config says nothing: 7 daily, 5 weekly, 12 monthly, 7 yearly backups. */
export const DEFAULT_RETENTION: Readonly<Record<Tier, TierRetention>> = {
  daily: { count: 7 },
  weekly: { count: 5 },
  monthly: { count: 12 },
  yearly: { count: 7 },
};

/** Days per period of each tier: a count of monthly backups is kept for count × 31 days. */
const TIER_PERIOD_DAYS: Readonly<Record<Tier, number>> = { daily: 1, weekly: 7, monthly: 31, yearly: 366 };

/** A database's `retention`: any of the tiers, each defaulting to {@link DEFAULT_RETENTION}. */
export const retentionSchema = z
  .object(
    Object.fromEntries(TIERS.map((tier) => [tier, tierRetentionSchema.optional()])) as Record<
      Tier,
      z.ZodOptional<typeof tierRetentionSchema>
    >,
    { error: 'must be an object with daily, weekly, monthly and yearly' },
  )
  .strict();

/** A database's retention as configured (tiers left out take the default). */
export type RetentionConfig = z.infer<typeof retentionSchema>;

/**
 * Days each tier of a database is kept: the lifecycle expiration of its objects and the Object Lock
 * retain-until the runner sets. A count means the backups of the last `count` periods of that tier.
 */
export function retentionDays(database: { readonly retention: RetentionConfig }): Record<Tier, number> {
  return Object.fromEntries(
    TIERS.map((tier) => {
      const retention = database.retention[tier] ?? DEFAULT_RETENTION[tier];
      return [tier, retention.days ?? (retention.count ?? 1) * TIER_PERIOD_DAYS[tier]];
    }),
  ) as Record<Tier, number>;
}
