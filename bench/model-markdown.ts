import { formatSeconds } from './format.ts';
import type { StreamModel } from './model.ts';
import type { ScaleResult } from './results.ts';

/** RESULTS.md's section "N streams on a 16-vCPU task": the stream model (model.ts) of each scale. */

/** The model of one scale: its inputs, the check against what ran here, the prediction. */
export function modelLines(model: StreamModel): string[] {
  const { inputs, machine } = model;
  const { cpu } = inputs;
  return [
    "| measured here (CPU s per GB of table data) | pg_dump + zstd | runner | runner's main thread | one stream's backend | all backends (row counts too) | S3 server |",
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
    `| F, ${inputs.streams} stream${inputs.streams === 1 ? '' : 's'} | ${cpu.pgDump.toFixed(2)} | ${cpu.runner.toFixed(2)} | ${cpu.runnerMainThread.toFixed(2)} | ${cpu.streamBackend.toFixed(2)} (H) | ${cpu.serverBackends.toFixed(2)} | ${cpu.s3.toFixed(2)} |`,
    '',
    '| per-stream rate, table MB/s of the busiest stream while pg_dump ran | streams | MB/s |',
    '| --- | ---: | ---: |',
    ...model.measuredRates.map(
      (r) => `| ${r.variant}, measured here (shared cores) | ${r.streams} | ${r.perStreamMBps.toFixed(0)} |`,
    ),
    `| the model's, from CPU (a core for pg_dump and one for its backend) | 1 | ${model.perStreamMBps.toFixed(0)} |`,
    '',
    "The model checked against this run (every process on this machine's cores less what other work took meanwhile, each variant's own CPU per GB):",
    '',
    '| variant | streams | cores left | predicted s | bound by | measured s | measured / predicted |',
    '| --- | ---: | ---: | ---: | --- | ---: | ---: |',
    ...model.checks.map(
      (c) =>
        `| ${c.variant} | ${c.streams} | ${c.coresLeft.toFixed(1)} | ${formatSeconds(c.predictedSeconds)} | ${c.bound} | ${formatSeconds(c.measuredSeconds)} | ${(c.measuredSeconds / c.predictedSeconds).toFixed(2)} |`,
    ),
    '',
    `Predicted on a ${machine.name} (database server of ${machine.serverVcpus ?? 'the same'} vCPUs, S3 as a service), for this data set (${(inputs.tableBytes / 1e9).toFixed(2)} GB of tables, the largest ${(inputs.largestTableBytes / 1e9).toFixed(2)} GB):`,
    '',
    '| streams (DUMP_STREAMS) | backup runner s | bound by | bare pg_dump -Fd -j N s | runner / bare | speed-up over 1 stream | upload MB/s |',
    '| ---: | ---: | --- | ---: | ---: | ---: | ---: |',
    ...model.predictions.map(
      (p) =>
        `| ${p.streams} | ${formatSeconds(p.seconds)} | ${p.bound} | ${formatSeconds(p.bareSeconds)} | ${(p.seconds / p.bareSeconds).toFixed(2)} | ${((model.predictions[0]?.seconds ?? p.seconds) / p.seconds).toFixed(2)} | ${p.uploadMBps.toFixed(0)} |`,
    ),
    '',
    'Assumptions:',
    '',
    ...model.assumptions.map((a) => `- ${a}`),
    '',
  ];
}

/** The section, when any scale ran C, F, G and H. */
export function streamModelLines(scales: readonly ScaleResult[]): string[] {
  const modelled = scales.filter((s) => s.streamModel);
  if (modelled.length === 0) return [];
  return [
    '## N streams on a 16-vCPU task',
    '',
    'time(N) ≈ fixed + max(max(data / N, largest table) / per-stream rate, task CPU s / task vCPUs, runner main-thread CPU s, server CPU s / server vCPUs),',
    "from the CPU each process spent per GB in this run (bench/model.ts). Rates measured here are under contention (two shared cores): the model's per-stream rate is what one stream does with a core for its pg_dump and one for its backend.",
    '',
    ...modelled.flatMap((s) => [
      ...(modelled.length > 1 ? [`### ${s.dataSet.label}`, ''] : []),
      ...modelLines(s.streamModel as StreamModel),
    ]),
  ];
}
