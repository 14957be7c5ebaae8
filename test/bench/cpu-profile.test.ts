import { describe, expect, it } from 'vitest';
import { bundleModules, packageOf, summarizeProfile } from '../../bench/cpu-profile.ts';

describe('bench CPU profile summary', () => {
  const bundle = [
    'import x from "y";', // 0
    '// node_modules/@aws-sdk/lib-storage/dist-es/Upload.js', // 1
    'function upload() {}', // 2
    '// engines/backup/upload.ts', // 3
    'function hash() {}', // 4
  ].join('\n');

  it('maps bundle lines to the modules esbuild marked, and modules to packages', () => {
    expect(bundleModules(bundle)).toEqual([
      { line: 1, module: 'node_modules/@aws-sdk/lib-storage/dist-es/Upload.js' },
      { line: 3, module: 'engines/backup/upload.ts' },
    ]);
    expect(packageOf('node_modules/@aws-sdk/lib-storage/dist-es/Upload.js')).toBe('@aws-sdk/lib-storage');
    expect(packageOf('node_modules/pg/lib/client.js')).toBe('pg');
    expect(packageOf('engines/backup/upload.ts')).toBe('engines/backup/upload.ts');
  });

  it('attributes self time to sources and functions, and counts idle time', () => {
    const frame = (functionName: string, url: string, lineNumber: number) => ({
      functionName,
      url,
      lineNumber,
    });
    const summary = summarizeProfile(
      {
        nodes: [
          { id: 1, callFrame: frame('(idle)', '', -1) },
          { id: 2, callFrame: frame('upload', 'file:///app/pg-dump.mjs', 2) },
          { id: 3, callFrame: frame('hash', 'file:///app/pg-dump.mjs', 4) },
          { id: 4, callFrame: frame('update', 'node:internal/crypto/hash', 10) },
        ],
        samples: [1, 2, 3, 3, 4],
        timeDeltas: [500_000, 100_000, 200_000, 100_000, 100_000],
        startTime: 0,
        endTime: 1_000_000,
      },
      'pg-dump.mjs',
      bundleModules(bundle),
    );
    expect(summary.wallSeconds).toBe(1);
    expect(summary.idleSeconds).toBe(0.5);
    expect(summary.bySource.map((s) => [s.name, s.seconds])).toEqual([
      ['(idle)', 0.5],
      ['engines/backup/upload.ts', 0.3],
      ['@aws-sdk/lib-storage', 0.1],
      ['node (built-in)', 0.1],
    ]);
    expect(summary.topFunctions[0]).toEqual({
      name: 'hash (engines/backup/upload.ts)',
      seconds: 0.3,
      share: 0.3,
    });
  });
});
