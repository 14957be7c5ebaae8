import type { CloudWatchClient, GetMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import { describe, expect, it } from 'vitest';
import { daysSinceDrDrillPassed } from '../../core/dr-drill-watch.ts';

const NOW = new Date('2026-12-20T00:30:00Z');
const day = (iso: string) => new Date(`${iso}T00:00:00Z`);

/** A CloudWatch client that answers GetMetricData with these daily points, and records the request. */
function cloudwatchWith(points: [Date, number][]) {
  const requests: GetMetricDataCommand['input'][] = [];
  const client = {
    send: async (command: GetMetricDataCommand) => {
      requests.push(command.input);
      return {
        MetricDataResults: [
          { Id: 'passed', Timestamps: points.map(([t]) => t), Values: points.map(([, v]) => v) },
        ],
      };
    },
  } as unknown as CloudWatchClient;
  return { client, requests };
}

describe('DR drill watch', () => {
  it('counts whole days since the last day a DR drill passed, failed days not counting', async () => {
    const { client, requests } = cloudwatchWith([
      [day('2026-12-15'), 0],
      [day('2026-12-01'), 1],
      [day('2026-11-01'), 1],
    ]);
    expect(await daysSinceDrDrillPassed(client, 'orders', 35, NOW)).toBe(19);
    expect(requests[0]).toMatchObject({
      StartTime: new Date(NOW.getTime() - 36 * 86_400_000),
      EndTime: NOW,
      MetricDataQueries: [
        {
          MetricStat: {
            Metric: {
              Namespace: 'pgproof',
              MetricName: 'DrDrillPassed',
              Dimensions: [
                { Name: 'service', Value: 'pgproof' },
                { Name: 'Database', Value: 'orders' },
              ],
            },
            Period: 86_400,
            Stat: 'Maximum',
          },
        },
      ],
    });
  });

  it('says window + 1 days when no DR drill passed within the look-back, so the alarm fires', async () => {
    expect(await daysSinceDrDrillPassed(cloudwatchWith([]).client, 'orders', 35, NOW)).toBe(36);
    expect(
      await daysSinceDrDrillPassed(cloudwatchWith([[day('2026-12-10'), 0]]).client, 'orders', 35, NOW),
    ).toBe(36);
  });
});
