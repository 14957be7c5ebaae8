import { describe, expect, it } from 'vitest';
import { byRole, descendants, parseStat, parseStatusMemory } from '../../bench/process-monitor.ts';
import { roleOfServerProcess } from '../../bench/variants.ts';

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

  it('groups processes by role: the largest single peak, the CPU summed, the span from first start to last end', () => {
    expect(
      byRole([
        {
          pid: 1,
          role: 'pg_restore',
          peakRssBytes: 10,
          cpuSeconds: 1,
          firstSeenSeconds: 1,
          lastSeenSeconds: 5,
        },
        {
          pid: 2,
          role: 'pg_restore',
          peakRssBytes: 30,
          cpuSeconds: 2,
          firstSeenSeconds: 1.2,
          lastSeenSeconds: 6,
        },
        {
          pid: 3,
          role: 'runner (node)',
          peakRssBytes: 90,
          cpuSeconds: 0.5,
          firstSeenSeconds: 0,
          lastSeenSeconds: 7,
        },
      ]),
    ).toEqual({
      pg_restore: { processes: 2, peakRssBytes: 30, cpuSeconds: 3, firstSeenSeconds: 1, lastSeenSeconds: 6 },
      'runner (node)': {
        processes: 1,
        peakRssBytes: 90,
        cpuSeconds: 0.5,
        firstSeenSeconds: 0,
        lastSeenSeconds: 7,
      },
    });
  });

  it('tells a PostgreSQL backend from the server’s own processes', () => {
    expect(roleOfServerProcess('postgres', 'postgres: postgres bench_s5 127.0.0.1(51234) COPY')).toBe(
      'postgres backends',
    );
    expect(roleOfServerProcess('postgres', 'postgres: checkpointer')).toBe('postgres (server)');
  });
});
