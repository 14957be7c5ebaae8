import { describe, expect, it } from 'vitest';
import { classifyTier } from '../../core/classify-tier.ts';

const at = (iso: string) => new Date(iso);

describe('classifyTier', () => {
  it('makes the very first backup yearly', () => {
    expect(classifyTier(at('2026-03-10T02:00:00Z'), 'UTC', [])).toBe('yearly');
  });

  it('makes a second backup on the same day daily', () => {
    const previous = [at('2026-03-09T02:00:00Z'), at('2026-03-10T02:00:00Z')];
    expect(classifyTier(at('2026-03-10T14:00:00Z'), 'UTC', previous)).toBe('daily');
  });

  it('makes the next day of the same ISO week daily', () => {
    // 2026-03-09 is a Monday.
    expect(classifyTier(at('2026-03-10T02:00:00Z'), 'UTC', [at('2026-03-09T02:00:00Z')])).toBe('daily');
  });

  it('makes the first backup of an ISO week weekly (Monday after Sunday)', () => {
    const previous = [at('2026-03-02T02:00:00Z'), at('2026-03-08T02:00:00Z')];
    expect(classifyTier(at('2026-03-09T02:00:00Z'), 'UTC', previous)).toBe('weekly');
  });

  it('makes the first backup of a month monthly even mid-week', () => {
    // 2026-03-31 is a Tuesday, 2026-04-01 a Wednesday of the same ISO week.
    const previous = [at('2026-03-30T02:00:00Z'), at('2026-03-31T02:00:00Z')];
    expect(classifyTier(at('2026-04-01T02:00:00Z'), 'UTC', previous)).toBe('monthly');
  });

  it('makes the first backup of a year yearly', () => {
    const previous = [at('2026-12-30T02:00:00Z'), at('2026-12-31T02:00:00Z')];
    expect(classifyTier(at('2027-01-01T02:00:00Z'), 'UTC', previous)).toBe('yearly');
  });

  it('keeps an ISO week that spans New Year: 2026-W53 runs from Mon 28 Dec to Sun 3 Jan', () => {
    const previous = [at('2026-12-28T02:00:00Z'), at('2027-01-01T02:00:00Z'), at('2027-01-02T02:00:00Z')];
    expect(classifyTier(at('2027-01-03T02:00:00Z'), 'UTC', previous)).toBe('daily');
    expect(classifyTier(at('2027-01-04T02:00:00Z'), 'UTC', [...previous, at('2027-01-03T02:00:00Z')])).toBe(
      'weekly',
    );
  });

  it('counts periods on the schedule zone wall clock where the UTC date differs (east of UTC)', () => {
    // 00:30 on 1 February in Berlin is still 31 January in UTC.
    const scheduled = at('2026-01-31T23:30:00Z');
    const previous = [at('2026-01-29T23:30:00Z'), at('2026-01-30T23:30:00Z')];
    expect(classifyTier(scheduled, 'Europe/Berlin', previous)).toBe('monthly');
    expect(classifyTier(scheduled, 'UTC', previous)).toBe('daily');
  });

  it('counts periods on the schedule zone wall clock where the UTC date differs (west of UTC)', () => {
    // 18:00 on 31 December in Los Angeles is already 1 January in UTC: not the year's first backup.
    const scheduled = at('2027-01-01T02:00:00Z');
    const previous = [at('2026-12-30T02:00:00Z')];
    expect(classifyTier(scheduled, 'America/Los_Angeles', previous)).toBe('daily');
    expect(classifyTier(scheduled, 'UTC', previous)).toBe('yearly');
    // The next evening opens the year in Los Angeles.
    expect(classifyTier(at('2027-01-02T02:00:00Z'), 'America/Los_Angeles', [...previous, scheduled])).toBe(
      'yearly',
    );
  });

  it('handles a zone whose offset is not whole hours across a month boundary', () => {
    // 05:45 on 1 March in Kathmandu (UTC+5:45) is 00:00 UTC; 05:44 would still be 28 February in UTC.
    expect(classifyTier(at('2026-02-28T23:59:00Z'), 'Asia/Kathmandu', [at('2026-02-27T23:59:00Z')])).toBe(
      'monthly',
    );
  });

  it('makes the next successful run monthly after a failed first-of-month run', () => {
    // The run of 1 February failed and wrote no manifest, so it is not among the previous backups.
    const previous = [at('2026-01-30T02:00:00Z'), at('2026-01-31T02:00:00Z')];
    expect(classifyTier(at('2026-02-02T02:00:00Z'), 'UTC', previous)).toBe('monthly');
    // Once that one succeeded, the rest of the month is back to normal.
    expect(classifyTier(at('2026-02-03T02:00:00Z'), 'UTC', [...previous, at('2026-02-02T02:00:00Z')])).toBe(
      'daily',
    );
  });

  it('ignores backups at or after the scheduled time', () => {
    const scheduled = at('2026-05-01T02:00:00Z');
    expect(
      classifyTier(scheduled, 'UTC', [at('2026-04-30T02:00:00Z'), scheduled, at('2026-05-02T02:00:00Z')]),
    ).toBe('monthly');
  });
});
