import { describe, expect, it } from 'vitest';
import { parseDeploymentConfig } from '../../core/config.ts';
import { database, problemsOf, valid } from '../support/configs.ts';

const withDrill = (drill: Record<string, unknown>) => ({
  ...valid,
  databases: [{ ...database, drill: { rtoMinutes: 60, ...drill } }],
});

describe("a database's drill.samples and drill.retrievalTier", () => {
  it('has none unless given: only the latest backup is drilled, archived ones retrieved in Standard', () => {
    const drill = parseDeploymentConfig(withDrill({}), 'pgproof.config.json').databases[0]?.drill;
    expect(drill).not.toHaveProperty('samples');
    expect(drill).not.toHaveProperty('retrievalTier');
  });

  it('takes samples, each on the 1st of the month at 06:00 unless it names a schedule', () => {
    const config = parseDeploymentConfig(
      withDrill({
        samples: [
          { tier: 'monthly', withinDays: 365 },
          { tier: 'yearly', withinDays: 1100, schedule: 'cron(0 3 ? 1 SUN#1 *)' },
        ],
        retrievalTier: 'Bulk',
      }),
      'pgproof.config.json',
    );
    expect(config.databases[0]?.drill).toMatchObject({
      samples: [
        { tier: 'monthly', withinDays: 365, schedule: 'cron(0 6 1 * ? *)' },
        { tier: 'yearly', withinDays: 1100, schedule: 'cron(0 3 ? 1 SUN#1 *)' },
      ],
      retrievalTier: 'Bulk',
      // The samples run in the drill's time zone, the database's here.
      timeZone: 'Europe/Berlin',
    });
  });

  it('rejects samples that are not a tier and a window, naming each path and the fix', () => {
    expect(
      problemsOf(
        withDrill({
          samples: [
            { tier: 'hourly', withinDays: 0 },
            { tier: 'monthly', withinDays: 365, schedule: 'cron(0 6 * * * *)', every: 'month' },
          ],
        }),
      ),
    ).toEqual([
      'databases[0].drill.samples[0].tier: must be one of daily, weekly, monthly, yearly; name the tier to sample, e.g. "monthly"',
      'databases[0].drill.samples[0].withinDays: must be at least 1; give the days back a sampled backup may have been taken, e.g. 365',
      'databases[0].drill.samples[1].schedule: "cron(0 6 * * * *)" must have "?" in exactly one of day-of-month and day-of-week; e.g. "cron(0 6 1 * ? *)"',
      'databases[0].drill.samples[1].every: is not a known setting; remove it or check its spelling',
    ]);
    expect(problemsOf(withDrill({ samples: { tier: 'monthly' } }))).toEqual([
      'databases[0].drill.samples: must be a list like [{ "tier": "monthly", "withinDays": 365, "schedule": "cron(0 6 1 * ? *)" }]',
    ]);
  });

  it('rejects the same tier and window sampled twice, and a retrieval tier S3 has not', () => {
    expect(
      problemsOf(
        withDrill({
          samples: [
            { tier: 'monthly', withinDays: 365 },
            { tier: 'monthly', withinDays: 365, schedule: 'cron(0 6 15 * ? *)' },
          ],
          retrievalTier: 'Expedited',
        }),
      ),
    ).toEqual([
      'databases[0].drill.samples[1]: samples monthly backups within 365 days as samples[0] does; give each sample its own tier or window (one sample can run on any schedule)',
      'databases[0].drill.retrievalTier: must be "Standard" or "Bulk"; Bulk is cheaper and takes up to 48 hours from Deep Archive',
    ]);
  });
});
