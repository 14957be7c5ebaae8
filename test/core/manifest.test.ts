import { describe, expect, it } from 'vitest';
import {
  assertManifestBelongs,
  dumpArchives,
  dumpSegments,
  dumpTotalBytes,
  parseManifest,
  serializeManifest,
} from '../../core/manifest.ts';
import { fakeManifest } from '../support/manifests.ts';

describe('manifest contract', () => {
  it('writes what its readers parse back, unchanged', () => {
    const manifest = fakeManifest('orders', '20261121T020000Z');
    const text = serializeManifest(manifest);
    expect(text.endsWith('}\n')).toBe(true);
    expect(parseManifest(text, 'orders/20261121T020000Z/manifest.json')).toEqual(manifest);
  });

  it('keeps the S3 version ids of the dump and globals, and still reads a manifest without them', () => {
    const base = fakeManifest('orders', '20261121T020000Z');
    const pinned = fakeManifest('orders', '20261121T020000Z', {
      dump: { ...base.dump, versionId: '3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY' },
      globals: {
        key: 'orders/20261121T020000Z/globals.sql',
        bytes: 10,
        sha256: 'b'.repeat(64),
        versionId: 'QUpfdndhfd8438MNFDN93jdnJFkdmqnh893',
      },
    });
    const key = 'orders/20261121T020000Z/manifest.json';
    const text = serializeManifest(pinned);
    expect(JSON.parse(text).dump.versionId).toBe('3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY');
    expect(parseManifest(text, key)).toEqual(pinned);
    const old = parseManifest(serializeManifest(base), key);
    expect(old.dump.versionId).toBeUndefined();
    expect('versionId' in old.dump).toBe(false);
    expect(() =>
      parseManifest(JSON.stringify({ ...base, dump: { ...base.dump, versionId: '' } }), key),
    ).toThrow(`manifest ${key} is invalid at dump.versionId: `);
  });

  it('keeps the segments of a dump stored as several objects, and lists a one-object dump as its one segment', () => {
    const key = 'orders/20261121T020000Z/manifest.json';
    const base = fakeManifest('orders', '20261121T020000Z');
    const dump = base.dump.key;
    const segmented = fakeManifest('orders', '20261121T020000Z', {
      dump: {
        ...base.dump,
        bytes: 30,
        versionId: 'v0',
        segments: [
          { key: dump, bytes: 20, versionId: 'v0' },
          { key: `${dump}.00001`, bytes: 10, versionId: 'v1' },
        ],
      },
    });
    expect(parseManifest(serializeManifest(segmented), key)).toEqual(segmented);
    expect(dumpSegments(segmented.dump).map((s) => s.key)).toEqual([dump, `${dump}.00001`]);
    expect(dumpSegments(base.dump)).toEqual([{ key: dump, bytes: base.dump.bytes }]);
    // A one-object dump is written as before segments existed.
    expect('segments' in JSON.parse(serializeManifest(base)).dump).toBe(false);
  });

  it.each([
    [
      'segments that do not add up to the dump',
      { bytes: 31 },
      'dump.segments: the segments hold 30 bytes, the archive 31',
    ],
    [
      'a first segment that is not the dump itself',
      { key: 'orders/20261121T020000Z/dump.pgdump.00001' },
      "dump.segments.0: the first segment must be the archive's own key and version",
    ],
    [
      'a first segment of another version than the dump',
      { versionId: 'v9' },
      "dump.segments.0: the first segment must be the archive's own key and version",
    ],
  ])('rejects a manifest with %s', (_what, change, message) => {
    const key = 'orders/20261121T020000Z/manifest.json';
    const base = fakeManifest('orders', '20261121T020000Z');
    const dump = base.dump.key;
    const text = JSON.stringify({
      ...base,
      dump: {
        ...base.dump,
        bytes: 30,
        versionId: 'v0',
        segments: [
          { key: dump, bytes: 20, versionId: 'v0' },
          { key: `${dump}.00001`, bytes: 10 },
        ],
        ...change,
      },
    });
    expect(() => parseManifest(text, key)).toThrow(
      `manifest ${key} is invalid at ${message}; restore another backup`,
    );
  });

  it('keeps the data streams of a dump taken in parallel, each an archive of one object or of segments', () => {
    const key = 'orders/20261121T020000Z/manifest.json';
    const base = fakeManifest('orders', '20261121T020000Z');
    const stream = (n: number) => `orders/20261121T020000Z/data-${n}.pgdump`;
    const parallel = fakeManifest('orders', '20261121T020000Z', {
      dump: {
        ...base.dump,
        bytes: 5,
        streams: [
          { key: stream(1), bytes: 20, sha256: 'c'.repeat(64), versionId: 'v1', tables: 1 },
          {
            key: stream(2),
            bytes: 30,
            sha256: 'd'.repeat(64),
            tables: 3,
            segments: [
              { key: stream(2), bytes: 20 },
              { key: `${stream(2)}.00001`, bytes: 10 },
            ],
          },
        ],
      },
    });
    expect(parseManifest(serializeManifest(parallel), key)).toEqual(parallel);
    expect(dumpArchives(parallel.dump).map((a) => a.key)).toEqual([base.dump.key, stream(1), stream(2)]);
    expect(
      dumpArchives(parallel.dump)
        .flatMap(dumpSegments)
        .map((s) => s.bytes),
    ).toEqual([5, 20, 20, 10]);
    expect(dumpTotalBytes(parallel.dump)).toBe(55);
    // A dump of one stream is written as before streams existed.
    expect(dumpArchives(base.dump)).toEqual([base.dump]);
    expect('streams' in JSON.parse(serializeManifest(base)).dump).toBe(false);
    const broken = JSON.stringify({
      ...parallel,
      dump: { ...parallel.dump, streams: [{ ...parallel.dump.streams?.[1], bytes: 31 }] },
    });
    expect(() => parseManifest(broken, key)).toThrow(
      `manifest ${key} is invalid at dump.streams.0.segments: the segments hold 30 bytes, the archive 31; restore another backup`,
    );
    const empty = JSON.stringify({ ...parallel, dump: { ...parallel.dump, streams: [] } });
    expect(() => parseManifest(empty, key)).toThrow(`manifest ${key} is invalid at dump.streams: `);
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

describe('a manifest is believed only about itself', () => {
  const key = 'pg/orders/20261121T020000Z/manifest.json';
  const own = () =>
    fakeManifest('orders', '20261121T020000Z', {
      dump: {
        key: 'pg/orders/20261121T020000Z/dump.pgdump',
        bytes: 1,
        sha256: 'a'.repeat(64),
        format: 'custom',
        compression: 'zstd:1',
      },
    });

  it('accepts a manifest whose name, id and keys are its place', () => {
    expect(() => assertManifestBelongs(own(), key)).not.toThrow();
  });

  it.each([
    ['another name', { name: 'billing' }, 'it names database "billing", its place "orders"'],
    [
      'another backup id',
      { backupId: '20261120T020000Z' },
      'it names backup 20261120T020000Z, its place 20261121T020000Z',
    ],
    [
      'a connection string for a database',
      { database: 'host=evil.example dbname=orders' },
      'its database "host=evil.example dbname=orders" is not a plain name (libpq would read it as a connection string)',
    ],
    [
      'a URI for a database',
      { database: 'postgresql://evil.example/orders' },
      'its database "postgresql://evil.example/orders" is not a plain name (libpq would read it as a connection string)',
    ],
  ])('rejects a manifest with %s', (_what, change, problem) => {
    expect(() => assertManifestBelongs({ ...own(), ...change }, key)).toThrow(
      `manifest ${key} does not belong where it is: ${problem}; it was not written there by pgproof`,
    );
  });

  it('accepts the segments of its own dump, in order, and rejects one kept elsewhere or out of order', () => {
    const dump = 'pg/orders/20261121T020000Z/dump.pgdump';
    const segmented = (keys: string[]) => ({
      ...own(),
      dump: { ...own().dump, bytes: keys.length, segments: keys.map((k) => ({ key: k, bytes: 1 })) },
    });
    expect(() =>
      assertManifestBelongs(segmented([dump, `${dump}.00001`, `${dump}.00002`]), key),
    ).not.toThrow();
    expect(() =>
      assertManifestBelongs(segmented([dump, 'pg/billing/20261121T020000Z/dump.pgdump.00001']), key),
    ).toThrow(
      `manifest ${key} does not belong where it is: its dump.segments[1].key is "pg/billing/20261121T020000Z/dump.pgdump.00001", not "${dump}.00001"; it was not written there by pgproof`,
    );
    expect(() => assertManifestBelongs(segmented([dump, `${dump}.00002`, `${dump}.00001`]), key)).toThrow(
      `its dump.segments[1].key is "${dump}.00002", not "${dump}.00001"`,
    );
  });

  it('accepts the data streams of its own dump, numbered in order, and rejects one kept elsewhere', () => {
    const folder = 'pg/orders/20261121T020000Z/';
    const withStreams = (keys: string[]) => ({
      ...own(),
      dump: {
        ...own().dump,
        streams: keys.map((k) => ({ key: k, bytes: 1, sha256: 'c'.repeat(64), tables: 1 })),
      },
    });
    expect(() =>
      assertManifestBelongs(withStreams([`${folder}data-1.pgdump`, `${folder}data-2.pgdump`]), key),
    ).not.toThrow();
    expect(() =>
      assertManifestBelongs(withStreams(['pg/billing/20261121T020000Z/data-1.pgdump']), key),
    ).toThrow(
      `its dump.streams[0].key is "pg/billing/20261121T020000Z/data-1.pgdump", not "${folder}data-1.pgdump"`,
    );
    expect(() => assertManifestBelongs(withStreams([`${folder}data-2.pgdump`]), key)).toThrow(
      `its dump.streams[0].key is "${folder}data-2.pgdump", not "${folder}data-1.pgdump"`,
    );
  });

  it('rejects globals kept elsewhere, and a manifest read from no manifest place', () => {
    const globals = { key: 'pg/billing/20261121T020000Z/globals.sql', bytes: 1, sha256: 'b'.repeat(64) };
    expect(() => assertManifestBelongs({ ...own(), globals }, key)).toThrow(
      'its globals.key is "pg/billing/20261121T020000Z/globals.sql", not "pg/orders/20261121T020000Z/globals.sql"',
    );
    expect(() => assertManifestBelongs(own(), 'pg/orders/latest.json')).toThrow(
      "it is not at a manifest's place (<prefix><name>/<backup id>/manifest.json)",
    );
  });
});
