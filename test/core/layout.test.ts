import { describe, expect, it } from 'vitest';
import {
  backupKeys,
  backupTagging,
  dataStreamKey,
  drillReportKey,
  dumpSegmentKey,
  formatBackupId,
  parseBackupId,
  parseManifestKey,
} from '../../core/layout.ts';

describe('object layout', () => {
  it('formats a backup id as sortable UTC time and parses it back', () => {
    const at = new Date('2026-11-21T02:03:04.567Z');
    expect(formatBackupId(at)).toBe('20261121T020304Z');
    expect(parseBackupId('20261121T020304Z')).toEqual(new Date('2026-11-21T02:03:04Z'));
    expect(parseBackupId('2026-11-21')).toBeUndefined();
    expect(parseBackupId('20261399T000000Z')).toBeUndefined();
  });

  it('lays out the keys of a backup under prefix, name and id', () => {
    expect(backupKeys('prod/', 'orders', '20261121T020000Z')).toEqual({
      folder: 'prod/orders/20261121T020000Z/',
      dump: 'prod/orders/20261121T020000Z/dump.pgdump',
      globals: 'prod/orders/20261121T020000Z/globals.sql',
      manifest: 'prod/orders/20261121T020000Z/manifest.json',
    });
    expect(backupKeys('', 'orders', '20261121T020000Z').manifest).toBe(
      'orders/20261121T020000Z/manifest.json',
    );
  });

  it("names a dump's segments after its key, the first being the dump's own key, in listing order", () => {
    const dump = backupKeys('prod/', 'orders', '20261121T020000Z').dump;
    expect([0, 1, 2, 10, 99_999].map((i) => dumpSegmentKey(dump, i))).toEqual([
      'prod/orders/20261121T020000Z/dump.pgdump',
      'prod/orders/20261121T020000Z/dump.pgdump.00001',
      'prod/orders/20261121T020000Z/dump.pgdump.00002',
      'prod/orders/20261121T020000Z/dump.pgdump.00010',
      'prod/orders/20261121T020000Z/dump.pgdump.99999',
    ]);
    expect(() => dumpSegmentKey(dump, 100_000)).toThrow(
      "a dump segment's index is a whole number from 0 to 99999, got 100000",
    );
  });

  it("names a parallel dump's data streams beside it, numbered from 1", () => {
    const folder = backupKeys('prod/', 'orders', '20261121T020000Z').folder;
    expect([1, 2, 15].map((n) => dataStreamKey(folder, n))).toEqual([
      'prod/orders/20261121T020000Z/data-1.pgdump',
      'prod/orders/20261121T020000Z/data-2.pgdump',
      'prod/orders/20261121T020000Z/data-15.pgdump',
    ]);
    expect(() => dataStreamKey(folder, 0)).toThrow(
      "a data stream's number is a whole number from 1 to 15, got 0",
    );
  });

  it('splits a manifest key into its parts, and rejects other keys', () => {
    expect(parseManifestKey('prod/eu/orders/20261121T020000Z/manifest.json')).toEqual({
      prefix: 'prod/eu/',
      name: 'orders',
      backupId: '20261121T020000Z',
    });
    expect(parseManifestKey('orders/20261121T020000Z/dump.pgdump')).toBeUndefined();
  });

  it('tags objects with tier and database', () => {
    expect(backupTagging('monthly', 'orders')).toBe('pgproof%3Atier=monthly&pgproof%3Adatabase=orders');
  });

  it('puts drill reports under drills/', () => {
    expect(drillReportKey('p/', 'orders', '20261121T020000Z', new Date('2026-11-22T10:00:00Z'))).toBe(
      'p/drills/orders/20261121T020000Z/20261122T100000Z.json',
    );
  });
});
