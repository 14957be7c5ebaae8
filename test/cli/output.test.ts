import { describe, expect, it } from 'vitest';
import { formatAge, formatBytes, formatTable, progressLine } from '../../cli/output.ts';

describe('CLI output', () => {
  it('draws a progress bar with percent and sizes, or says a phase is under way', () => {
    expect(progressLine('downloading', 1_200_000_000, 2_700_000_000, 10)).toBe(
      'downloading [####......]  44% 1.2 GB / 2.7 GB',
    );
    expect(progressLine('restoring', 0, 0, 10)).toBe('restoring ...');
  });

  it('formats sizes and ages for a glance', () => {
    expect([0, 999, 1_500, 45_200_000, 3_100_000_000_000].map(formatBytes)).toEqual([
      '0 B',
      '999 B',
      '1.5 KB',
      '45 MB',
      '3.1 TB',
    ]);
    expect([5_000, 125_000, 5 * 3_600_000, 50 * 3_600_000, 72 * 3_600_000].map(formatAge)).toEqual([
      '5s',
      '2m',
      '5h',
      '2d 2h',
      '3d',
    ]);
  });

  it('aligns table columns', () => {
    expect(
      formatTable(
        ['ID', 'TIER'],
        [
          ['20261121T020000Z', 'daily'],
          ['x', 'monthly'],
        ],
      ),
    ).toEqual(['ID                TIER', '20261121T020000Z  daily', 'x                 monthly']);
  });
});
