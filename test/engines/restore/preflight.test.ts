import { tmpdir } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Inventory } from '../../../core/inventory.ts';
import type { Manifest } from '../../../core/manifest.ts';
import {
  compareExtensionVersions,
  judgeExtensions,
  type PreflightOptions,
  preflight,
} from '../../../engines/restore/preflight.ts';
import { restoreSettings } from '../../../engines/restore/settings.ts';
import { fakeManifest } from '../../support/manifests.ts';
import { type PgCluster, startPostgres } from '../../support/postgres.ts';

describe('extension versions', () => {
  it('compares versions by their numbers', () => {
    expect(compareExtensionVersions('1.10', '1.9')).toBe(1);
    expect(compareExtensionVersions('0.7.0', '0.7')).toBe(0);
    expect(compareExtensionVersions('0.5.1', '0.7.0')).toBe(-1);
    expect(compareExtensionVersions('3.4.2', '3.4.2')).toBe(0);
    expect(compareExtensionVersions('unpackaged', '1.0')).toBeUndefined();
  });

  it('reports a newer version, fails a missing or older one naming it', () => {
    expect(
      judgeExtensions([
        { name: 'hstore', version: '1.7', defaultVersion: '1.8' },
        { name: 'postgis', version: '3.4.2', defaultVersion: undefined },
        { name: 'vector', version: '0.7.0', defaultVersion: '0.5.1' },
        { name: 'plpgsql', version: '1.0', defaultVersion: '1.0' },
      ]),
    ).toEqual({
      missing: ['postgis', 'vector 0.7.0 or newer (this server has 0.5.1)'],
      notes: ["extension hstore restores at version 1.8, the backup's source had 1.7"],
    });
  });
});

/** An inventory that lists only extensions and preloaded libraries (the rest is for the verification). */
function inventoryWith(extensions: Inventory['extensions'], sharedPreloadLibraries = ''): Inventory {
  return {
    sequences: [],
    largeObjects: { count: 0, hash: '0', owners: [] },
    materializedViews: [],
    constraints: [],
    owners: [],
    extensions,
    sharedPreloadLibraries,
    objectCounts: [],
  };
}

describe('preflight against a real server', () => {
  let pg: PgCluster;
  const wording = restoreSettings(
    { mode: 'drill', bucket: 'b', backup: { name: 'shop' } },
    new Date(),
  ).wording;
  const options: PreflightOptions = {
    mode: 'drill',
    clean: false,
    waitSeconds: 0,
    workDir: tmpdir(),
    withGlobals: true,
    wording,
  };
  const manifest = (change: Partial<Manifest> = {}) => fakeManifest('shop', '20261121T020000Z', change);
  const at = (database: string, password = pg.password) => ({
    host: pg.host,
    port: pg.port,
    user: pg.user,
    database,
    password,
  });

  beforeAll(async () => {
    pg = await startPostgres();
    await pg.createDatabase('full');
    await pg.query('full', 'CREATE TABLE t (id int)');
    await pg.createDatabase('empty');
    await pg.query(
      'postgres',
      "DO $$ BEGIN CREATE ROLE plain LOGIN PASSWORD 'plain-secret'; EXCEPTION WHEN duplicate_object THEN NULL; END $$",
    );
  });
  afterAll(async () => {
    await pg?.stop();
  });

  it('passes an empty database and a missing one the login may create, with the server version', async () => {
    expect(await preflight(at('empty'), manifest(), options)).toEqual({
      serverVersion: expect.stringMatching(/^\d+\.\d+/),
      databaseExists: true,
      notes: [],
    });
    expect((await preflight(at('not_yet'), manifest(), options)).databaseExists).toBe(false);
    // Nothing is created before the download.
    expect(await pg.query('postgres', "SELECT 1 FROM pg_database WHERE datname = 'not_yet'")).toEqual([]);
  });

  it('fails a wrong password in well under a second, naming the login', async () => {
    const started = performance.now();
    await expect(preflight(at('empty', 'wrong'), manifest(), options)).rejects.toThrow(
      /^cannot log in to PostgreSQL at 127\.0\.0\.1:\d+ as "postgres": password authentication failed/,
    );
    expect(performance.now() - started).toBeLessThan(1000);
  });

  it('fails a port nobody listens on, naming host and port', async () => {
    await expect(preflight({ ...at('empty'), port: 1 }, manifest(), options)).rejects.toThrow(
      /^cannot reach PostgreSQL at 127\.0\.0\.1:1 \(ECONNREFUSED\)/,
    );
  });

  it('fails a non-empty database unless it is to be cleaned', async () => {
    await expect(preflight(at('full'), manifest(), options)).rejects.toThrow(
      /^database "full" on 127\.0\.0\.1:\d+ is not empty \(1 tables, views or sequences\): .* or set RESTORE_CLEAN=true to drop/,
    );
    expect((await preflight(at('full'), manifest(), { ...options, clean: true })).databaseExists).toBe(true);
  });

  it('fails a missing database the login may not create', async () => {
    const plain = { ...at('not_mine'), user: 'plain', password: 'plain-secret' };
    await expect(preflight(plain, manifest(), options)).rejects.toThrow(
      /^database "not_mine" does not exist on 127\.0\.0\.1:\d+ and "plain" may not create it \(no CREATEDB\): create it first, or set PGDATABASE to an existing database$/,
    );
  });

  it('fails extensions the server lacks at once, naming each and the drill config field that fixes it', async () => {
    const needs = manifest({
      inventory: inventoryWith([
        { name: 'postgis', version: '3.4.2', schema: 'public' },
        { name: 'hstore', version: '1.8', schema: 'public' },
        { name: 'pg_imaginary', version: '1.0', schema: 'public' },
      ]),
    });
    await expect(preflight(at('empty'), needs, options)).rejects.toThrow(
      /^the drill's scratch server \(PostgreSQL \d+\.\d+\) lacks extension\(s\) backup 20261121T020000Z of "shop" needs: postgis, pg_imaginary; set drill\.postgresImage of database "shop" in the deployment config to a PostgreSQL \d+ image that has them \(nothing was downloaded\)$/,
    );
    await expect(preflight(at('empty'), needs, { ...options, mode: 'restore' })).rejects.toThrow(
      /^PostgreSQL \d+\.\d+ at 127\.0\.0\.1:\d+ lacks extension\(s\) backup 20261121T020000Z of "shop" needs: postgis, pg_imaginary; install them on that server .* and restore again \(nothing was downloaded\)$/,
    );
  });

  it('reports, without failing, a newer extension version and a library the source preloads', async () => {
    const [{ version } = { version: '' }] = await pg.query<{ version: string }>(
      'postgres',
      "SELECT default_version AS version FROM pg_available_extensions WHERE name = 'hstore'",
    );
    const result = await preflight(
      at('empty'),
      manifest({
        inventory: inventoryWith(
          [
            { name: 'hstore', version: '1.0', schema: 'public' },
            { name: 'plpgsql', version: '1.0', schema: 'pg_catalog' },
          ],
          'pg_stat_statements, auto_explain',
        ),
      }),
      options,
    );
    expect(result.notes).toEqual([
      `extension hstore restores at version ${version}, the backup's source had 1.0`,
      'the source preloads pg_stat_statements, auto_explain (shared_preload_libraries), this server does not: an extension that needs it may fail to create or to work',
    ]);
  });

  it('fails when the work folder has no room for the dump, naming both sizes and the fix', async () => {
    const huge = manifest({
      dump: { ...manifest().dump, bytes: 2 ** 52 },
    });
    await expect(preflight(at('empty'), huge, options)).rejects.toThrow(
      /^\/\S+ has [\d.]+ [KMGT]iB free, the backup's dump needs 4\.0 PiB: set WORK_DIR to a folder with room \(in a drill, give the drill task more ephemeral storage\) \(nothing was downloaded\)$/,
    );
  });
});
