import { describe, expect, it } from 'vitest';
import { parseManifest, serializeManifest } from '../../core/manifest.ts';
import { fakeManifest } from '../support/manifests.ts';

describe('manifest contract', () => {
  it('writes what its readers parse back, unchanged', () => {
    const manifest = fakeManifest('orders', '20261121T020000Z');
    const text = serializeManifest(manifest);
    expect(text.endsWith('}\n')).toBe(true);
    expect(parseManifest(text, 'orders/20261121T020000Z/manifest.json')).toEqual(manifest);
  });

  it('refuses to write a manifest its readers would refuse', () => {
    const broken = fakeManifest('orders', '20261121T020000Z', {
      dump: {
        key: 'orders/x/dump.pgdump',
        bytes: -1,
        sha256: 'not hex',
        format: 'custom',
        compression: 'zstd:1',
      },
    });
    expect(() => serializeManifest(broken)).toThrow(/sha256|bytes/);
  });
});
