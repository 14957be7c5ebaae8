import { type ParseArgsConfig, parseArgs } from 'node:util';
import { ConfigError, oneLine, PgproofError } from '../core/errors.ts';
import { type AwsClients, createAwsClients } from './aws.ts';
import { backupCommand } from './commands/backup.ts';
import { drillCommand } from './commands/drill.ts';
import { EXIT, type ExitCode } from './commands/exit-codes.ts';
import { listCommand } from './commands/list.ts';
import { restoreCommand, verifyCommand } from './commands/restore.ts';
import { resolveDeployment } from './deployment.ts';
import { type Output, processOutput } from './output.ts';

/** `pgproof`: the operator CLI. The edge: parse argv, find the deployment, run one command, exit. */

export const USAGE = `pgproof: PostgreSQL backups on AWS that are proven to restore

usage:
  pgproof demo                                   the whole pipeline locally, no AWS account needed
  pgproof backup <database> [--wait]             on-demand backup (e.g. before a migration)
  pgproof list <database> [--limit N]            backups with tier, size, age and last drill
  pgproof drill <database> [--backup ID] [--wait]
                                                 start the restore drill state machine
  pgproof restore <database> --to <postgres-url> [--backup ID] [--table T]... [--schema S]...
                 [--clean] [--jobs N]            restore into any PostgreSQL, verified like a drill
  pgproof verify <database> [--backup ID]        download, check SHA-256 and the archive, no restore

options:
  --region R, --profile P    AWS region and credentials profile (else the SDK's defaults)
  --stack NAME               the primary stack (default Pgproof-Primary)
  --bucket B, --prefix P     use this bucket and key prefix instead of the stack's outputs
                             (list, restore and verify then need no stack)
  --pg-bin-dir DIR           restore, verify: the folder of pg_restore and psql (default: PATH);
                             they must be at least the major of the pg_dump that took the backup
  --json                     machine-readable output on stdout
  -h, --help

exit codes: 0 success; 1 could not run (usage, credentials, unreachable); 2 the answer is no
(backup failed, drill failed, backup did not verify).`;

const OPTIONS = {
  region: { type: 'string' },
  profile: { type: 'string' },
  stack: { type: 'string', default: 'Pgproof-Primary' },
  bucket: { type: 'string' },
  prefix: { type: 'string' },
  json: { type: 'boolean', default: false },
  wait: { type: 'boolean', default: false },
  backup: { type: 'string' },
  to: { type: 'string' },
  table: { type: 'string', multiple: true, default: [] as string[] },
  schema: { type: 'string', multiple: true, default: [] as string[] },
  clean: { type: 'boolean', default: false },
  jobs: { type: 'string' },
  'pg-bin-dir': { type: 'string' },
  limit: { type: 'string', default: '20' },
  help: { type: 'boolean', short: 'h', default: false },
} satisfies NonNullable<ParseArgsConfig['options']>;

/** What a run needs from outside; tests pass their own clients and output. */
export interface CliContext {
  readonly output?: Output;
  readonly clients?: (options: { region?: string; profile?: string }) => AwsClients;
  /** `pgproof demo`; loaded lazily (it pulls in the CDK and the local Step Functions engine). */
  readonly demo?: (output: Output) => Promise<ExitCode>;
}

function positiveInteger(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^[1-9]\d*$/.test(value))
    throw new ConfigError(`${flag} must be a whole number of at least 1, got "${value}"`);
  return Number(value);
}

/** Runs one command line; returns the exit code. Errors become one line on stderr. */
export async function runCli(argv: readonly string[], context: CliContext = {}): Promise<ExitCode> {
  let output = context.output ?? processOutput(argv.includes('--json'));
  try {
    const { values, positionals } = parseArgs({ args: [...argv], options: OPTIONS, allowPositionals: true });
    output = context.output ?? processOutput(values.json);
    const [command, database, ...extra] = positionals;
    if (values.help || command === undefined || command === 'help') {
      output.out(USAGE);
      return command === undefined && !values.help ? EXIT.error : EXIT.ok;
    }
    if (command === 'demo') {
      const demo = context.demo ?? (await import('./commands/demo.ts')).demoCommand;
      return await demo(output);
    }
    if (!['backup', 'list', 'drill', 'restore', 'verify'].includes(command)) {
      throw new ConfigError(`unknown command "${command}"; run \`pgproof --help\` for the commands`);
    }
    if (!database)
      throw new ConfigError(
        `\`pgproof ${command}\` needs a database name, e.g. \`pgproof ${command} orders\``,
      );
    if (extra.length) throw new ConfigError(`unexpected argument "${extra[0]}"; run \`pgproof --help\``);

    const clientOptions = {
      ...(values.region ? { region: values.region } : {}),
      ...(values.profile ? { profile: values.profile } : {}),
    };
    const clients = (context.clients ?? createAwsClients)(clientOptions);
    const needsStack = command === 'backup' || command === 'drill';
    const deployment = await resolveDeployment(
      { stack: values.stack, bucket: values.bucket, prefix: values.prefix },
      clients,
      { stack: needsStack },
    );
    switch (command) {
      case 'backup':
        return await backupCommand({ database, wait: values.wait }, deployment, clients, output);
      case 'drill':
        return await drillCommand(
          { database, backupId: values.backup, wait: values.wait },
          deployment,
          clients,
          output,
        );
      case 'list':
        return await listCommand(
          { database, limit: positiveInteger(values.limit, '--limit') ?? 20 },
          deployment,
          clients.s3,
          output,
        );
      case 'verify':
        return await verifyCommand(
          { database, backupId: values.backup, pgBinDir: values['pg-bin-dir'] },
          deployment,
          clients.s3,
          output,
        );
      default: {
        if (!values.to)
          throw new ConfigError('`pgproof restore` needs --to postgres://user:password@host:5432/database');
        return await restoreCommand(
          {
            database,
            to: values.to,
            backupId: values.backup,
            tables: values.table,
            schemas: values.schema,
            clean: values.clean,
            jobs: positiveInteger(values.jobs, '--jobs'),
            pgBinDir: values['pg-bin-dir'],
          },
          deployment,
          clients.s3,
          output,
        );
      }
    }
  } catch (error) {
    const message = oneLine(error);
    const usage = (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS');
    output.err(`pgproof: ${usage ? `${message}; run \`pgproof --help\`` : message}`);
    if (!(error instanceof PgproofError) && !usage && process.env.PGPROOF_DEBUG)
      output.err(String((error as Error).stack));
    return EXIT.error;
  }
}
