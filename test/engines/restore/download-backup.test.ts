import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { downloadBackup } from '../../../engines/restore/restore.ts';
import { fakeManifest } from '../../support/manifests.ts';
import { type MotoServer, startMoto } from '../../support/moto.ts';

const KiB = 1024;
const sha256 = (body: Buffer) => createHash('sha256').update(body).digest('hex');

/** On moto's S3: a versioned bucket, as production's, so version-pinned reads are real. */
describe('downloadBackup', () => {
  let s3: MotoServer;
  let work: string;
  const dump = randomBytes(600 * KiB);
  const globals = Buffer.from('CREATE ROLE app;\n');
  const manifest = fakeManifest('orders', '20261121T020000Z', {
    dump: {
      key: 'orders/dump.pgdump',
      bytes: dump.length,
      sha256: sha256(dump),
      format: 'custom',
      compression: 'zstd:1',
    },
    globals: { key: 'orders/globals.sql', bytes: globals.length, sha256: sha256(globals) },
  });
  const options = { partBytes: 256 * KiB, concurrency: 2, withGlobals: true };

  beforeAll(async () => {
    s3 = await startMoto();
    work = mkdtempSync(join(tmpdir(), 'pgproof-download-backup-'));
    for (const [key, body] of [
      [manifest.dump.key, dump],
      ['orders/globals.sql', globals],
    ] as const) {
      await s3.client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: key, Body: body }));
    }
  });
  afterAll(async () => {
    await s3?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  it('downloads the dump and the globals and passes one checksum check naming both', async () => {
    const progress: number[] = [];
    const files = await downloadBackup(s3.client, s3.bucket, manifest, mkdtempSync(join(work, 'both-')), {
      ...options,
      onProgress: (_done, total) => progress.push(total),
    });
    expect(readFileSync(files.dumpPath).equals(dump)).toBe(true);
    expect(files.globalsPath && readFileSync(files.globalsPath).equals(globals)).toBe(true);
    expect(files.check).toMatchObject({ name: 'checksum', kind: 'checksum', passed: true });
    expect(files.check.detail).toBe(
      `orders/dump.pgdump: ${dump.length} bytes, SHA-256 ${manifest.dump.sha256} as in the manifest; ` +
        `orders/globals.sql: ${globals.length} bytes, SHA-256 ${manifest.globals?.sha256} as in the manifest`,
    );
    // Only the dump's download reports progress.
    expect(new Set(progress)).toEqual(new Set([dump.length]));
  });

  it('leaves the globals out when they are not wanted', async () => {
    const files = await downloadBackup(s3.client, s3.bucket, manifest, mkdtempSync(join(work, 'dump-')), {
      ...options,
      withGlobals: false,
    });
    expect(files.globalsPath).toBeUndefined();
    expect(files.check.detail).toMatch(/^orders\/dump\.pgdump: .* as in the manifest$/);
  });

  it('fails the check with only the file that does not match the manifest', async () => {
    const changed = {
      ...manifest,
      globals: { key: 'orders/globals.sql', bytes: globals.length, sha256: '0'.repeat(64) },
    };
    const files = await downloadBackup(
      s3.client,
      s3.bucket,
      changed,
      mkdtempSync(join(work, 'bad-')),
      options,
    );
    expect(files.check.passed).toBe(false);
    expect(files.check.detail).toBe(
      `orders/globals.sql has SHA-256 ${sha256(globals)}, the manifest says ${'0'.repeat(64)}: the object was changed; restore another backup`,
    );
  });
});

describe('downloadBackup of a backup whose objects were overwritten after its manifest was written', () => {
  let s3: MotoServer;
  let work: string;
  const dump = randomBytes(300 * KiB);
  const globals = Buffer.from('CREATE ROLE app;\n');
  const newerDump = randomBytes(300 * KiB);
  const newerGlobals = Buffer.from('CREATE ROLE app;\nALTER ROLE app SUPERUSER;\n');
  let manifest: ReturnType<typeof fakeManifest>;
  const options = { partBytes: 128 * KiB, concurrency: 2, withGlobals: true };

  beforeAll(async () => {
    s3 = await startMoto();
    work = mkdtempSync(join(tmpdir(), 'pgproof-download-pinned-'));
    const put = async (key: string, body: Buffer) =>
      (await s3.client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: key, Body: body }))).VersionId;
    const dumpVersion = await put('orders/dump.pgdump', dump);
    const globalsVersion = await put('orders/globals.sql', globals);
    manifest = fakeManifest('orders', '20261121T020000Z', {
      dump: {
        key: 'orders/dump.pgdump',
        bytes: dump.length,
        sha256: sha256(dump),
        format: 'custom',
        compression: 'zstd:1',
        versionId: dumpVersion,
      },
      globals: {
        key: 'orders/globals.sql',
        bytes: globals.length,
        sha256: sha256(globals),
        versionId: globalsVersion,
      },
    });
    // Newer versions put directly at the same keys, as a writer without If-None-Match would.
    await put('orders/dump.pgdump', newerDump);
    await put('orders/globals.sql', newerGlobals);
  });
  afterAll(async () => {
    await s3?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  it('downloads the versions the manifest names, not the newer ones', async () => {
    expect((await s3.versions('orders/dump.pgdump')).map((v) => v.versionId)).toEqual([
      expect.not.stringMatching(`^${manifest.dump.versionId}$`),
      manifest.dump.versionId,
    ]);
    const files = await downloadBackup(
      s3.client,
      s3.bucket,
      manifest,
      mkdtempSync(join(work, 'pinned-')),
      options,
    );
    expect(readFileSync(files.dumpPath).equals(dump)).toBe(true);
    expect(files.globalsPath && readFileSync(files.globalsPath).toString()).toBe('CREATE ROLE app;\n');
    expect(files.check).toMatchObject({ name: 'checksum', passed: true });
  });

  it('reads the current version for a manifest without version ids (older manifests, unversioned buckets), and its checksum catches the change', async () => {
    const unpinned = {
      ...manifest,
      dump: { ...manifest.dump, versionId: undefined },
      globals: manifest.globals && { ...manifest.globals, versionId: undefined },
    };
    const files = await downloadBackup(
      s3.client,
      s3.bucket,
      unpinned,
      mkdtempSync(join(work, 'current-')),
      options,
    );
    expect(readFileSync(files.dumpPath).equals(newerDump)).toBe(true);
    expect(files.check.passed).toBe(false);
    expect(files.check.detail).toBe(
      `orders/dump.pgdump has SHA-256 ${sha256(newerDump)}, the manifest says ${sha256(dump)}: the object was changed; restore another backup; ` +
        `orders/globals.sql is ${newerGlobals.length} bytes, the manifest says ${globals.length}: the object was changed or truncated; restore another backup`,
    );
  });
});

/** A dump stored as several segments (engines/backup/upload.ts), on moto's versioned S3. */
describe('downloadBackup of a dump stored as several segments', () => {
  let s3: MotoServer;
  let work: string;
  const pieces = [randomBytes(300 * KiB), randomBytes(300 * KiB), randomBytes(77 * KiB)];
  const dump = Buffer.concat(pieces);
  const key = 'orders/20261121T020000Z/dump.pgdump';
  const keys = [key, `${key}.00001`, `${key}.00002`];
  let manifest: ReturnType<typeof fakeManifest>;
  // Ranges of 128 KiB: segments end inside ranges' worth of offsets, three ranges in flight across them.
  const options = { partBytes: 128 * KiB, concurrency: 3, withGlobals: false };

  beforeAll(async () => {
    s3 = await startMoto();
    work = mkdtempSync(join(tmpdir(), 'pgproof-download-segments-'));
    const versions: (string | undefined)[] = [];
    for (const [i, body] of pieces.entries()) {
      const put = new PutObjectCommand({ Bucket: s3.bucket, Key: keys[i], Body: body });
      versions.push((await s3.client.send(put)).VersionId);
    }
    manifest = fakeManifest('orders', '20261121T020000Z', {
      dump: {
        key,
        bytes: dump.length,
        sha256: sha256(dump),
        format: 'custom',
        compression: 'zstd:1',
        versionId: versions[0],
        segments: pieces.map((body, i) => ({
          key: keys[i] as string,
          bytes: body.length,
          versionId: versions[i],
        })),
      },
    });
    // A newer version of the second segment: the manifest's version is still what is read.
    await s3.client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: keys[1], Body: randomBytes(10) }));
  });
  afterAll(async () => {
    await s3?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  it('downloads the segments in order into the one file, each in its version, and checks the whole', async () => {
    const progress: [number, number][] = [];
    const files = await downloadBackup(s3.client, s3.bucket, manifest, mkdtempSync(join(work, 'all-')), {
      ...options,
      onProgress: (done, total) => progress.push([done, total]),
    });
    expect(readFileSync(files.dumpPath).equals(dump)).toBe(true);
    expect(files.check).toMatchObject({ name: 'checksum', passed: true });
    expect(files.check.detail).toBe(
      `${key} and its 2 further segments: ${dump.length} bytes, SHA-256 ${manifest.dump.sha256} as in the manifest`,
    );
    expect(progress.at(-1)).toEqual([dump.length, dump.length]);
  });

  it('fails the check naming a segment of another size than the manifest says', async () => {
    const segments = manifest.dump.segments ?? [];
    const changed = {
      ...manifest,
      dump: {
        ...manifest.dump,
        // The current (newer, 10-byte) version of the second segment.
        segments: segments.map((s, i) => (i === 1 ? { key: s.key, bytes: s.bytes } : s)),
      },
    };
    const files = await downloadBackup(
      s3.client,
      s3.bucket,
      changed,
      mkdtempSync(join(work, 'changed-')),
      options,
    );
    expect(files.check.passed).toBe(false);
    expect(files.check.detail).toBe(
      `${keys[1]} (segment 2 of 3) is 10 bytes, the manifest says ${300 * KiB}: the object was changed or truncated; restore another backup`,
    );
  });

  it('fails a download whose segment is missing, naming it', async () => {
    const segments = manifest.dump.segments ?? [];
    const missing = {
      ...manifest,
      dump: {
        ...manifest.dump,
        segments: [...segments.slice(0, 2), { key: `${key}.00009`, bytes: 77 * KiB }],
      },
    };
    await expect(
      downloadBackup(s3.client, s3.bucket, missing, mkdtempSync(join(work, 'missing-')), options),
    ).rejects.toThrow(`${key}.00009`);
  });
});
