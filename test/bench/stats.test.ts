import { describe, expect, it } from 'vitest';
import { median, megabytesPerSecond, ratio, summarize } from '../../bench/stats.ts';

describe('bench statistics', () => {
  it('takes the middle value of an odd sample and the mean of the middle two of an even one', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([7])).toBe(7);
  });

  it('rejects an empty sample with the fix', () => {
    expect(() => median([])).toThrow('median of no values: run at least one round');
  });

  it('summarises a sample as median, min and max', () => {
    expect(summarize([5, 1, 9, 3, 4])).toEqual({ median: 4, min: 1, max: 9 });
  });

  it('divides the medians and ranges the per-round ratios', () => {
    const r = ratio('C/B', [10.5, 11, 12], [10, 10, 10.5], 1.1);
    expect(r.value).toBeCloseTo(11 / 10);
    expect(r.perRound.min).toBeCloseTo(1.05);
    expect(r.perRound.max).toBeCloseTo(12 / 10.5);
    expect(r.perRound.median).toBeCloseTo(1.1);
    expect(r.met).toBe(true);
  });

  it('misses a target only when the ratio is above it', () => {
    expect(ratio('C/A', [6], [10], 0.5).met).toBe(false);
    expect(ratio('C/A', [5], [10], 0.5).met).toBe(true);
  });

  it("meets a gain's target only when the ratio is at least it", () => {
    expect(ratio('C/F', [10], [8], 1.3, 'at least')).toMatchObject({
      value: 1.25,
      bound: 'at least',
      met: false,
    });
    expect(ratio('C/F', [10], [5], 1.3, 'at least').met).toBe(true);
  });

  it('pairs rounds by index and leaves out a round only one side has', () => {
    const r = ratio('D/E', [2, 4, 100], [1, 2], 1.25);
    expect(r.perRound).toEqual({ median: 2, min: 2, max: 2 });
  });

  it('gives throughput in MB/s of 10^6 bytes', () => {
    expect(megabytesPerSecond(1_000_000_000, 8)).toBe(125);
    expect(megabytesPerSecond(1, 0)).toBe(0);
  });
});
