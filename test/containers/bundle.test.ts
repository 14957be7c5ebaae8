import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PACKED_RUNNER_FOLDER } from '../../cdk/constructs/package-assets.ts';
import { parseManifest } from '../../core/manifest.ts';
import { type PgCluster, startPostgres } from '../support/postgres.ts';
import { startProcess } from '../support/processes.ts';
import { type S3Server, startS3 } from '../support/s3.ts';
import { seedVariedDatabase } from '../support/seed.ts';

/** The image runs the esbuild bundle, not the TypeScript: run exactly that, as a plain process. */
describe('runner bundle (what the container image runs)', () => {
  let cluster: PgCluster;
  let s3: S3Server;
  let dist: string;
  beforeAll(async () => {
    [cluster, s3] = await Promise.all([startPostgres(), startS3()]);
    await seedVariedDatabase(cluster, 'shop', 200);
    dist = mkdtempSync(join(tmpdir(), 'pgproof-dist-'));
    execFileSync(process.execPath, ['containers/build.mjs', dist]);
  });
  afterAll(async () => {
    await Promise.all([cluster?.stop(), s3?.stop()]);
    rmSync(dist, { recursive: true, force: true });
  });

  it('backs up from the bundle with no node_modules beside it', async () => {
    const result = await startProcess(
      process.execPath,
      [join(dist, 'pg-dump.mjs')],
      { ...cluster.env('shop'), ...s3.env, BACKUP_ID: '20261121T030000Z' },
      dist,
    ).result;
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('"message":"backup succeeded"');
  });

  it('wrote a manifest that parses', async () => {
    const manifest = parseManifest(
      (await s3.get('shop/20261121T030000Z/manifest.json')).toString(),
      'bundle',
    );
    expect(manifest.tables.find((t) => t.name === 'customers')?.rows).toBe(200);
  });

  it('is the file the Dockerfile starts, from the sources or from the packed bundles', () => {
    const dockerfile = readFileSync('containers/pg-dump/Dockerfile', 'utf8');
    // From the repository, the build stage bundles the sources it was given (the whole context).
    expect(dockerfile).toContain('COPY . .\n');
    expect(dockerfile).toContain('else node containers/build.mjs /app; fi');
    // From an installed package, it takes the bundles its prepack made with the same script.
    expect(dockerfile).toContain(
      `if [ "$RUNNER_BUNDLE" = packed ]; then cp -r ${PACKED_RUNNER_FOLDER} /app;`,
    );
    expect(readFileSync('scripts/build-package.mjs', 'utf8')).toContain(
      `['containers/build.mjs', '${PACKED_RUNNER_FOLDER}']`,
    );
    expect(dockerfile).toContain('CMD ["node", "/app/pg-dump.mjs"]');
    expect(dockerfile).toMatch(/^USER node$/m);
  });
});
