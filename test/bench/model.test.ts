import { describe, expect, it } from 'vitest';
import type { DataSet } from '../../bench/dataset.ts';
import type { VariantRun } from '../../bench/measured-run.ts';
import {
  buildStreamModel,
  predict,
  type StreamModelInputs,
  TASK_16_VCPU,
  withStreamModel,
} from '../../bench/model.ts';
import type { VariantId } from '../../bench/options.ts';
import type { RoleUsage } from '../../bench/process-monitor.ts';
import { type ScaleResult, summarizeVariant } from '../../bench/results.ts';

const GB = 1e9;

const inputs: StreamModelInputs = {
  tableBytes: 8 * GB,
  largestTableBytes: 1 * GB,
  outputRatio: 0.2,
  cpu: { pgDump: 1, runner: 0.8, runnerMainThread: 0.5, streamBackend: 2, serverBackends: 3, s3: 1 },
  fixedSeconds: 1,
  streams: 2,
};

describe('the stream model', () => {
  it('is bound by the streams, then by the one runner process, on a 16-vCPU task', () => {
    expect(predict(inputs, 1, TASK_16_VCPU)).toEqual({ seconds: 17, bound: 'streams' });
    expect(predict(inputs, 2, TASK_16_VCPU)).toEqual({ seconds: 9, bound: 'streams' });
    expect(predict(inputs, 8, TASK_16_VCPU)).toEqual({ seconds: 5, bound: 'runner' });
  });

  it('is bound by the largest table when streams outnumber the tables', () => {
    const oneLargeTable = {
      ...inputs,
      largestTableBytes: 6 * GB,
      cpu: { ...inputs.cpu, runnerMainThread: 0 },
    };
    expect(predict(oneLargeTable, 4, TASK_16_VCPU)).toEqual({ seconds: 13, bound: 'largest table' });
  });

  it('counts every process on the cores of a machine that runs the server and S3 too', () => {
    const here = { name: 'here', vcpus: 2, serverVcpus: undefined, s3OnTask: true };
    // (1 + 0.8 + 3 + 1) CPU s per GB × 8 GB on 2 cores = 23.2 s, more than the 8 s two streams take.
    expect(predict(inputs, 2, here).bound).toBe('task CPU');
    expect(predict(inputs, 2, here).seconds).toBeCloseTo(24.2);
  });

  it('is built from C, F, G and H: F costs per GB of table data, one stream backend from H', () => {
    const scale = scaleOf({
      C: variant('C', 10, {
        pg_dump: [1.5, 0.5, 9.5],
        'runner (node)': [2, 1.5, 10],
        'postgres backends': [2, 0, 10],
      }),
      F: variant(
        'F',
        6,
        { pg_dump: [2, 1, 5], 'runner (node)': [2, 1.2, 6], 'postgres backends': [3, 0, 6] },
        { planned: [{ tables: 4, bytes: 2 * GB }], archiveBytes: [0.4 * GB, 0.4 * GB] },
      ),
      G: variant('G', 4, { pg_dump: [1.6, 0, 4], 'postgres backends': [2, 0, 4] }),
      H: variant('H', 7, { pg_dump: [1.6, 0, 7], 'postgres backends': [2, 0, 7] }),
    });
    const model = buildStreamModel(scale, 2, 2);
    expect(model?.inputs).toMatchObject({
      streams: 2,
      fixedSeconds: 2,
      cpu: {
        pgDump: 0.5,
        runner: 0.3,
        runnerMainThread: 0.2,
        streamBackend: 0.5,
        serverBackends: 0.75,
        s3: 0,
      },
    });
    // One stream: 1 GB / max(0.5, 0.5) CPU s per GB.
    expect(model?.perStreamMBps).toBeCloseTo(2000);
    // F's busiest stream is stream 0: 4 GB of tables less the 2 GB the data stream took, over 4 s.
    expect(model?.measuredRates.find((r) => r.variant === 'F')?.perStreamMBps).toBeCloseTo(500);
    expect(model?.predictions.map((p) => p.streams)).toEqual([1, 2, 4, 8, 16]);
    expect(model?.assumptions.length).toBeGreaterThan(3);
    expect(buildStreamModel(scaleOf({ C: scale.variants.C, F: scale.variants.F }), 2, 2)).toBeUndefined();
    // Built anew from the measurements (bench/render.ts): an earlier model without them is dropped.
    const stale = { ...scaleOf({ C: scale.variants.C }), streamModel: model };
    expect(withStreamModel(stale, 2, 2)).not.toHaveProperty('streamModel');
    expect(withStreamModel(scale, 2, 2).streamModel?.inputs.streams).toBe(2);
  });
});

/** A variant of one round: `roles` maps each role to [CPU s, first seen, last seen]. */
function variant(
  id: VariantId,
  wallSeconds: number,
  roles: Record<string, [number, number, number]>,
  streams?: VariantRun['streams'],
) {
  const processes: Record<string, RoleUsage> = {};
  for (const [role, [cpuSeconds, first, last]] of Object.entries(roles)) {
    processes[role] = {
      processes: 1,
      peakRssBytes: 1e6,
      cpuSeconds,
      firstSeenSeconds: first,
      lastSeenSeconds: last,
      rssByQuarter: [1e6, 1e6, 1e6, 1e6],
      mainThreadCpuSeconds: cpuSeconds,
      ...(role === 'runner (node)'
        ? { inSpan: { cpuSeconds: cpuSeconds * 0.6, mainThreadCpuSeconds: cpuSeconds * 0.4 } }
        : {}),
    };
  }
  const run: VariantRun = { wallSeconds, outputBytes: 0.8 * GB, processes, ...(streams ? { streams } : {}) };
  return summarizeVariant(id, [run], 4 * GB, 2);
}

function scaleOf(variants: ScaleResult['variants']): ScaleResult {
  const dataSet: DataSet = {
    kind: 'eight-tables',
    scale: 220,
    label: '8 tables, scale 220',
    description: '8 equal tables',
    database: 'bench_eight_tables_s220',
    bytes: 5 * GB,
    tableBytes: 4 * GB,
    largestTableBytes: 0.5 * GB,
    tables: 8,
    rows: 8,
    reused: true,
    buildSeconds: 0,
  };
  return { dataSet, variants, ratios: [] };
}
