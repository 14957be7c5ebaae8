/**
 * The benchmark's statistics: medians of interleaved rounds and the ratios the targets are set on.
 * Pure functions, so the numbers in RESULTS.md can be checked by a unit test.
 */

/** The median of some numbers (the mean of the middle two for an even count). */
export function median(values: readonly number[]): number {
  if (values.length === 0) throw new Error('median of no values: run at least one round');
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  const upper = sorted[middle] as number;
  return sorted.length % 2 === 1 ? upper : ((sorted[middle - 1] as number) + upper) / 2;
}

/** Median, smallest and largest of a sample. */
export interface Summary {
  readonly median: number;
  readonly min: number;
  readonly max: number;
}

/** Summarises a sample. */
export function summarize(values: readonly number[]): Summary {
  return { median: median(values), min: Math.min(...values), max: Math.max(...values) };
}

/** Whether a ratio is a cost, held at or under its target (C/B ≤ 1.10), or a gain, at or over it. */
export type Bound = 'at most' | 'at least';

/** A ratio between two variants' wall times and whether it meets its target. */
export interface Ratio {
  /** e.g. `C/B`. */
  readonly name: string;
  /** Median of the numerator over median of the denominator. */
  readonly value: number;
  /** The ratio within each round (the variants ran back to back, so slow drifts in load cancel out). */
  readonly perRound: Summary;
  readonly target: number;
  readonly bound: Bound;
  /** The ratio the target was measured as, when it is one (C/F ≥ H/G), not a fixed number. */
  readonly targetName?: string;
  readonly met: boolean;
}

/**
 * The ratio of two variants' times, round by round and of the medians. Rounds are paired by index;
 * a round where either variant is missing is left out of the per-round range.
 */
export function ratio(
  name: string,
  numerator: readonly number[],
  denominator: readonly number[],
  target: number,
  bound: Bound = 'at most',
): Ratio {
  const value = median(numerator) / median(denominator);
  const paired: number[] = [];
  for (let i = 0; i < Math.min(numerator.length, denominator.length); i++) {
    paired.push((numerator[i] as number) / (denominator[i] as number));
  }
  return {
    name,
    value,
    perRound: summarize(paired),
    target,
    bound,
    met: bound === 'at most' ? value <= target : value >= target,
  };
}

/** Throughput in MB/s (10^6 bytes) of `bytes` processed in `seconds`. */
export function megabytesPerSecond(bytes: number, seconds: number): number {
  return seconds > 0 ? bytes / 1e6 / seconds : 0;
}
