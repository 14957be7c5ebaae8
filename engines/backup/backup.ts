import { createHash } from 'node:crypto';
import { PassThrough, type Readable } from 'node:stream';
import type { KMSClient } from '@aws-sdk/client-kms';
import type { S3Client } from '@aws-sdk/client-s3';
import { tableDataOids } from '../../core/archive-toc.ts';
import { InterruptedError } from '../../core/errors.ts';
import { backupKeys, backupTagging, dataStreamKey } from '../../core/layout.ts';
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
  type DumpProcess,
  dumpGlobals,
  pgDumpArgs,
  pgTools,
  startPgDump,
} from './pg-tools.ts';
import type { BackupSettings } from './settings.ts';
import { COUNTING_LOCKS, DumpSnapshot, type IamConnection, verifiedTls } from './snapshot.ts';
import {
  dataStreamArgs,
  mainStreamArgs,
  planStreams,
  STREAM_PLAN,
  type StreamCandidate,
  selectedByDump,
} from './streams.ts';
import { TocReader } from './toc-reader.ts';
import {
  assertStoredSize,
  BackupExistsError,
  layoutUpload,
  type ObjectProtection,
  objectExists,
  putObject,
  sharedUploadPlan,
  type UploadedDump,
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
  // Tables a data stream's pg_dump locks a second time, in its own transaction (streams.ts).
  let streamLocks = 0;
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
    // Planned first, so that nothing comes between reading the sequences and pg_dump's start.
    const streamPlan = await planDataStreams(snapshot, settings.streams);
    streamLocks = streamPlan.flat().length;
    if (streamPlan.length > 0) {
      log('backup streams', {
        streams: 1 + streamPlan.length,
        data: streamPlan.map((tables) => ({
          tables: tables.length,
          bytes: tables.reduce((sum, t) => sum + t.bytes, 0),
        })),
      });
    }
    // Signed first, so that nothing comes between reading the sequences and pg_dump's start.
    const dumpLogin = await childLogin();
    // The inventory is the whole database's: a dump of part of it (the patterns) would fail a drill's
    // inventory checks on objects it never held. Its tables are still counted (and hashed).
    const partial = [
      settings.includeTables,
      settings.excludeTables,
      settings.includeSchemas,
      settings.excludeSchemas,
    ].some((patterns) => patterns.length > 0);
    if (partial && settings.verify !== 'none') {
      log('inventory not recorded', {
        reason:
          "the backup holds part of the database (INCLUDE_/EXCLUDE_ patterns): a drill checks its tables' rows, not the whole database's objects",
      });
    }
    // Sequences are not transactional: read them just before pg_dump does, at its start.
    const sequences = settings.verify === 'none' || partial ? undefined : await snapshot.sequences();
    const args = mainStreamArgs(pgDumpArgs(settings, snapshot.id, compression.arg), streamPlan);
    const dump = startPgDump(tools.pgDump, args, (line) => log('pg_dump', { stderr: line }), dumpLogin);
    cleanups.push(() => dump.kill());
    // The data streams wait for the table of contents too: it says which of their tables the dump selects.
    const toc =
      settings.verify === 'none' && streamPlan.length === 0 ? undefined : new TocReader(tools.pgRestore);
    if (toc) cleanups.push(() => toc.stop());

    // When pg_dump fails, its stdout still ends normally: hold the stream's end until pg_dump's exit
    // status is known, and fail it then, so the upload is aborted instead of completed.
    const archive = toc ? dump.stdout.pipe(toc.tap()) : dump.stdout;
    const guarded = guardEnd(archive, dump.finished);

    // Each archive's memory is one multipart upload's: several streams share what one would hold.
    const streamUploadPlan = streamPlan.length > 0 ? sharedUploadPlan(plan, 1 + streamPlan.length) : plan;
    const started: DataStream[] = [];
    let abandoned = false;
    const dataStreams: Promise<DataStream[]> =
      toc && streamPlan.length > 0
        ? toc.entries.then(async (entries) => {
            for (const tables of streamPlan.map((bin) => selectedByDump(bin, entries))) {
              if (abandoned || tables.length === 0) continue;
              const stream = 1 + started.length;
              const login = await childLogin();
              if (abandoned) break;
              const pgDump = startPgDump(
                tools.pgDump,
                dataStreamArgs(snapshot.id, compression.arg, tables),
                (line) => log('pg_dump', { stream, stderr: line }),
                login,
              );
              cleanups.push(() => pgDump.kill());
              const key = dataStreamKey(keys.folder, stream);
              const uploaded = uploadDump(
                s3,
                settings.bucket,
                key,
                guardEnd(pgDump.stdout, pgDump.finished),
                protection,
                streamUploadPlan,
              );
              uploaded.catch(() => {});
              started.push({ key, tables, pgDump, uploaded });
            }
            return started;
          })
        : Promise.resolve([]);
    dataStreams.catch(() => {});

    const measured: Promise<TableStat[]> =
      toc && settings.verify !== 'none'
        ? Promise.all([toc.entries, dataStreams]).then(async ([entries, streams]) =>
            snapshot.measure(
              await snapshot.tablesByOid([
                ...tableDataOids(entries),
                ...streams.flatMap((stream) => stream.tables.map((t) => t.oid)),
              ]),
              settings.verify,
              settings.verifyConnections,
            ),
          )
        : Promise.resolve([]);
    measured.catch(() => {});

    const upload = uploadDump(s3, settings.bucket, keys.dump, guarded, protection, streamUploadPlan);
    // Whatever fails, every pg_dump is stopped and every upload settles (aborting its multipart upload)
    // before the error leaves this function.
    let uploaded: Awaited<typeof upload>;
    let streamsUploaded: UploadedDump[];
    try {
      const [, done, streamsDone] = await Promise.all([
        storedGlobals,
        Promise.race([upload, snapshot.lost]),
        Promise.race([
          dataStreams.then((streams) => Promise.all(streams.map((s) => s.uploaded))),
          snapshot.lost,
        ]),
      ]);
      uploaded = done;
      streamsUploaded = streamsDone;
    } catch (error) {
      abandoned = true;
      dump.kill();
      for (const stream of started) stream.pgDump.kill();
      const settled = await Promise.allSettled([upload, ...started.map((stream) => stream.uploaded)]);
      throw rootCause([error, ...settled.flatMap((r) => (r.status === 'rejected' ? [r.reason] : []))]);
    }
    const globals = await storedGlobals;
    await dump.finished;
    for (const stream of started) await stream.pgDump.finished;
    const tables = await Promise.race([measured, snapshot.lost]);
    const inventory = sequences && (await Promise.race([snapshot.inventory(sequences), snapshot.lost]));
    throwIfAborted(signal);
    for (const segment of [uploaded, ...streamsUploaded].flatMap((archive) => archive.segments)) {
      await assertStoredSize(s3, settings.bucket, segment.key, segment.bytes, segment.versionId);
    }

    const manifest: Manifest = {
      formatVersion: 1,
      backupId: settings.backupId,
      name: settings.name,
      database: settings.database,
      tier: settings.tier,
      startedAt: settings.startedAt.toISOString(),
      finishedAt: deps.now().toISOString(),
      server: snapshot.server,
      // Stream 0's arguments; each data stream's are its own tables' data in the same snapshot (streams.ts).
      pgDump: { version: client.version, args },
      dump: {
        key: keys.dump,
        ...archiveRef(uploaded),
        format: 'custom',
        compression: compression.compression,
        // A dump taken in one stream is laid out as it always was.
        ...(started.length > 0
          ? {
              streams: started.map((stream, index) => ({
                key: stream.key,
                ...archiveRef(streamsUploaded[index] as UploadedDump),
                tables: stream.tables.length,
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
        streamLocks,
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
  streamLocks: number,
): Promise<Error | undefined> {
  if (!(error instanceof Error) || !/out of shared memory/.test(error.message)) return undefined;
  const capacity = await snapshot.lockCapacity().catch(() => undefined);
  if (!capacity) return undefined;
  const room = capacity.maxLocksPerTransaction * capacity.lockingSessions;
  const counting = countingSessions * COUNTING_LOCKS + streamLocks;
  // A fifth more than the backup itself takes, for the locks of everything else the server runs.
  const needed = Math.ceil(((capacity.tables + counting) * 1.2) / capacity.lockingSessions);
  return new DumpFailedError(
    `the backup ran out of lock slots on the source: pg_dump locks each of the ${capacity.tables.toLocaleString('en-US')} tables it dumps in one transaction${counting ? ` (and the counting sessions${streamLocks ? ' and data streams' : ''} up to ${counting} more)` : ''}, and max_locks_per_transaction ${capacity.maxLocksPerTransaction} × ${capacity.lockingSessions} sessions leaves room for about ${room.toLocaleString('en-US')}; set max_locks_per_transaction to at least ${needed} on the source (RDS: in its parameter group, then reboot), or back up fewer tables per database (excludeSchemas, includeSchemas); nothing was kept`,
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

/** A data stream of a dump taken in parallel: its pg_dump and the upload of its archive. */
interface DataStream {
  readonly key: string;
  readonly tables: readonly StreamCandidate[];
  readonly pgDump: DumpProcess;
  readonly uploaded: Promise<UploadedDump>;
}

/**
 * The data streams of a backup allowed `streams` pg_dump processes: none for one, or when no table is
 * large enough to be worth a stream of its own (streams.ts).
 */
async function planDataStreams(snapshot: DumpSnapshot, streams: number): Promise<StreamCandidate[][]> {
  if (streams <= 1) return [];
  const { candidates, restBytes } = await snapshot.streamCandidates(STREAM_PLAN.minTableBytes);
  return planStreams(candidates, restBytes, streams);
}

/**
 * An archive's manifest fields from its upload: size, SHA-256, the version written (readers fetch exactly
 * that one; absent where the bucket keeps no versions) and, for one of several segments, every segment.
 */
function archiveRef(uploaded: UploadedDump) {
  const [first] = uploaded.segments;
  return {
    bytes: uploaded.bytes,
    sha256: uploaded.sha256,
    ...(first?.versionId ? { versionId: first.versionId } : {}),
    ...(uploaded.segments.length > 1
      ? {
          segments: uploaded.segments.map((segment) => ({
            key: segment.key,
            bytes: segment.bytes,
            ...(segment.versionId ? { versionId: segment.versionId } : {}),
          })),
        }
      : {}),
  };
}

/**
 * Of the failures of archives uploaded side by side, the one that says why: the first that is not only
 * another's consequence (a stream destroyed because a sibling's upload failed reads as an AbortError).
 */
function rootCause(failures: readonly unknown[]): unknown {
  return failures.find((failure) => (failure as { name?: string })?.name !== 'AbortError') ?? failures[0];
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
