import { describe, expect, it } from 'vitest';
import { sizeDrillTask } from '../../core/drill.ts';

const GiB = 1024 ** 3;

describe('sizeDrillTask', () => {
  it('grows CPUs, memory, disk and time with the dump', () => {
    expect(sizeDrillTask(100 * 1024 * 1024)).toEqual({
      cpu: 1024,
      memoryMiB: 4096,
      ephemeralStorageGiB: 21,
      timeoutSeconds: 1918,
    });
    expect(sizeDrillTask(5 * GiB)).toEqual({
      cpu: 2048,
      memoryMiB: 8192,
      ephemeralStorageGiB: 45,
      timeoutSeconds: 7800,
    });
    expect(sizeDrillTask(20 * GiB)).toEqual({
      cpu: 4096,
      memoryMiB: 16384,
      ephemeralStorageGiB: 150,
      timeoutSeconds: 25800,
    });
  });

  it('rejects a dump too large for a Fargate drill, saying what to do', () => {
    expect(() => sizeDrillTask(30 * GiB)).toThrow(
      'the dump is 30.0 GiB and needs about 220 GiB of disk to restore; a Fargate drill has at most 200 GiB: drill this database on a larger host with `pgproof restore`',
    );
  });
});
