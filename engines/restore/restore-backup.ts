import type pg from 'pg';
import type { IgnoredRestoreError, RestoreCheck } from '../../core/drill-report.ts';
import type { ServerAddress } from '../../core/errors.ts';
import type { ClientVersion } from '../backup/pg-tools.ts';
import { type ArchiveRestoreOptions, restoreArchive, restoreGlobals, restoreTools } from './restore-tools.ts';
import { createSchemas, serverMajor } from './target.ts';

/** The restore phase of a restore: downloaded files into the target database. */

/** How to restore: pg_restore's options, where the client programs are, and their versions. */
export interface RestoreOptions extends Omit<ArchiveRestoreOptions, 'context'> {
  readonly pgBinDir: string | undefined;
  /** The versions `assertCanRead` (restore-tools.ts) read: the benign-error rules look at them. */
  readonly clientVersions: { readonly pgRestore: ClientVersion; readonly psql: ClientVersion };
}

/** The `globals` and `restore` checks, and the errors benign rules accepted on the way. */
export interface RestoreOutcome {
  readonly checks: RestoreCheck[];
  readonly ignoredErrors: IgnoredRestoreError[];
}

/** A step's ignored errors, for a check's detail: `transaction-timeout-before-17 (4)`. */
function ignoredSummary(ignored: readonly IgnoredRestoreError[]): string {
  if (ignored.length === 0) return '';
  const counts = new Map<string, number>();
  for (const e of ignored) counts.set(e.rule, (counts.get(e.rule) ?? 0) + e.count);
  return `; ignored as benign: ${[...counts].map(([rule, n]) => `${rule} (${n})`).join(', ')}`;
}

/**
 * Restores downloaded files into the target database: globals first, then the archive with
 * `pg_restore -j N` (optionally some tables or schemas). Errors either program reports are decided by
 * the benign rules (restore-errors.ts): accepted ones are returned as ignored, any other fails its check.
 * ANALYZE is the caller's to run (`analyzeDatabase` in target.ts; `runRestore` runs it alongside the
 * verification). The archive's own errors fail a check, they do not throw.
 */
export async function restoreBackup(
  files: { readonly dumpPath: string; readonly globalsPath: string | undefined },
  target: ServerAddress,
  client: pg.Client,
  options: RestoreOptions,
): Promise<RestoreOutcome> {
  const tools = restoreTools(options.pgBinDir);
  const targetMajor = await serverMajor(client);
  const checks: RestoreCheck[] = [];
  const ignoredErrors: IgnoredRestoreError[] = [];
  if (files.globalsPath) {
    const globals = await restoreGlobals(tools.psql, files.globalsPath, target, {
      ...options,
      context: { targetMajor, clientMajor: options.clientVersions.psql.major },
    });
    ignoredErrors.push(...globals.ignored);
    const existing = globals.ignored.filter((e) => e.rule === 'role-already-exists');
    checks.push({
      name: 'globals',
      kind: 'globals',
      passed: globals.passed,
      detail: globals.passed
        ? `roles restored${existing.length ? `; already there: ${existing.map((e) => /"(.+)"/.exec(e.message)?.[1] ?? e.message).join(', ')}` : ''}`
        : `globals.sql failed: ${globals.errors.slice(0, 5).join(' | ')}`,
    });
  }
  const schemas = new Set([
    ...options.schemas,
    ...options.tables.filter((t) => t.indexOf('.') > 0).map((t) => t.slice(0, t.indexOf('.'))),
  ]);
  await createSchemas(client, schemas);
  const restored = await restoreArchive(tools.pgRestore, files.dumpPath, target, {
    ...options,
    context: { targetMajor, clientMajor: options.clientVersions.pgRestore.major },
  });
  ignoredErrors.push(...restored.ignored);
  checks.push({
    name: 'restore',
    kind: 'restore',
    passed: restored.passed,
    detail: restored.passed
      ? `pg_restore ${restored.args.slice(0, -1).join(' ')} finished without errors${ignoredSummary(restored.ignored)}`
      : `pg_restore reported ${restored.errors.length} error(s): ${restored.errors.slice(0, 5).join(' | ')}${ignoredSummary(restored.ignored)}`,
  });
  return { checks, ignoredErrors };
}
