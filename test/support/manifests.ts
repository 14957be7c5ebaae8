import { PutObjectCommand } from '@aws-sdk/client-s3';
import { backupKeys } from '../../core/layout.ts';
import type { Manifest } from '../../core/manifest.ts';
import type { S3Server } from './s3.ts';

/**
 * A valid manifest of a backup that was never taken, for tests of code that only reads manifests
 * (finding backups, planning drills). `change` adjusts it.
 */
export function fakeManifest(name: string, backupId: string, change: Partial<Manifest> = {}): Manifest {
  const keys = backupKeys('', name, backupId);
  return {
    formatVersion: 1,
    backupId,
    name,
    database: name,
    tier: 'daily',
    startedAt: '2026-11-21T02:00:00.000Z',
    finishedAt: '2026-11-21T02:03:10.000Z',
    server: { version: '15.8', versionNum: 150008 },
    pgDump: { version: '18.1', args: ['--format=custom'] },
    dump: { key: keys.dump, bytes: 123_456, sha256: 'a'.repeat(64), format: 'custom', compression: 'zstd:1' },
    globals: null,
    verify: 'counts',
    tables: [{ schema: 'public', name: 'orders', rows: 10 }],
    ...change,
  };
}

/**
 * Stores a manifest where the layout says (under `prefix`), its object keys under the same prefix as the
 * backup runner writes them: readers believe a manifest only about its own place.
 */
export async function putManifest(s3: S3Server, manifest: Manifest, prefix = ''): Promise<string> {
  const keys = backupKeys(prefix, manifest.name, manifest.backupId);
  const placed: Manifest = {
    ...manifest,
    dump: { ...manifest.dump, key: keys.dump },
    globals: manifest.globals && { ...manifest.globals, key: keys.globals },
  };
  await s3.client.send(
    new PutObjectCommand({ Bucket: s3.bucket, Key: keys.manifest, Body: JSON.stringify(placed) }),
  );
  return keys.manifest;
}
