import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import type pg from 'pg';
import { mapLimited } from '../../core/concurrency.ts';
import type { IgnoredRestoreError, RestoreCheck } from '../../core/drill-report.ts';
import type { ServerAddress } from '../../core/errors.ts';
import type { ClientVersion } from '../backup/pg-tools.ts';
import { runAlone } from './checked-statements.ts';
import { applyGlobals, type GlobalsResult } from './globals.ts';
import { describeReportedError, mergeIgnored } from './restore-errors.ts';
import {
  ARCHIVE_SECTIONS,
  type ArchiveRestoreOptions,
  type ArchiveRestoreResult,
  type ArchiveSection,
  archiveForeignKeyDrops,
  restoreArchive,
  restoreTools,
} from './restore-tools.ts';
import {
  createExtensions,
  demoteRoles,
  giveOwnership,
  type Ownership,
  prepareRestoringRole,
  RESTORING_ROLE,
  type RestoringLogin,
  readPrivilegedSteps,
} from './restoring-role.ts';
import { parseTableSelection } from './selection.ts';
import { connectTarget, createSchemas, serverMajor, type TargetLogin } from './target.ts';

/** The restore phase of a restore: downloaded files into the target database. */

/** How to restore: pg_restore's options, where the client programs are, and their versions. */
export interface RestoreOptions
  extends Omit<ArchiveRestoreOptions, 'context' | 'noOwner' | 'noPrivileges' | 'listFile' | 'section'> {
  /**
   * Restore as {@link RESTORING_ROLE}, an ordinary role, with the superuser `client` doing only what
   * needs one (restoring-role.ts): a drill's untrusted archive. Otherwise pg_restore runs as the target's
   * user, owners and grants included.
   */
  readonly asRestoringRole: boolean;
  /** A folder for the restore's list files. */
  readonly work: string;
  /** How the person asks for the backup's roles (the fix when owners are missing), e.g. "pass --globals". */
  readonly globalsHint: string;
  readonly pgBinDir: string | undefined;
  /** The pg_restore version `assertCanRead` (restore-tools.ts) read: the benign-error rules look at it. */
  readonly pgRestoreVersion: ClientVersion;
}

/** The `globals`, `restore` and `ownership` checks, and the errors benign rules accepted on the way. */
export interface RestoreOutcome {
  readonly checks: RestoreCheck[];
  readonly ignoredErrors: IgnoredRestoreError[];
  /** The restoring role's login, when the archive was restored as it: verify as it too. */
  readonly restoredAs?: TargetLogin;
  readonly phases: RestorePhases;
}

/** The globals check's detail: what was applied, which roles were kept as they were, what failed. */
function globalsDetail(globals: GlobalsResult, demoted: readonly string[]): string {
  if (!globals.passed) return `globals.sql failed: ${globals.errors.slice(0, 5).join(' | ')}`;
  const kept = globals.keptRoles.length
    ? `; already there, kept as they were: ${globals.keptRoles.join(', ')} (${globals.skipped.length} statement(s) about them skipped)`
    : '';
  const ordinary = demoted.length
    ? `; made ordinary roles here (NOSUPERUSER NOREPLICATION): ${demoted.join(', ')}`
    : '';
  return `roles restored as SQL statements${kept}${ordinary}`;
}

/** The ownership check: objects given to their owners, those left with the restoring role and why. */
function ownershipCheck(ownership: Ownership): RestoreCheck {
  // Each names its object by the statement that failed: `ALTER TABLE public.t OWNER TO app failed: ...`.
  const errors = ownership.errors.map((e) =>
    e.command ? `${e.command.replace(/;$/, '')} failed: ${e.message}` : describeReportedError(e),
  );
  const kept = [...ownership.keptFromSuperusers].map(([role, n]) => `"${role}" (${n})`);
  const keptDetail = kept.length
    ? `; left with ${RESTORING_ROLE}, their owner being a superuser on the scratch server (nothing from a backup runs as one): ${kept.join(', ')}`
    : '';
  return {
    name: 'ownership',
    kind: 'restore',
    passed: errors.length === 0,
    detail:
      errors.length === 0
        ? `${ownership.given} object(s) given to their owners by the scratch server's superuser${keptDetail}`
        : `${errors.length} object(s) could not be given to their owners: ${errors.slice(0, 5).join(' | ')}${keptDetail}`,
  };
}

/** The fix when the archive's owners are missing because the backup's roles were not created. */
function missingRolesHint(
  errors: readonly string[],
  globalsPath: string | undefined,
  globalsHint: string,
): string {
  if (globalsPath !== undefined || !errors.some((e) => /role ".+" does not exist/.test(e))) return '';
  return `; the backup's roles were not created: ${globalsHint} to create those the target lacks (it never changes a role it has)`;
}

/** A step's ignored errors, for a check's detail: `transaction-timeout-before-17 (4)`. */
function ignoredSummary(ignored: readonly IgnoredRestoreError[]): string {
  if (ignored.length === 0) return '';
  const counts = new Map<string, number>();
  for (const e of ignored) counts.set(e.rule, (counts.get(e.rule) ?? 0) + e.count);
  return `; ignored as benign: ${[...counts].map(([rule, n]) => `${rule} (${n})`).join(', ')}`;
}

/** Seconds each step of {@link restoreBackup} took. */
export interface RestorePhases {
  /** globals.sql's roles (and, in a drill, making them ordinary). */
  readonly globalsSeconds: number;
  /**
   * The archive's definitions (`--section=pre-data`), with what a drill's superuser does first: the
   * restoring role, the extensions and the schemas.
   */
  readonly preDataSeconds: number;
  /** The rows, sequence values and large objects (`--section=data`, `-j N`). */
  readonly dataSeconds: number;
  /**
   * Indexes, constraints, triggers and materialized views' data (`--section=post-data`, `-j N`), and in a
   * drill each object given to its owner.
   */
  readonly postDataSeconds: number;
}

/** One section's pg_restore runs merged: every error, the ignored ones counted once across sections. */
function mergeSections(results: readonly ArchiveRestoreResult[]): {
  passed: boolean;
  errors: string[];
  ignored: IgnoredRestoreError[];
} {
  return {
    passed: results.every((r) => r.passed),
    errors: results.flatMap((r) => r.errors),
    ignored: mergeIgnored(results.flatMap((r) => r.ignored)),
  };
}

/** pg_restore's arguments as the restore check shows them: one command, its sections named. */
function commandLine(results: readonly ArchiveRestoreResult[]): string {
  const args = (results.find((r) => r.args.includes('--section=data')) ?? results[0])?.args ?? [];
  return (
    args
      .slice(0, -1)
      .map((a) => (a.startsWith('--section=') ? `--section=${ARCHIVE_SECTIONS.join('|')}` : a))
      // The list file lives in the restore's temporary folder: its name says what it is.
      .map((a) => (a.startsWith('--use-list=') ? `--use-list=${basename(a.slice('--use-list='.length))}` : a))
      .join(' ')
  );
}

/**
 * Restores downloaded files into the target database: globals first, then the archive section by
 * section, `pre-data` on one connection, `data` and `post-data` with `pg_restore -j N` (optionally some
 * tables or schemas), each timed. Errors either program reports are decided by the benign rules
 * (restore-errors.ts): accepted ones are returned as ignored, any other fails its check. Every section
 * runs even after another reported errors, as one pg_restore would go on. ANALYZE is the caller's to run
 * (`analyzeDatabase` in target.ts; `runRestore` runs it alongside the verification). The archive's own
 * errors fail a check, they do not throw.
 */
export async function restoreBackup(
  files: {
    readonly dumpPath: string;
    /** The data streams' archives of a dump taken in parallel (their `data` sections only). */
    readonly dataPaths: readonly string[];
    readonly globalsPath: string | undefined;
  },
  target: ServerAddress,
  client: pg.Client,
  options: RestoreOptions,
): Promise<RestoreOutcome> {
  const tools = restoreTools(options.pgBinDir);
  const targetMajor = await serverMajor(client);
  const context = { targetMajor, clientMajor: options.pgRestoreVersion.major };
  const checks: RestoreCheck[] = [];
  const ignoredErrors: IgnoredRestoreError[] = [];
  let started = performance.now();
  const lap = () => {
    const now = performance.now();
    const seconds = (now - started) / 1000;
    started = now;
    return seconds;
  };
  if (files.globalsPath) {
    const globals = await applyGlobals(client, await readFile(files.globalsPath, 'utf8'), context);
    const demoted = options.asRestoringRole ? await demoteRoles(client, globals.createdRoles) : [];
    ignoredErrors.push(...globals.ignored);
    checks.push({
      name: 'globals',
      kind: 'globals',
      passed: globals.passed,
      detail: globalsDetail(globals, demoted),
    });
  }
  const globalsSeconds = lap();
  const schemas = new Set([
    ...options.schemas,
    ...options.tables.flatMap((t) => parseTableSelection(t).schema ?? []),
  ]);
  let login: RestoringLogin | undefined;
  let restoreAs: TargetLogin = target;
  let steps: Awaited<ReturnType<typeof readPrivilegedSteps>> | undefined;
  if (options.asRestoringRole) {
    login = await prepareRestoringRole(client, target.database);
    restoreAs = { ...target, user: login.user, password: login.password };
    steps = await readPrivilegedSteps(tools.pgRestore, files.dumpPath, options.work, options);
    await createExtensions(client, steps);
  }
  await createSchemas(client, schemas, login?.user);
  // One pg_restore --clean drops the archive's foreign keys before its tables; by sections, the pre-data
  // pass could not drop a table another one references. Dropped as the restoring user, alone each.
  if (options.clean) {
    const drops = await archiveForeignKeyDrops(tools.pgRestore, files.dumpPath, options.work);
    if (drops.length > 0) {
      const restorer = await connectTarget(restoreAs);
      try {
        for (const sql of drops) await runAlone(restorer, sql);
      } finally {
        await restorer.end().catch(() => {});
      }
    }
  }
  // A dump taken in parallel: the data streams' rows load beside the dump's own, the jobs shared out
  // (a stream's archive is the rows of a few large tables; each holds one job for most of its time).
  const archives = 1 + files.dataPaths.length;
  const dataJobs = Math.max(1, Math.floor(options.jobs / archives));
  const restore = (path: string, section: ArchiveSection, jobs: number) =>
    restoreArchive(tools.pgRestore, path, restoreAs, {
      ...options,
      jobs,
      section,
      context,
      // The restoring role owns what it restores until the superuser gives each object to its owner.
      noOwner: options.asRestoringRole,
      // Without the backup's roles the grants would name roles that do not exist.
      noPrivileges: options.asRestoringRole && files.globalsPath === undefined,
      // The list and --clean are the dump's: a data stream's archive holds only rows.
      ...(path === files.dumpPath ? (steps ? { listFile: steps.restoreList } : {}) : { clean: false }),
    });
  // Definitions restore one after another whatever -j says; rows and indexes in parallel.
  const preData = await restore(files.dumpPath, 'pre-data', 1);
  const preDataSeconds = lap();
  const data = await mapLimited(
    [files.dumpPath, ...files.dataPaths],
    Math.min(archives, options.jobs),
    (path) => restore(path, 'data', dataJobs),
  );
  const dataSeconds = lap();
  const postData = await restore(files.dumpPath, 'post-data', options.jobs);
  const sections = [preData, ...data, postData];
  const restored = mergeSections(sections);
  ignoredErrors.push(...restored.ignored);
  checks.push({
    name: 'restore',
    kind: 'restore',
    passed: restored.passed,
    detail: restored.passed
      ? `pg_restore ${commandLine(sections)} finished without errors${ignoredSummary(restored.ignored)}`
      : `pg_restore reported ${restored.errors.length} error(s): ${restored.errors.slice(0, 5).join(' | ')}${ignoredSummary(restored.ignored)}${missingRolesHint(restored.errors, files.globalsPath, options.globalsHint)}`,
  });
  if (steps && files.globalsPath) checks.push(ownershipCheck(await giveOwnership(client, steps.owners)));
  const postDataSeconds = lap();
  return {
    checks,
    ignoredErrors,
    phases: { globalsSeconds, preDataSeconds, dataSeconds, postDataSeconds },
    ...(login ? { restoredAs: restoreAs } : {}),
  };
}
