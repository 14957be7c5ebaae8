import type { Ratio } from './stats.ts';

/** How the report writes numbers, ratios and names (RESULTS.md and the run's log). */

/** Bytes as MB (10^6), with one decimal below 100. */
export function formatMegabytes(bytes: number): string {
  const mb = bytes / 1e6;
  return `${mb < 100 ? mb.toFixed(1) : mb.toFixed(0)} MB`;
}

/** Seconds with two decimals below 10, one above. */
export function formatSeconds(seconds: number): string {
  return seconds < 10 ? seconds.toFixed(2) : seconds.toFixed(1);
}

/** A ratio's target: `≤ 1.10`, or `≥ 1.42 (H/G)` for one measured in the same run. */
export function formatTarget(r: Ratio): string {
  return `${r.bound === 'at most' ? '≤' : '≥'} ${r.target.toFixed(2)}${r.targetName ? ` (${r.targetName})` : ''}`;
}

/** A ratio, whether it met its target, and its spread over the rounds. */
export function formatRatio(r: Ratio): string {
  const p = r.perRound;
  return `${r.value.toFixed(2)} ${r.met ? '✅ met' : '❌ missed'} (round by round: median ${p.median.toFixed(2)}, ${p.min.toFixed(2)}–${p.max.toFixed(2)})`;
}

/** The report's name for the stand-in S3 that discards the dump (`--s3 sink`). */
export const S3_SINK_ROLE = 's3 sink (node)';
