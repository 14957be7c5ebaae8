import { type ParseArgsOptionsConfig, parseArgs } from 'node:util';
import { ConfigError, oneLine, PgproofError } from '../core/errors.ts';
import { DATABASE_NAME_RULE, isDatabaseName, isKeyPrefix, KEY_PREFIX_RULE } from '../core/layout.ts';
import { type AwsClients, createAwsClients } from './aws.ts';
import { backup } from './commands/backup.ts';
import {
  type CliCommand,
  type CliContext,
  GLOBAL_OPTION_HELP,
  GLOBAL_OPTIONS,
  type OptionHelp,
} from './commands/command.ts';
import { demo } from './commands/demo.ts';
import { drill } from './commands/drill.ts';
import { EXIT, type ExitCode } from './commands/exit-codes.ts';
import { list } from './commands/list.ts';
import { report } from './commands/report.ts';
import { restore } from './commands/restore.ts';
import { verify } from './commands/verify.ts';
import { type Deployment, resolveDeployment } from './deployment.ts';
import { processOutput } from './output.ts';

/**
 * `pgproof`: the operator CLI. The edge: find the command, check its command line against what the
 * command declares, find the deployment, run it, exit.
 */

export type { CliContext };

/** Every command, in the order `pgproof --help` lists them; one line registers one. */
export const COMMANDS: readonly CliCommand[] = [demo, backup, list, drill, restore, verify, report];

/** Where a command's summary starts in `pgproof --help`. */
const SUMMARY_COLUMN = 49;

const EXIT_CODES = `exit codes: 0 success; 1 could not run (usage, credentials, unreachable); 2 the answer is no
(backup failed, drill failed, backup did not verify).`;

function optionLines(help: OptionHelp<ParseArgsOptionsConfig>): string[] {
  const entries = Object.values(help);
  const width = Math.max(0, ...entries.map(([flag]) => flag.length)) + 2;
  return entries.map(([flag, text]) => `  ${flag.padEnd(width)}${text}`.trimEnd());
}

function synopsisLines(command: CliCommand): string[] {
  const lines = command.synopsis.map((line) => `  ${line}`);
  const last = lines.at(-1) ?? '';
  if (last.length < SUMMARY_COLUMN) lines[lines.length - 1] = last.padEnd(SUMMARY_COLUMN) + command.summary;
  else lines.push(' '.repeat(SUMMARY_COLUMN) + command.summary);
  return lines;
}

/** `pgproof --help`: built from the commands' own usage. */
export const USAGE = [
  'pgproof: PostgreSQL backups on AWS that are proven to restore',
  '',
  'usage:',
  ...COMMANDS.flatMap(synopsisLines),
  '',
  'options of every command:',
  ...optionLines(GLOBAL_OPTION_HELP),
  '',
  'run `pgproof <command> --help` for the options of a command.',
  '',
  EXIT_CODES,
].join('\n');

/** `pgproof <command> --help`. */
export function commandUsage(command: CliCommand): string {
  const own = optionLines(command.optionHelp);
  return [
    `pgproof ${command.name}: ${command.summary}`,
    '',
    'usage:',
    ...command.synopsis.map((line) => `  ${line}`),
    ...(own.length ? ['', 'options:', ...own] : []),
    '',
    'options of every command:',
    ...optionLines(GLOBAL_OPTION_HELP),
    '',
    EXIT_CODES,
  ].join('\n');
}

function findCommand(name: string): CliCommand {
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) throw new ConfigError(`unknown command "${name}"; run \`pgproof --help\` for the commands`);
  return command;
}

/** The command word (the first argument that is no option) and the arguments around it. */
function splitCommand(argv: readonly string[]): { name: string | undefined; rest: string[] } {
  const { tokens } = parseArgs({
    args: [...argv],
    options: GLOBAL_OPTIONS,
    strict: false,
    allowPositionals: true,
    tokens: true,
  });
  const first = tokens.find((t) => t.kind === 'positional');
  if (!first) return { name: undefined, rest: [...argv] };
  return { name: first.value, rest: argv.filter((_, i) => i !== first.index) };
}

/** A flag this command does not take: name it, and the commands that do. */
function notAnOption(flag: string, command: CliCommand): ConfigError {
  const name = flag.replace(/^-+/, '');
  const owners = COMMANDS.filter((c) => Object.hasOwn(c.options, name)).map((c) => `\`pgproof ${c.name}\``);
  return new ConfigError(
    `\`${flag}\` is not an option of \`pgproof ${command.name}\`${owners.length ? ` (it is one of ${owners.join(', ')})` : ''}; run \`pgproof ${command.name} --help\``,
  );
}

/** Checks every flag against the command's own and the global options, naming the first wrong one as typed. */
function checkFlags(command: CliCommand, args: string[]): { help: boolean } {
  const options: ParseArgsOptionsConfig = { ...GLOBAL_OPTIONS, ...command.options };
  const { tokens } = parseArgs({ args, options, strict: false, allowPositionals: true, tokens: true });
  const flags = tokens.filter((t) => t.kind === 'option');
  if (flags.some((t) => t.name === 'help')) return { help: true };
  const help = `run \`pgproof ${command.name} --help\``;
  for (const token of flags) {
    const option = Object.hasOwn(options, token.name) ? options[token.name] : undefined;
    if (!option) throw notAnOption(token.rawName, command);
    if (option.type === 'string' && token.value === undefined)
      throw new ConfigError(`\`${token.rawName}\` needs a value; ${help}`);
    if (option.type === 'boolean' && token.value !== undefined)
      throw new ConfigError(`\`${token.rawName}\` takes no value, got "${token.value}"; ${help}`);
  }
  return { help: false };
}

function parseCommandLine(command: CliCommand, args: string[]) {
  return parseArgs({
    args,
    options: { ...command.options, ...GLOBAL_OPTIONS },
    allowPositionals: true,
    strict: true,
  });
}

function isParseArgsError(error: unknown): error is Error {
  return (
    error instanceof Error &&
    'code' in error &&
    typeof error.code === 'string' &&
    error.code.startsWith('ERR_PARSE_ARGS')
  );
}

/** Runs one command line; returns the exit code. Errors become one line on stderr. */
export async function runCli(argv: readonly string[], context: CliContext = {}): Promise<ExitCode> {
  let output = context.output ?? processOutput(argv.includes('--json'));
  try {
    const split = splitCommand(argv);
    let name = split.name;
    let rest = split.rest;
    if (name === 'help') {
      // `pgproof help list` is `pgproof list --help`.
      const [topic, ...others] = rest;
      if (topic === undefined || topic.startsWith('-')) {
        output.out(USAGE);
        return EXIT.ok;
      }
      name = topic;
      rest = [...others, '--help'];
    }
    if (name === undefined) {
      const asked = rest.includes('--help') || rest.includes('-h');
      output.out(USAGE);
      return asked ? EXIT.ok : EXIT.error;
    }
    const command = findCommand(name);
    if (checkFlags(command, rest).help) {
      output.out(commandUsage(command));
      return EXIT.ok;
    }
    let parsed: ReturnType<typeof parseCommandLine>;
    try {
      parsed = parseCommandLine(command, rest);
    } catch (error) {
      if (isParseArgsError(error))
        throw new ConfigError(`${oneLine(error)}; run \`pgproof ${command.name} --help\``, { cause: error });
      throw error;
    }
    const { values, positionals } = parsed;
    const flags = values;
    output = context.output ?? processOutput(flags.json);

    const [database = '', ...extra] = command.takesDatabase ? positionals : ['', ...positionals];
    if (command.takesDatabase && !database)
      throw new ConfigError(
        `\`pgproof ${command.name}\` needs a database name, e.g. \`pgproof ${command.name} orders\``,
      );
    if (command.takesDatabase && !isDatabaseName(database))
      throw new ConfigError(`database name "${database}" ${DATABASE_NAME_RULE}, as in pgproof.config.json`);
    if (extra.length)
      throw new ConfigError(`unexpected argument "${extra[0]}"; run \`pgproof ${command.name} --help\``);
    if (flags.prefix !== undefined && !isKeyPrefix(flags.prefix))
      throw new ConfigError(`--prefix "${flags.prefix}" ${KEY_PREFIX_RULE}`);

    let clients: AwsClients | undefined;
    const awsClients = () => {
      clients ??= (context.clients ?? createAwsClients)({
        ...(flags.region ? { region: flags.region } : {}),
        ...(flags.profile ? { profile: flags.profile } : {}),
      });
      return clients;
    };
    const deployment = (needs: { stack: boolean }): Promise<Deployment> =>
      resolveDeployment(
        { stack: flags.stack, bucket: flags.bucket, prefix: flags.prefix },
        awsClients(),
        needs,
      );
    return await command.run({ database, values, output, context, clients: awsClients, deployment });
  } catch (error) {
    const message = oneLine(error);
    const usage = isParseArgsError(error);
    output.err(`pgproof: ${usage ? `${message}; run \`pgproof --help\`` : message}`);
    if (!(error instanceof PgproofError) && !usage && process.env.PGPROOF_DEBUG)
      output.err(String(error instanceof Error ? error.stack : error));
    return EXIT.error;
  }
}
