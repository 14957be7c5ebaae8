import { describe, expect, it } from 'vitest';
import type { VariantRun } from '../../bench/measured-run.ts';
import type { VariantId } from '../../bench/options.ts';
import { summarizeVariant, targetRatios, type VariantResult } from '../../bench/results.ts';

const result = (id: VariantId, ...seconds: number[]): VariantResult =>
  summarizeVariant(
    id,
    seconds.map((wallSeconds): VariantRun => ({ wallSeconds, outputBytes: 1, processes: {} })),
    1e9,
    4,
  );

describe('bench targets', () => {
  it('holds the parallel mode within 1.15 of bare pg_dump -j N, and its gain over one stream to bare -j N over -j 1', () => {
    const ratios = targetRatios({
      C: result('C', 10, 10),
      F: result('F', 4, 4),
      G: result('G', 3, 3),
      H: result('H', 6, 6),
    });
    expect(ratios.map((r) => [r.name, r.value, r.target, r.bound, r.met])).toEqual([
      ['F/G', 4 / 3, 1.15, 'at most', false],
      ['C/F', 2.5, 2, 'at least', true],
    ]);
    expect(ratios[1]?.targetName).toBe('H/G');
  });

  it('lists the ratios in the report order, the restore of the parallel backup against bare pg_restore', () => {
    const ratios = targetRatios({
      C: result('C', 5),
      D: result('D', 6),
      E: result('E', 5),
      I: result('I', 7),
    });
    expect(ratios.map((r) => r.name)).toEqual(['D/E', 'I/E']);
  });

  it('labels F and G with their streams', () => {
    expect(result('F', 1).label).toBe(
      'pgproof backup runner in parallel mode (DUMP_STREAMS=4), end to end into the S3 server',
    );
    expect(result('G', 1).label).toBe("pg_dump -Fd -j 4 with pgproof's compression, to a local folder");
    expect(result('H', 1).label).toBe("pg_dump -Fd -j 1 with pgproof's compression, to a local folder");
  });
});
