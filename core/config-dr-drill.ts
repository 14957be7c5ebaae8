import { z } from 'zod';
import { cron, timeZone, wholeNumber } from './config-fields.ts';
import { networkSchema } from './config-network.ts';

/**
 * The config's `drDrill`: a DR drill in the replica region, of the replica bucket under the replica key,
 * for every database, on a schedule of its own. Its defaults are the library's (cdk ReplicaDrill).
 */

/** A DR drill's schedule when none is given: monthly, on the 1st at 06:00. */
export const DR_DRILL_DEFAULT_SCHEDULE = 'cron(0 6 1 * ? *)';

/** A DR drill's window when none is given: a monthly drill may miss one month's run by a few days. */
export const DR_DRILL_DEFAULT_WINDOW_DAYS = 35;

/** The DR drill's settings; `{}` turns it on with every default. */
export const drDrillSchema = z
  .object(
    {
      schedule: cron(DR_DRILL_DEFAULT_SCHEDULE).default(DR_DRILL_DEFAULT_SCHEDULE),
      timeZone: timeZone().default('UTC'),
      maxDaysWithoutSuccess: wholeNumber(
        1,
        400,
        'give the days without a passed DR drill before its alarm fires, e.g. 35 for a monthly drill',
      ).default(DR_DRILL_DEFAULT_WINDOW_DAYS),
      /** Where the DR drill's tasks run in the replica region; its own VPC by default. */
      network: networkSchema.default({ type: 'create', cidr: '10.80.0.0/24', maxAzs: 2 }),
    },
    {
      error: `must be an object like { "schedule": "${DR_DRILL_DEFAULT_SCHEDULE}" }, or {} for the defaults; leave it out for no DR drill`,
    },
  )
  .strict();

/** The DR drill's settings, defaults applied. */
export type DrDrillConfig = z.infer<typeof drDrillSchema>;
