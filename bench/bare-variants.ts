import { createWriteStream } from 'node:fs';
import { readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { dumpSegments } from '../core/manifest.ts';
import { chooseCompression, clientVersion } from '../engines/backup/pg-tools.ts';
import { classifyErrors, parsePgRestoreErrors } from '../engines/restore/restore-errors.ts';
import { pgRestoreArgs } from '../engines/restore/restore-tools.ts';
import type { ProcessResult } from '../test/support/processes.ts';
import {
  assertSucceeded,
  type BenchContext,
  databaseBytes,
  dropDatabase,
  measure,
  settle,
  type VariantRun,
  variantRun,
} from './measured-run.ts';
import { readBackupManifest, roundBackupId } from './runner-variants.ts';

/**
 * The bare baselines: plain pg_dump to a local file (A, B) or folder (G, H), and plain pg_restore of the
 * runner's archive from a local file (E).
 */

/** pgproof's `--compress` for this client (what the backup runner passes pg_dump by default). */
export async function pgproofCompressionArg(context: BenchContext): Promise<string> {
  const client = await clientVersion(join(context.binDir, 'pg_dump'));
  return chooseCompression(client, undefined).arg;
}

/** A: pg_dump's default compression; B: pgproof's. One custom-format file. */
export async function pgDumpToFile(
  context: BenchContext,
  id: 'A' | 'B',
  compressionArgs: readonly string[],
): Promise<VariantRun> {
  const file = join(context.workDir, `${id}.pgdump`);
  const run = await measure(
    context,
    join(context.binDir, 'pg_dump'),
    ['--format=custom', ...compressionArgs, '--no-password', `--file=${file}`],
    context.cluster.env(context.dataSet.database),
  );
  assertSucceeded(`pg_dump (${id})`, run.result);
  const outputBytes = (await stat(file)).size;
  await rm(file, { force: true });
  return variantRun(run, outputBytes);
}

/**
 * G and H: `pg_dump -Fd -j <jobs>` with pgproof's compression, the stock way to dump tables in parallel
 * (one file per table, written by `jobs` worker processes in one snapshot).
 */
export async function pgDumpToFolder(
  context: BenchContext,
  id: 'G' | 'H',
  jobs: number,
): Promise<VariantRun> {
  const folder = join(context.workDir, `${id}.dump`);
  await rm(folder, { recursive: true, force: true });
  const run = await measure(
    context,
    join(context.binDir, 'pg_dump'),
    [
      '--format=directory',
      `--jobs=${jobs}`,
      await pgproofCompressionArg(context),
      '--no-password',
      `--file=${folder}`,
    ],
    context.cluster.env(context.dataSet.database),
  );
  assertSucceeded(`pg_dump -j ${jobs} (${id})`, run.result);
  const files = await readdir(folder);
  const sizes = await Promise.all(files.map(async (f) => (await stat(join(folder, f))).size));
  await rm(folder, { recursive: true, force: true });
  return variantRun(
    run,
    sizes.reduce((sum, bytes) => sum + bytes, 0),
  );
}

/**
 * Bare pg_restore exits 1 on errors it went past; the 17+ client's "SET transaction_timeout" on an older
 * server is one such, and benign: the same rules as the restore runner's decide (restore-errors.ts).
 */
async function assertRestored(context: BenchContext, result: ProcessResult): Promise<void> {
  if (result.code === 0) return;
  const client = await clientVersion(join(context.binDir, 'pg_restore'));
  const { failing } = classifyErrors(parsePgRestoreErrors(result.stderr), {
    targetMajor: context.cluster.major,
    clientMajor: client.major,
  });
  if (result.code !== 1 || failing.length > 0) assertSucceeded('pg_restore (E)', result);
}

/** E: `pg_restore -j` of the archive C uploaded this round, fetched (untimed) to a local file. */
export async function plainRestore(context: BenchContext, round: number): Promise<VariantRun> {
  const database = 'bench_restore_e';
  const file = join(context.workDir, 'E.pgdump');
  const manifest = await readBackupManifest(context, roundBackupId(round, 'C'));
  await rm(file, { force: true });
  for (const segment of dumpSegments(manifest.dump)) {
    const response = await context.s3.client.send(
      new GetObjectCommand({ Bucket: context.s3.bucket, Key: segment.key, VersionId: segment.versionId }),
    );
    await pipeline(response.Body as NodeJS.ReadableStream, createWriteStream(file, { flags: 'a' }));
  }
  await dropDatabase(context, database);
  await context.cluster.query('postgres', `CREATE DATABASE "${database}"`);
  await settle(context);
  const args = pgRestoreArgs(file, {
    jobs: context.jobs,
    tables: [],
    schemas: [],
    clean: false,
    noOwner: false,
    noPrivileges: false,
  });
  const run = await measure(
    context,
    join(context.binDir, 'pg_restore'),
    [`--dbname=${database}`, ...args],
    context.cluster.env(database),
  );
  await assertRestored(context, run.result);
  const outputBytes = await databaseBytes(context, database);
  await dropDatabase(context, database);
  await rm(file, { force: true });
  return variantRun(run, outputBytes);
}
