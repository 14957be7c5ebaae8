import type pg from 'pg';
import type { RestoreCheck, RestoredTable } from '../../core/drill-report.ts';
import { oneLine } from '../../core/errors.ts';
import type { Manifest } from '../../core/manifest.ts';
import { compareInventory, readRestoredInventory } from './inventory-checks.ts';
import { listArchive, restoreTools } from './restore-tools.ts';
import type { SqlCheck } from './settings.ts';
import { connectTarget, type TargetLogin } from './target.ts';
import { isSelected, runSqlChecks, verifyTables } from './verify.ts';

/**
 * The verification phase: a restored database checked against its manifest and the SQL checks, or
 * (for `pgproof verify`, which restores nothing) a downloaded archive checked to be readable.
 */

/** The table and SQL checks of a restored database. */
export interface Verification {
  readonly checks: RestoreCheck[];
  readonly tables: RestoredTable[];
}

/**
 * Verifies a restored database against the manifest (the selected tables) and runs the SQL checks.
 * Uses up to `parallel` connections to count tables.
 */
export async function verifyRestore(
  target: TargetLogin,
  manifest: Manifest,
  options: {
    readonly tables: readonly string[];
    readonly schemas: readonly string[];
    readonly checks: readonly SqlCheck[];
    readonly parallel: number;
  },
): Promise<Verification> {
  const expected = manifest.tables.filter((t) => isSelected(t, options));
  const count = Math.max(1, Math.min(options.parallel, expected.length));
  // The tables are counted on `count` connections while the inventory is read on one of its own.
  const clients = await Promise.all(Array.from({ length: count + 1 }, () => connectTarget(target)));
  const [inventoryClient, ...counters] = clients as [pg.Client, ...pg.Client[]];
  try {
    const [tables, inventory] = await Promise.all([
      verifyTables(counters, expected, manifest.hashSettings),
      verifyInventory(inventoryClient, manifest, target.user, options),
    ]);
    const sql = await runSqlChecks(inventoryClient, options.checks);
    return { checks: [...tables.checks, ...inventory, ...sql], tables: tables.tables };
  } finally {
    await Promise.all(clients.map((c) => c.end().catch(() => {})));
  }
}

/**
 * The inventory's checks (inventory-checks.ts): skipped with `VERIFY=none` and for a selective restore
 * (what was left out would show as missing).
 */
async function verifyInventory(
  client: pg.Client,
  manifest: Manifest,
  restoringUser: string,
  selection: { readonly tables: readonly string[]; readonly schemas: readonly string[] },
): Promise<RestoreCheck[]> {
  if (manifest.verify === 'none' || selection.tables.length > 0 || selection.schemas.length > 0) return [];
  const restored = await readRestoredInventory(client);
  const { rows } = await client.query<{ num: string }>("SELECT current_setting('server_version_num') AS num");
  return compareInventory(manifest.inventory, restored, {
    restoringUser,
    ungivable: restored.ungivable,
    sourceMajor: Math.floor(manifest.server.versionNum / 10000),
    targetMajor: Math.floor(Number(rows[0]?.num) / 10000),
  });
}

/**
 * Checks that the downloaded archives (the dump's, then any data streams') are readable
 * (`pg_restore --list`) without restoring them: the `pgproof verify` path, after `downloadBackup`
 * (download-backup.ts).
 */
export async function checkArchive(
  pgBinDir: string | undefined,
  files: { readonly dumpPath: string; readonly dataPaths: readonly string[] },
): Promise<RestoreCheck> {
  try {
    const pgRestore = restoreTools(pgBinDir).pgRestore;
    const listings = await Promise.all(
      [files.dumpPath, ...files.dataPaths].map((path) => listArchive(pgRestore, path)),
    );
    const entries = listings.flat();
    const data = entries.filter((e) => e.description.startsWith('TABLE DATA ')).length;
    const streams = files.dataPaths.length;
    return {
      name: 'archive',
      kind: 'restore',
      passed: true,
      detail: `readable: ${entries.length} entries, ${data} with table data${streams ? ` (in the dump and its ${streams} data stream(s))` : ''}`,
    };
  } catch (error) {
    return { name: 'archive', kind: 'restore', passed: false, detail: oneLine(error) };
  }
}
