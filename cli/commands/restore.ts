import type { S3Client } from '@aws-sdk/client-s3';
import { ConfigError } from '../../core/errors.ts';
import { exitStatus } from '../../engines/restore/report.ts';
import { runRestore } from '../../engines/restore/restore.ts';
import { restoreSettings } from '../../engines/restore/settings.ts';
import type { Deployment } from '../deployment.ts';
import type { Output } from '../output.ts';
import { formatReport } from '../report-view.ts';
import { backupIdFlag, defineCommand, positiveInteger } from './command.ts';
import { EXIT, type ExitCode } from './exit-codes.ts';

/**
 * `pgproof restore`: the restore runner's own code, run from an operator's machine against any
 * PostgreSQL it can reach, with the same checksum and count verification.
 */

/** A target given as `postgres://user:password@host:port/database?sslmode=...`. */
export interface TargetUrl {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly password: string | undefined;
  readonly database: string;
  readonly sslmode: string | undefined;
}

/** Parses `--to`; the database part is required (pgproof never guesses where to write). */
export function parseTargetUrl(text: string): TargetUrl {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new ConfigError(
      `--to "${redact(text)}" is not a URL; use postgres://user@host:5432/database (the password from PGPASSWORD or ~/.pgpass)`,
    );
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
    throw new ConfigError(`--to must be a postgres:// URL, got ${url.protocol}//...`);
  }
  const database = decodeURIComponent(url.pathname.replace(/^\//, ''));
  if (!database) throw new ConfigError('--to names no database; end the URL with /<database>');
  return {
    host: url.hostname || 'localhost',
    port: Number(url.port || 5432),
    user: decodeURIComponent(url.username) || 'postgres',
    password: url.password ? decodeURIComponent(url.password) : undefined,
    database,
    sslmode: url.searchParams.get('sslmode') ?? undefined,
  };
}

function redact(text: string): string {
  return text.replace(/\/\/([^:/@]+):[^@]*@/, '//$1:***@');
}

/** Options of {@link restoreCommand}. */
export interface RestoreCommandOptions {
  readonly database: string;
  readonly to: string;
  readonly backupId: string | undefined;
  readonly tables: readonly string[];
  readonly schemas: readonly string[];
  readonly clean: boolean;
  /** Also create the backup's roles that the target lacks (existing roles are never changed). */
  readonly globals?: boolean;
  readonly jobs: number | undefined;
  readonly pgBinDir?: string | undefined;
}

/** Restores a backup into `--to` and verifies it; exit 0 verified, 2 did not verify, 1 could not run. */
export async function restoreCommand(
  options: RestoreCommandOptions,
  deployment: Deployment,
  s3: S3Client,
  output: Output,
): Promise<ExitCode> {
  const target = parseTargetUrl(options.to);
  // pg_restore (libpq) and the runner's own connections (node-postgres) take the password and TLS mode
  // from the environment, never from argv. TLS is verified unless the URL says otherwise.
  if (target.password !== undefined) {
    process.env.PGPASSWORD = target.password;
    output.err(
      'pgproof: warning: --to holds a password, which your shell history and the process list can show; leave it out and use PGPASSWORD or ~/.pgpass',
    );
  }
  process.env.PGSSLMODE = target.sslmode ?? 'verify-full';
  const settings = restoreSettings(
    {
      mode: 'restore',
      bucket: deployment.bucket,
      prefix: deployment.prefix,
      backup: { name: options.database, backupId: options.backupId },
      host: target.host,
      port: target.port,
      user: target.user,
      database: target.database,
      clean: options.clean,
      restoreGlobals: options.globals ?? false,
      tables: options.tables,
      schemas: options.schemas,
      jobs: options.jobs,
      pgBinDir: options.pgBinDir,
      wording: {
        clean: 'pass --clean',
        globals: 'pass --globals',
        target: '--to',
        workDir: 'free space there, or set TMPDIR to a folder with room',
        tables: '--table',
        schemas: '--schema',
      },
    },
    new Date(),
  );
  const download = output.progress('downloading');
  const restoring = output.progress('restoring');
  const report = await runRestore(settings, {
    s3,
    now: () => new Date(),
    onDownloadProgress: (done, total) => download.update(done, total),
    log: (message, fields) => {
      if (message === 'downloaded') {
        download.done(fields?.checksum ? 'done, SHA-256 as in the manifest' : 'done, SHA-256 DIFFERS');
        // The restore has no byte count: show it as under way (a total of 0).
        if (fields?.checksum) restoring.update(0, 0);
      } else if (message === 'restored') restoring.done(`done in ${fields?.seconds} s`);
    },
  });
  if (output.json) output.out(JSON.stringify(report));
  else for (const line of formatReport(report)) output.out(line);
  const status = exitStatus(report);
  return status === 0 ? EXIT.ok : status === 2 ? EXIT.failed : EXIT.error;
}

/** `pgproof restore <database> --to <postgres-url> ...`. */
export const restore = defineCommand({
  name: 'restore',
  synopsis: [
    'pgproof restore <database> --to <postgres-url> [--backup ID] [--table T]... [--schema S]...',
    '                [--clean] [--globals] [--jobs N] [--pg-bin-dir DIR]',
  ],
  summary: 'restore into any PostgreSQL, verified like a drill',
  takesDatabase: true,
  options: {
    to: { type: 'string' },
    backup: { type: 'string' },
    table: { type: 'string', multiple: true, default: [] as string[] },
    schema: { type: 'string', multiple: true, default: [] as string[] },
    clean: { type: 'boolean', default: false },
    globals: { type: 'boolean', default: false },
    jobs: { type: 'string' },
    'pg-bin-dir': { type: 'string' },
  },
  optionHelp: {
    to: [
      '--to URL',
      'the target: postgres://user@host:5432/database[?sslmode=...] (required; TLS verified unless sslmode says otherwise; the password from PGPASSWORD or ~/.pgpass)',
    ],
    backup: ['--backup ID', 'restore this backup (default: the latest)'],
    table: [
      '--table T',
      'restore only this table (schema.table; "double quotes" around a name with a dot); repeat for more',
    ],
    schema: ['--schema S', 'restore only this schema; repeat for more'],
    clean: [
      '--clean',
      'drop what the target already holds before restoring (else a non-empty target is refused)',
    ],
    globals: [
      '--globals',
      "also create the backup's roles the target lacks (never changes a role it has; default: no roles)",
    ],
    jobs: ['--jobs N', "pg_restore's parallel jobs (default: this machine's CPUs)"],
    'pg-bin-dir': [
      '--pg-bin-dir DIR',
      "the folder of pg_restore (default: PATH); at least the major of the backup's pg_dump",
    ],
  },
  async run({ database, values, output, clients, deployment }) {
    if (!values.to) throw new ConfigError('`pgproof restore` needs --to postgres://user@host:5432/database');
    const options = {
      database,
      to: values.to,
      backupId: backupIdFlag(values.backup),
      tables: values.table,
      schemas: values.schema,
      clean: values.clean,
      globals: values.globals,
      jobs: positiveInteger(values.jobs, '--jobs'),
      pgBinDir: values['pg-bin-dir'],
    };
    return restoreCommand(options, await deployment({ stack: false }), clients().s3, output);
  },
});
