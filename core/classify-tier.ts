import type { Tier } from './retention-tiers.ts';

/**
 * Grandfather-father-son rotation decided from what is already in the bucket rather than from the
 * calendar alone: the first *successful* backup of a local year is yearly, of a month monthly, of an
 * ISO week weekly, everything else daily. A failed run on the 1st leaves no manifest, so the next
 * successful run of that month still becomes its monthly backup.
 */

interface LocalDate {
  readonly year: number;
  readonly month: number;
  readonly day: number;
}

/** The calendar date of `at` on the wall clock of the formatter's time zone. */
function localDate(at: Date, calendar: Intl.DateTimeFormat): LocalDate {
  const parts = calendar.formatToParts(at);
  const part = (type: Intl.DateTimeFormatPartTypes) => Number(parts.find((p) => p.type === type)?.value);
  return { year: part('year'), month: part('month'), day: part('day') };
}

/** ISO 8601 week-numbering year and week of a calendar date (weeks start on Monday; week 1 holds a Thursday). */
function isoWeek({ year, month, day }: LocalDate): { year: number; week: number } {
  const date = new Date(Date.UTC(year, month - 1, day));
  const weekday = date.getUTCDay() || 7;
  // The Thursday of this week decides which year the week belongs to.
  date.setUTCDate(date.getUTCDate() + 4 - weekday);
  const weekYear = date.getUTCFullYear();
  const dayOfYear = (date.getTime() - Date.UTC(weekYear, 0, 1)) / 86_400_000;
  return { year: weekYear, week: Math.floor(dayOfYear / 7) + 1 };
}

/**
 * The tier of a backup scheduled at `scheduledAt`, given the times of the database's earlier
 * successful backups (their backup ids). Calendar periods are those of `timeZone`'s wall clock, so a
 * backup at 00:30 in Europe/Berlin on the 1st opens the month even though it is still the 31st in UTC.
 * Backups at or after `scheduledAt` are ignored: only earlier ones can claim a period first.
 */
export function classifyTier(scheduledAt: Date, timeZone: string, previous: readonly Date[]): Tier {
  const calendar = new Intl.DateTimeFormat('en-US', {
    timeZone,
    year: 'numeric',
    month: 'numeric',
    day: 'numeric',
  });
  const today = localDate(scheduledAt, calendar);
  const thisWeek = isoWeek(today);
  let yearTaken = false;
  let monthTaken = false;
  let weekTaken = false;
  for (const at of previous) {
    if (at.getTime() >= scheduledAt.getTime()) continue;
    const then = localDate(at, calendar);
    const thenWeek = isoWeek(then);
    yearTaken ||= then.year === today.year;
    monthTaken ||= then.year === today.year && then.month === today.month;
    weekTaken ||= thenWeek.year === thisWeek.year && thenWeek.week === thisWeek.week;
  }
  if (!yearTaken) return 'yearly';
  if (!monthTaken) return 'monthly';
  if (!weekTaken) return 'weekly';
  return 'daily';
}
