import { createHash } from 'node:crypto';
import { PassThrough, type Readable } from 'node:stream';
import type { KMSClient } from '@aws-sdk/client-kms';
import type { S3Client } from '@aws-sdk/client-s3';
import { tableDataOids } from '../../core/archive-toc.ts';
import { InterruptedError } from '../../core/errors.ts';
import { backupKeys, backupTagging } from '../../core/layout.ts';
import { type Manifest, serializeManifest, type TableStat } from '../../core/manifest.ts';
import { HASH_SESSION_SETTINGS } from '../../core/table-stats.ts';
import type { AuthTokenProvider } from './iam-token.ts';
import { assertKeyUsable } from './key-check.ts';
import {
  assertClientCanDump,
  type ChildLogin,
  chooseCompression,
  clientVersion,
  DumpFailedError,
  dumpGlobals,
  pgDumpArgs,
  pgTools,
  startPgDump,
} from './pg-tools.ts';
import type { BackupSettings } from './settings.ts';
import { COUNTING_LOCKS, DumpSnapshot, type IamConnection, verifiedTls } from './snapshot.ts';
import { TocReader } from './toc-reader.ts';
import {
  assertStoredSize,
  BackupExistsError,
  layoutUpload,
  type ObjectProtection,
  objectExists,
  putObject,
  uploadDump,
  uploadPlan,
} from './upload.ts';

export { BackupExistsError } from './upload.ts';

/** What the core needs from the outside world. */
export interface BackupDependencies {
  readonly s3: S3Client;
  /** Checks the backup's KMS key before the dump; needed when the settings name one. */
  readonly kms?: KMSClient;
  /**
   * Signs the password of each connection (the snapshot's, pg_dump's, pg_dumpall's); needed when the
   * settings ask for IAM authentication.
   */
  readonly authToken?: AuthTokenProvider;
  readonly now: () => Date;
  /** Aborts the backup (SIGTERM): pg_dump is stopped and the upload aborted. */
  readonly signal: AbortSignal;
  readonly log: (message: string, fields?: Record<string, unknown>) => void;
}

/**
 * Takes one backup: globals, then the dump streamed through SHA-256 into S3 (one object, or several
 * segments of a fixed size when it is larger: upload.ts) while row counts are
 * taken in the dump's own snapshot, then the manifest, last. Any failure leaves no manifest and no
 * open multipart upload; the error says what failed and what to do.
 */
export async function runBackup(settings: BackupSettings, deps: BackupDependencies): Promise<Manifest> {
  const { s3, signal, log } = deps;
  const keys = backupKeys(settings.prefix, settings.name, settings.backupId);
  const tools = pgTools(settings.pgBinDir);
  const address = {
    host: settings.host,
    port: settings.port,
    user: settings.user,
    database: settings.database,
  };
  if (settings.kmsKeyId && !deps.kms)
    throw new Error('runBackup: a KMS key is set but no KMS client was given');
  if (settings.iamAuth && !deps.authToken)
    throw new Error('runBackup: IAM authentication is set but no token provider was given');
  const iam: IamConnection | undefined =
    settings.iamAuth && deps.authToken
      ? { token: deps.authToken, ssl: verifiedTls(settings.iamAuth) }
      : undefined;
  // A token lives 15 minutes: each program signs its own as it starts, never one from earlier in the run.
  const childLogin = async (): Promise<ChildLogin> => (iam ? { password: await iam.token() } : {});
  // The checks are independent: run them at once (pg_dump waits for all of them), and report failures
  // in a fixed order, the one a person fixes first.
  const [clientResult, existsResult, keyResult, snapshotResult] = await Promise.allSettled([
    clientVersion(tools.pgDump),
    objectExists(s3, settings.bucket, keys.manifest),
    settings.kmsKeyId && deps.kms ? assertKeyUsable(deps.kms, settings.kmsKeyId) : undefined,
    DumpSnapshot.open(address, iam),
  ]);
  if (
    clientResult.status === 'rejected' ||
    existsResult.status === 'rejected' ||
    existsResult.value ||
    keyResult.status === 'rejected' ||
    snapshotResult.status === 'rejected' ||
    signal.aborted
  ) {
    if (snapshotResult.status === 'fulfilled') await snapshotResult.value.close();
    if (clientResult.status === 'rejected') throw clientResult.reason;
    if (existsResult.status === 'rejected') throw existsResult.reason;
    if (existsResult.value) throw new BackupExistsError(settings.bucket, keys.manifest);
    if (keyResult.status === 'rejected') throw keyResult.reason;
    if (snapshotResult.status === 'rejected') throw snapshotResult.reason;
    throw new InterruptedError(String(signal.reason ?? 'a signal'));
  }
  const client = clientResult.value;
  const snapshot = snapshotResult.value;
  const cleanups: (() => void)[] = [];
  const onAbort = () => {
    for (const cleanup of cleanups) cleanup();
  };
  signal.addEventListener('abort', onAbort);
  try {
    const compression = chooseCompression(client, settings.compression);
    assertClientCanDump(client, snapshot.server);
    const plan = uploadPlan(settings.upload);
    log('snapshot exported', {
      snapshot: snapshot.id,
      server: snapshot.server.version,
      pgDump: client.version,
      databaseBytes: snapshot.databaseBytes,
      // The upload's memory is fixed; a dump about the database's size would take this many segments.
      upload: { ...plan, ...layoutUpload(plan, snapshot.databaseBytes) },
    });
    const protection: ObjectProtection = {
      kmsKeyId: settings.kmsKeyId,
      retainUntil: settings.retentionDays
        ? new Date(settings.startedAt.getTime() + settings.retentionDays * 86_400_000)
        : undefined,
      lockMode: settings.objectLockMode,
      tagging: backupTagging(settings.tier, settings.name),
    };

    // Globals (tens of milliseconds) are dumped and stored while pg_dump runs.
    const storedGlobals: Promise<Manifest['globals']> = settings.dumpGlobals
      ? storeGlobals(
          tools.pgDumpAll,
          settings.database,
          childLogin,
          s3,
          settings.bucket,
          keys.globals,
          protection,
          log,
        )
      : Promise.resolve(null);
    storedGlobals.catch(() => {});
    // Signed first, so that nothing comes between reading the sequences and pg_dump's start.
    const dumpLogin = await childLogin();
    // Sequences are not transactional: read them just before pg_dump does, at its start.
    const sequences = settings.verify === 'none' ? undefined : await snapshot.sequences();
    const args = pgDumpArgs(settings, snapshot.id, compression.arg);
    const dump = startPgDump(tools.pgDump, args, (line) => log('pg_dump', { stderr: line }), dumpLogin);
    cleanups.push(() => dump.kill());
    const toc = settings.verify === 'none' ? undefined : new TocReader(tools.pgRestore);
    if (toc) cleanups.push(() => toc.stop());

    // When pg_dump fails, its stdout still ends normally: hold the stream's end until pg_dump's exit
    // status is known, and fail it then, so the upload is aborted instead of completed.
    const archive = toc ? dump.stdout.pipe(toc.tap()) : dump.stdout;
    const guarded = guardEnd(archive, dump.finished);

    const measured: Promise<TableStat[]> = toc
      ? toc.entries.then(async (entries) =>
          snapshot.measure(
            await snapshot.tablesByOid(tableDataOids(entries)),
            settings.verify,
            settings.verifyConnections,
          ),
        )
      : Promise.resolve([]);
    measured.catch(() => {});

    const upload = uploadDump(s3, settings.bucket, keys.dump, guarded, protection, plan);
    // Whatever fails, pg_dump is stopped and the upload settles (aborting its multipart upload)
    // before the error leaves this function.
    let uploaded: Awaited<typeof upload>;
    try {
      const [, done] = await Promise.all([storedGlobals, Promise.race([upload, snapshot.lost])]);
      uploaded = done;
    } catch (error) {
      dump.kill();
      await upload.catch(() => {});
      throw error;
    }
    const globals = await storedGlobals;
    await dump.finished;
    const tables = await Promise.race([measured, snapshot.lost]);
    const inventory = sequences && (await Promise.race([snapshot.inventory(sequences), snapshot.lost]));
    throwIfAborted(signal);
    for (const segment of uploaded.segments) {
      await assertStoredSize(s3, settings.bucket, segment.key, segment.bytes, segment.versionId);
    }
    const [first] = uploaded.segments;

    const manifest: Manifest = {
      formatVersion: 1,
      backupId: settings.backupId,
      name: settings.name,
      database: settings.database,
      tier: settings.tier,
      startedAt: settings.startedAt.toISOString(),
      finishedAt: deps.now().toISOString(),
      server: snapshot.server,
      pgDump: { version: client.version, args },
      dump: {
        key: keys.dump,
        bytes: uploaded.bytes,
        sha256: uploaded.sha256,
        format: 'custom',
        compression: compression.compression,
        // The versions written: readers fetch exactly these (absent where the bucket keeps no versions).
        ...(first?.versionId ? { versionId: first.versionId } : {}),
        // A dump of several segments lists them all; one of one segment is laid out as it always was.
        ...(uploaded.segments.length > 1
          ? {
              segments: uploaded.segments.map((segment) => ({
                key: segment.key,
                bytes: segment.bytes,
                ...(segment.versionId ? { versionId: segment.versionId } : {}),
              })),
            }
          : {}),
      },
      globals,
      verify: settings.verify,
      tables,
      ...(settings.verify === 'checksums' ? { hashSettings: { ...HASH_SESSION_SETTINGS } } : {}),
      ...(inventory ? { inventory } : {}),
    };
    throwIfAborted(signal);
    // Written last (and, as every object, only if absent): a backup exists exactly when its manifest does.
    await putObject(s3, settings.bucket, keys.manifest, serializeManifest(manifest), protection, {
      ContentType: 'application/json',
    });
    return manifest;
  } catch (error) {
    onAbort();
    if (signal.aborted) throw new InterruptedError(String(signal.reason ?? 'a signal'));
    throw (
      (await explainLockExhaustion(
        error,
        snapshot,
        settings.verify === 'none' ? 0 : settings.verifyConnections,
      )) ?? error
    );
  } finally {
    signal.removeEventListener('abort', onAbort);
    await snapshot.close();
  }
}

/**
 * pg_dump locks every table it dumps, all in one transaction (and each counting session up to
 * {@link COUNTING_LOCKS} more): a source with more tables than its lock table holds fails with "out of
 * shared memory". Says so, with the source's numbers and the setting to raise; undefined for any other
 * error.
 */
async function explainLockExhaustion(
  error: unknown,
  snapshot: DumpSnapshot,
  countingSessions: number,
): Promise<Error | undefined> {
  if (!(error instanceof Error) || !/out of shared memory/.test(error.message)) return undefined;
  const capacity = await snapshot.lockCapacity().catch(() => undefined);
  if (!capacity) return undefined;
  const room = capacity.maxLocksPerTransaction * capacity.lockingSessions;
  const counting = countingSessions * COUNTING_LOCKS;
  // A fifth more than the backup itself takes, for the locks of everything else the server runs.
  const needed = Math.ceil(((capacity.tables + counting) * 1.2) / capacity.lockingSessions);
  return new DumpFailedError(
    `the backup ran out of lock slots on the source: pg_dump locks each of the ${capacity.tables.toLocaleString('en-US')} tables it dumps in one transaction${counting ? ` (and the counting sessions up to ${counting} more)` : ''}, and max_locks_per_transaction ${capacity.maxLocksPerTransaction} × ${capacity.lockingSessions} sessions leaves room for about ${room.toLocaleString('en-US')}; set max_locks_per_transaction to at least ${needed} on the source (RDS: in its parameter group, then reboot), or back up fewer tables per database (excludeSchemas, includeSchemas); nothing was kept`,
    { cause: error },
  );
}

/** Dumps the globals, stores them with the backup's protection, and returns their manifest entry. */
async function storeGlobals(
  pgDumpAll: string,
  database: string,
  login: () => Promise<ChildLogin>,
  s3: S3Client,
  bucket: string,
  key: string,
  protection: ObjectProtection,
  log: BackupDependencies['log'],
): Promise<Manifest['globals']> {
  const sql = await dumpGlobals(
    pgDumpAll,
    database,
    (line) => log('pg_dumpall', { stderr: line }),
    await login(),
  );
  const versionId = await putObject(s3, bucket, key, sql, protection, { ContentType: 'application/sql' });
  return {
    key,
    bytes: sql.length,
    sha256: createHash('sha256').update(sql).digest('hex'),
    ...(versionId ? { versionId } : {}),
  };
}

function throwIfAborted(signal: AbortSignal): void {
  if (signal.aborted) throw new InterruptedError(String(signal.reason ?? 'a signal'));
}

/**
 * A stream that ends only after `finished` resolves, and errors with its rejection: the upload
 * completes only for a dump whose process succeeded.
 */
function guardEnd(source: Readable, finished: Promise<void>): Readable {
  const out = new PassThrough();
  source.on('error', (error: Error) => out.destroy(error));
  source.pipe(out, { end: false });
  source.on('end', () => {
    finished.then(
      () => out.end(),
      (error: Error) => out.destroy(error),
    );
  });
  finished.catch((error: Error) => out.destroy(error));
  return out;
}
