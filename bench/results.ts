import type { CpuBreakdown } from './cpu-profile.ts';
import type { DataSet } from './dataset.ts';
import type { Machine } from './machine.ts';
import type { VariantRun } from './measured-run.ts';
import type { StreamModel } from './model.ts';
import type { BenchOptions, VariantId } from './options.ts';
import type { RoleUsage } from './process-monitor.ts';
import type { OperationTiming } from './s3-requests.ts';
import { median, megabytesPerSecond, type Ratio, ratio, type Summary, summarize } from './stats.ts';
import { variantLabel } from './variants.ts';

/**
 * The results of one invocation (bench/results.json): every round of every variant as measured,
 * and what the report derives from them.
 */

/** A variant over all rounds at one scale. */
export interface VariantResult {
  readonly id: VariantId;
  readonly label: string;
  readonly wallSeconds: Summary;
  /** Database size over the median time, MB/s. */
  readonly throughputMBps: number;
  /** Median output size, bytes. */
  readonly outputBytes: number;
  /** Median CPU of other work on the machine meanwhile (its whole CPU less every watched process's), seconds. */
  readonly otherCpuSeconds?: number;
  /** Per role: the largest peak RSS of any round, the median CPU seconds. */
  readonly processes: Record<string, RoleUsage>;
  /** Median of each phase, seconds. */
  readonly phases?: Record<string, number>;
  /** The S3 server's requests by operation, medians. */
  readonly s3Operations?: Record<string, OperationTiming>;
  readonly rounds: readonly VariantRun[];
}

/** One scale's results. */
export interface ScaleResult {
  readonly dataSet: DataSet;
  readonly variants: Partial<Record<VariantId, VariantResult>>;
  readonly ratios: readonly Ratio[];
  readonly profiles?: Partial<Record<RunnerVariant, CpuBreakdown>>;
  /** What N streams would take on a 16-vCPU task, from this scale's C, F, G and H (model.ts). */
  readonly streamModel?: StreamModel;
}

/** The variants that run a pgproof runner. */
export const RUNNER_VARIANTS = ['C', 'D', 'F', 'I'] as const;
export type RunnerVariant = (typeof RUNNER_VARIANTS)[number];

/** The runners' memory target: below this at every scale. */
export const RUNNER_RSS_LIMIT_BYTES = 200e6;
/** "Not growing": each scale's runner peak at most this much above the next smaller scale's. */
export const RUNNER_RSS_GROWTH_LIMIT = 1.15;

/** Everything one invocation measured. */
export interface BenchResults {
  readonly generatedAt: string;
  readonly command: string;
  readonly machine: Machine;
  readonly options: BenchOptions;
  readonly scales: readonly ScaleResult[];
}

/** CPU the machine used during a run beyond the run's own processes and the servers'. */
function otherCpuSeconds(run: VariantRun): number {
  const watched = Object.values(run.processes).reduce((sum, u) => sum + u.cpuSeconds, 0);
  return Math.max(0, (run.machineCpuSeconds ?? 0) - watched);
}

/** Folds a variant's rounds into medians and peaks. */
export function summarizeVariant(
  id: VariantId,
  rounds: readonly VariantRun[],
  databaseBytes: number,
  streams: number,
): VariantResult {
  const wall = summarize(rounds.map((r) => r.wallSeconds));
  const roles = new Set(rounds.flatMap((r) => Object.keys(r.processes)));
  const processes: Record<string, RoleUsage> = {};
  for (const role of roles) {
    const seen = rounds.map((r) => r.processes[role]).filter((u) => u !== undefined);
    processes[role] = {
      processes: Math.max(...seen.map((u) => u.processes)),
      peakRssBytes: Math.max(...seen.map((u) => u.peakRssBytes)),
      cpuSeconds: median(seen.map((u) => u.cpuSeconds)),
      firstSeenSeconds: median(seen.map((u) => u.firstSeenSeconds)),
      lastSeenSeconds: median(seen.map((u) => u.lastSeenSeconds)),
      rssByQuarter: [0, 1, 2, 3].map((q) => median(seen.map((u) => u.rssByQuarter[q] ?? 0))),
      mainThreadCpuSeconds: median(seen.map((u) => u.mainThreadCpuSeconds)),
      ...(seen.some((u) => u.inSpan)
        ? {
            inSpan: {
              cpuSeconds: median(seen.map((u) => u.inSpan?.cpuSeconds ?? 0)),
              mainThreadCpuSeconds: median(seen.map((u) => u.inSpan?.mainThreadCpuSeconds ?? 0)),
            },
          }
        : {}),
    };
  }
  const operationNames = new Set(rounds.flatMap((r) => Object.keys(r.s3Operations ?? {})));
  const s3Operations: Record<string, OperationTiming> = {};
  for (const name of operationNames) {
    const seen = rounds.map((r) => r.s3Operations?.[name]).filter((o) => o !== undefined);
    s3Operations[name] = {
      count: median(seen.map((o) => o.count)),
      serverSeconds: median(seen.map((o) => o.serverSeconds)),
      firstStartSeconds: median(seen.map((o) => o.firstStartSeconds)),
      lastEndSeconds: median(seen.map((o) => o.lastEndSeconds)),
    };
  }
  const phaseNames = new Set(rounds.flatMap((r) => Object.keys(r.phases ?? {})));
  const phases: Record<string, number> = {};
  for (const name of phaseNames) {
    const values = rounds.map((r) => r.phases?.[name]).filter((v) => v !== undefined);
    if (values.length) phases[name] = median(values);
  }
  return {
    id,
    label: variantLabel(id, streams),
    wallSeconds: wall,
    throughputMBps: megabytesPerSecond(databaseBytes, wall.median),
    outputBytes: median(rounds.map((r) => r.outputBytes)),
    ...(rounds.every((r) => r.machineCpuSeconds !== undefined)
      ? { otherCpuSeconds: median(rounds.map(otherCpuSeconds)) }
      : {}),
    processes,
    ...(phaseNames.size ? { phases } : {}),
    ...(operationNames.size ? { s3Operations } : {}),
    rounds,
  };
}

/** The ratios the issue sets targets on: a cost at most its target. */
const COST_TARGETS: readonly [VariantId, VariantId, number][] = [
  ['C', 'B', 1.1],
  ['C', 'A', 0.5],
  ['D', 'E', 1.1],
  // The parallel mode within 1.15× of bare pg_dump -Fd -j N, its restore held to the restore's target.
  ['F', 'G', 1.15],
  ['I', 'E', 1.1],
];

/** The ratios the issue sets targets on, in the order the report lists them. */
export const TARGET_RATIO_NAMES = ['C/B', 'C/A', 'D/E', 'F/G', 'C/F', 'I/E'] as const;

/** The ratios the issue sets targets on, for the variants that ran. */
export function targetRatios(variants: Partial<Record<VariantId, VariantResult>>): Ratio[] {
  const times = (id: VariantId) => variants[id]?.rounds.map((r) => r.wallSeconds) ?? [];
  const ratios: Ratio[] = [];
  for (const [numerator, denominator, target] of COST_TARGETS) {
    const n = times(numerator);
    const d = times(denominator);
    if (n.length && d.length) ratios.push(ratio(`${numerator}/${denominator}`, n, d, target));
  }
  // The parallel mode gains over one stream at least what bare pg_dump -j N gains over -j 1, in this run.
  const { C, F, G, H } = variants;
  if (C && F && G && H) {
    const bareGain = H.wallSeconds.median / G.wallSeconds.median;
    ratios.push({ ...ratio('C/F', times('C'), times('F'), bareGain, 'at least'), targetName: 'H/G' });
  }
  return TARGET_RATIO_NAMES.flatMap((name) => ratios.filter((r) => r.name === name));
}

/** The runner role's peak RSS in a variant, bytes (undefined when the variant did not run). */
export function runnerPeak(result: ScaleResult, id: RunnerVariant): number | undefined {
  return result.variants[id]?.processes['runner (node)']?.peakRssBytes;
}
