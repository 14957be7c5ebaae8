import { z } from 'zod';
import { cron, text, timeZone, wholeNumber } from './config-fields.ts';

/**
 * The config's restore drill settings: a database's `drill` (its RTO, schedule, alarm and SQL checks)
 * and the deployment's `drill` (what holds for every database).
 */

/** When a database's `drill` names no schedule: Sundays at 05:00 in the drill's time zone. */
export const DEFAULT_DRILL_SCHEDULE = 'cron(0 5 ? * SUN *)';

/** Days without a passed drill before a database's overdue alarm fires, when its `drill` says nothing. */
export const DEFAULT_MAX_DAYS_WITHOUT_SUCCESS = 7;

const sqlCheckSchema = z
  .object(
    {
      name: text('name the check as the drill report should, e.g. "orders have customers"'),
      sql: text(
        'write a query returning one row whose first column is true, e.g. "select count(*) > 0 from orders"',
      ),
    },
    { error: 'must be an object like { "name": "orders exist", "sql": "select count(*) > 0 from orders" }' },
  )
  .strict();

/**
 * How a database's backups are proven to restore: its RTO, the drill's schedule, alarm and SQL checks.
 * `timeZone` is left out here when unset: the database's own applies (see the database schema).
 */
export const drillSchema = z
  .object(
    {
      rtoMinutes: wholeNumber(
        1,
        10_080,
        'give the minutes a restore (download and pg_restore) may take, e.g. 60',
      ),
      schedule: cron(DEFAULT_DRILL_SCHEDULE).default(DEFAULT_DRILL_SCHEDULE),
      timeZone: timeZone().optional(),
      maxDaysWithoutSuccess: wholeNumber(
        1,
        7,
        'give the days without a passed drill before the alarm fires (a CloudWatch alarm looks back at most 7)',
      ).default(DEFAULT_MAX_DAYS_WITHOUT_SUCCESS),
      checks: z
        .array(sqlCheckSchema, {
          error: 'must be a list like [{ "name": "orders exist", "sql": "select count(*) > 0 from orders" }]',
        })
        .default([]),
    },
    { error: 'must be an object like { "rtoMinutes": 60 }; leave it out to drill only on demand' },
  )
  .strict();

/** Settings of the restore drill that hold for every database. */
export const deploymentDrillSchema = z
  .object(
    {
      postgresMajors: z
        .array(wholeNumber(10, 99, 'give PostgreSQL major versions, e.g. [15, 16, 17]'), {
          error: 'must be a list of PostgreSQL major versions, e.g. [15, 16, 17]',
        })
        .min(1, 'must list at least one PostgreSQL major version, e.g. [16]; leave it out for 13 to 18')
        .optional(),
    },
    { error: 'must be an object like { "postgresMajors": [16, 17] }' },
  )
  .strict();
