import { S3_SINK_ROLE } from './format.ts';
import type { CpuUse } from './process-monitor.ts';
import type { ScaleResult, VariantResult } from './results.ts';

/**
 * How long a backup in N streams would take on a machine other than this one (a 16-vCPU task), from what
 * one run measured here: the CPU each process of a stream's pipeline spends per GB of table data, and the
 * time the runner spends outside pg_dump. On this 2-core machine every process shares the same two cores,
 * so wall-clock rates here are rates under contention; CPU seconds per GB are not (much), and they are
 * what carries over:
 *
 *   time(N) ≈ fixed + max( max(data / N, largest table) / per-stream rate,   one stream per pg_dump
 *                          data × task CPU per GB / task vCPUs,              the task's cores
 *                          data × runner main-thread CPU per GB,             the runner's one event loop
 *                          data × server CPU per GB / server vCPUs )         the database server's cores
 *
 * where one stream is one pg_dump process and one server backend, each single-threaded, so it goes as fast
 * as the busier of the two: per-stream rate = 1 GB / max(pg_dump CPU per GB, its backend's CPU per GB).
 * The same formula, with every process on this machine's cores, is checked against what this run measured.
 */

/** CPU seconds per GB (10^9 bytes of `pg_table_size`) of each kind of process. */
export interface CpuPerGigabyte {
  /** pg_dump with zstd inside it, all streams together: in the task. */
  readonly pgDump: number;
  /** The backup runner (Node.js, one process for every stream) while pg_dump ran: in the task. */
  readonly runner: number;
  /** Of which its main thread's: the event loop every stream's bytes pass through, one core at most. */
  readonly runnerMainThread: number;
  /** One dump's server backend alone (bare pg_dump -j 1, H): the server side of one stream. */
  readonly streamBackend: number;
  /** Every backend of the runner's backup (the streams', the row counts', the snapshot's): on the server. */
  readonly serverBackends: number;
  /** The S3 server (s3rver, or the sink) while pg_dump ran: here on the same cores; on AWS, S3's. */
  readonly s3: number;
}

/** Where a predicted time is bound. */
export type Bound = 'streams' | 'largest table' | 'task CPU' | 'runner' | 'server CPU';

/** A machine the model predicts for. */
export interface ModelMachine {
  readonly name: string;
  /** vCPUs of the task: pg_dump and the runner (here also the server and the S3 server). */
  readonly vcpus: number;
  /** vCPUs of the database server; undefined when it shares the task's (this machine). */
  readonly serverVcpus: number | undefined;
  /** Whether the S3 server's CPU is the task's (here) or S3's (on AWS). */
  readonly s3OnTask: boolean;
}

/** The 16-vCPU task, with a database server of as many vCPUs, S3 as a service. */
export const TASK_16_VCPU: ModelMachine = {
  name: '16-vCPU task',
  vcpus: 16,
  serverVcpus: 16,
  s3OnTask: false,
};

/** What the model is built from: one run's measurements. */
export interface StreamModelInputs {
  /** Table data and its largest table, bytes. */
  readonly tableBytes: number;
  readonly largestTableBytes: number;
  /** Compressed archive bytes per table byte (the upload the runner makes). */
  readonly outputRatio: number;
  readonly cpu: CpuPerGigabyte;
  /** F's time outside pg_dump: before the first one started and after the last one ended, seconds. */
  readonly fixedSeconds: number;
  /** The streams F ran (its archives). */
  readonly streams: number;
}

/** One predicted time. */
export interface Prediction {
  readonly streams: number;
  readonly seconds: number;
  readonly bound: Bound;
  /** The bare pg_dump -Fd -j N of the same machine (G's costs): no runner. */
  readonly bareSeconds: number;
  /** The upload rate the time needs, MB/s. */
  readonly uploadMBps: number;
}

/** A prediction for a variant that ran here, from its own costs, beside what it measured. */
export interface Check {
  readonly variant: string;
  readonly streams: number;
  /** This machine's cores less what other work on it took meanwhile. */
  readonly coresLeft: number;
  readonly predictedSeconds: number;
  readonly bound: Bound;
  readonly measuredSeconds: number;
}

/** A rate measured here, under this machine's contention: table MB/s of the busiest stream. */
export interface MeasuredRate {
  readonly variant: string;
  readonly streams: number;
  readonly perStreamMBps: number;
}

/** The model of one scale: inputs, the check against this run, and the prediction for another machine. */
export interface StreamModel {
  /** F's costs: what the prediction is made of. */
  readonly inputs: StreamModelInputs;
  /** One stream's rate with two cores of its own, table MB/s. */
  readonly perStreamMBps: number;
  readonly measuredRates: readonly MeasuredRate[];
  readonly checks: readonly Check[];
  readonly machine: ModelMachine;
  readonly predictions: readonly Prediction[];
  readonly assumptions: readonly string[];
}

const GB = 1e9;

/** Seconds per table byte of one stream: its pg_dump and its backend run side by side, each on a core. */
function streamSecondsPerByte(cpu: CpuPerGigabyte): number {
  return Math.max(cpu.pgDump, cpu.streamBackend) / GB;
}

/** The predicted time of a backup in `streams` streams on `machine`, and what bounds it. */
export function predict(
  inputs: StreamModelInputs,
  streams: number,
  machine: ModelMachine,
): { seconds: number; bound: Bound } {
  const { tableBytes, largestTableBytes, cpu } = inputs;
  const gigabytes = tableBytes / GB;
  const perByte = streamSecondsPerByte(cpu);
  const sharesServer = machine.serverVcpus === undefined;
  const taskCpu =
    cpu.pgDump + cpu.runner + (sharesServer ? cpu.serverBackends : 0) + (machine.s3OnTask ? cpu.s3 : 0);
  const terms: [Bound, number][] = [
    ['streams', (tableBytes / streams) * perByte],
    ['largest table', largestTableBytes * perByte],
    ['task CPU', (gigabytes * taskCpu) / machine.vcpus],
    ['runner', gigabytes * cpu.runnerMainThread],
  ];
  if (machine.serverVcpus !== undefined)
    terms.push(['server CPU', (gigabytes * cpu.serverBackends) / machine.serverVcpus]);
  const [bound, seconds] = terms.reduce((a, b) => (b[1] > a[1] ? b : a));
  return { seconds: inputs.fixedSeconds + seconds, bound };
}

/** Seconds the longest pg_dump of a variant ran (as sampled). */
function pgDumpSpan(v: VariantResult): number {
  const dump = v.processes.pg_dump;
  return dump ? dump.lastSeenSeconds - dump.firstSeenSeconds : v.wallSeconds.median;
}

/** How many streams a runner's backup ran: its archives (one when it took its dump in one stream). */
export function streamsOf(v: VariantResult): number {
  return Math.max(1, ...v.rounds.map((r) => r.streams?.archiveBytes.length ?? 1));
}

/**
 * The table bytes of F's busiest stream, from the runner's plan (stream 0 holds what the data streams do
 * not), or an even share (at least the largest table) when it logged none.
 */
function busiestStreamBytes(
  v: VariantResult,
  data: Pick<StreamModelInputs, 'tableBytes' | 'largestTableBytes'>,
  streams: number,
): number {
  const planned = v.rounds.find((r) => r.streams?.planned.length)?.streams?.planned ?? [];
  if (planned.length === 0) return Math.max(data.tableBytes / streams, data.largestTableBytes);
  const dataBytes = planned.map((s) => s.bytes);
  return Math.max(data.tableBytes - dataBytes.reduce((a, b) => a + b, 0), ...dataBytes);
}

/**
 * A variant's costs: its processes' CPU per GB, and its time outside pg_dump. One stream's backend is
 * H's (bare pg_dump -j 1: that backend alone), for every variant.
 */
function costsOf(
  v: VariantResult,
  streams: number,
  data: Pick<StreamModelInputs, 'tableBytes' | 'largestTableBytes'>,
  oneStream: VariantResult,
): StreamModelInputs {
  const gigabytes = data.tableBytes / GB;
  const perGigabyte = (variant: VariantResult, role: string) =>
    (variant.processes[role]?.cpuSeconds ?? 0) / gigabytes;
  // The runner's and S3's CPU while pg_dump ran: their start and finish are in the time outside it.
  const whileDumping = (role: string, thread: keyof CpuUse = 'cpuSeconds') => {
    const usage = v.processes[role];
    return (usage?.inSpan?.[thread] ?? usage?.[thread] ?? 0) / gigabytes;
  };
  return {
    ...data,
    outputRatio: v.outputBytes / data.tableBytes,
    cpu: {
      pgDump: perGigabyte(v, 'pg_dump'),
      runner: whileDumping('runner (node)'),
      runnerMainThread: whileDumping('runner (node)', 'mainThreadCpuSeconds'),
      streamBackend: perGigabyte(oneStream, 'postgres backends'),
      serverBackends: perGigabyte(v, 'postgres backends'),
      s3: whileDumping('s3rver (node)') + whileDumping(S3_SINK_ROLE),
    },
    fixedSeconds: v.wallSeconds.median - pgDumpSpan(v),
    streams,
  };
}

/**
 * The model of one scale, or undefined without C, F, G and H. `jobs` is G's `pg_dump -j` (`--streams`);
 * F's streams are its archives (fewer when fewer tables were large enough).
 */
export function buildStreamModel(
  scale: ScaleResult,
  cores: number,
  jobs: number,
  machine: ModelMachine = TASK_16_VCPU,
): StreamModel | undefined {
  const { C, F, G, H } = scale.variants;
  const data = { tableBytes: scale.dataSet.tableBytes, largestTableBytes: scale.dataSet.largestTableBytes };
  if (!C || !F || !G || !H || !data.tableBytes) return undefined;
  const streams = streamsOf(F);
  const inputs = costsOf(F, streams, data, H);
  const bare = costsOf(G, jobs, data, H);
  const { cpu } = inputs;
  const check = (variant: string, v: VariantResult, n: number): Check => {
    // Other work on a shared machine takes cores the variant's processes then do not have.
    const coresLeft = Math.max(0.5, cores - (v.otherCpuSeconds ?? 0) / v.wallSeconds.median);
    const here: ModelMachine = {
      name: 'this machine',
      vcpus: coresLeft,
      serverVcpus: undefined,
      s3OnTask: true,
    };
    const p = predict(costsOf(v, n, data, H), n, here);
    return {
      coresLeft,
      variant,
      streams: n,
      predictedSeconds: p.seconds,
      bound: p.bound,
      measuredSeconds: v.wallSeconds.median,
    };
  };
  const mbps = (bytes: number, seconds: number) => bytes / 1e6 / seconds;
  const perStreamMBps = 1 / streamSecondsPerByte(cpu) / 1e6;
  return {
    inputs,
    perStreamMBps,
    measuredRates: [
      { variant: 'C', streams: 1, perStreamMBps: mbps(data.tableBytes, pgDumpSpan(C)) },
      { variant: 'F', streams, perStreamMBps: mbps(busiestStreamBytes(F, data, streams), pgDumpSpan(F)) },
      { variant: 'H', streams: 1, perStreamMBps: mbps(data.tableBytes, pgDumpSpan(H)) },
      {
        variant: 'G',
        streams: jobs,
        perStreamMBps: mbps(Math.max(data.tableBytes / jobs, data.largestTableBytes), pgDumpSpan(G)),
      },
    ],
    checks: [check('C', C, 1), check('F', F, streams), check('H', H, 1), check('G', G, jobs)],
    machine,
    predictions: [1, 2, 4, 8, 16].map((n) => {
      const p = predict(inputs, n, machine);
      return {
        streams: n,
        seconds: p.seconds,
        bound: p.bound,
        bareSeconds: predict(bare, n, machine).seconds,
        uploadMBps: mbps(data.tableBytes * inputs.outputRatio, p.seconds),
      };
    }),
    assumptions: [
      `one stream is one pg_dump and one server backend, each single-threaded: it goes at 1 GB / max(pg_dump ${cpu.pgDump.toFixed(2)}, its backend ${cpu.streamBackend.toFixed(2)} CPU s per GB) = ${perStreamMBps.toFixed(0)} MB/s of table data with a core for each`,
      'a stream never splits a table: the largest one takes its bytes at that rate',
      `the task runs pg_dump (${cpu.pgDump.toFixed(2)} CPU s per GB, all streams) and the runner (${cpu.runner.toFixed(2)}) on ${machine.vcpus} vCPUs; every stream's bytes pass through the runner's one main thread (${cpu.runnerMainThread.toFixed(2)} CPU s per GB of it), which does its work in turn`,
      `the database server runs the backends (${cpu.serverBackends.toFixed(2)} CPU s per GB, the row counts' included) on ${machine.serverVcpus ?? "the task's"} vCPUs and reads as fast as they ask (its storage is not modelled: here the data was in the page cache)`,
      `the archives are ${(inputs.outputRatio * 100).toFixed(1)} % of the table bytes; the "upload" column is the rate the time needs (the task's network is not modelled), S3's CPU is not the task's`,
      `the runner's time outside pg_dump (start, snapshot, stream plan, last uploads, row counts, manifest: ${inputs.fixedSeconds.toFixed(2)} s here) stays as measured; bare pg_dump's (G) likewise. It holds s3rver's CompleteMultipartUpload (${(F.s3Operations?.CompleteMultipartUpload?.serverSeconds ?? 0).toFixed(2)} s, summed over the uploads), which copies every part here and which Amazon S3 does apart from the task: on AWS this term is smaller`,
      'CPU seconds per GB measured on shared cores carry over to idle ones (they overstate a little: cache and switches)',
    ],
  };
}

/** A scale's results with its stream model built from them (none without C, F, G and H). */
export function withStreamModel(scale: ScaleResult, cores: number, jobs: number): ScaleResult {
  const { streamModel: _earlier, ...measured } = scale;
  const streamModel = buildStreamModel(measured, cores, jobs);
  return { ...measured, ...(streamModel ? { streamModel } : {}) };
}
