import { z } from 'zod';

/** Retention tiers of grandfather-father-son rotation, shortest-lived first. */
export const TIERS = ['daily', 'weekly', 'monthly', 'yearly'] as const;

/** A retention tier; lifecycle rules act on the `pgproof:tier` object tag holding it. */
export type Tier = (typeof TIERS)[number];

/** zod schema of a tier name. */
export const tierSchema = z.enum(TIERS);
