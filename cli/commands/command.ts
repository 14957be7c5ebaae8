import type { ParseArgsOptionsConfig, parseArgs } from 'node:util';
import { ConfigError } from '../../core/errors.ts';
import { BACKUP_ID_PATTERN } from '../../core/layout.ts';
import type { AwsClients } from '../aws.ts';
import type { Deployment } from '../deployment.ts';
import type { Output } from '../output.ts';
import type { ExitCode } from './exit-codes.ts';

/**
 * What one `pgproof` command declares about itself: its name, its usage, its own options and how it
 * runs. `cli/main.ts` registers each in one line and derives `--help` and flag checking from them.
 */

/** Options every command takes: where the deployment is, and how to print. */
export const GLOBAL_OPTIONS = {
  region: { type: 'string' },
  profile: { type: 'string' },
  stack: { type: 'string', default: 'Pgproof-Primary' },
  bucket: { type: 'string' },
  prefix: { type: 'string' },
  json: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
} satisfies ParseArgsOptionsConfig;

/** How each option is shown in help: its spelling with a value placeholder, and what it does. */
export type OptionHelp<O extends ParseArgsOptionsConfig> = {
  readonly [K in keyof O]: readonly [flag: string, description: string];
};

/** `--help` lines of the global options. */
export const GLOBAL_OPTION_HELP: OptionHelp<typeof GLOBAL_OPTIONS> = {
  region: ['--region R', 'AWS region (else the SDK default)'],
  profile: ['--profile P', 'AWS credentials profile (else the SDK default)'],
  stack: ['--stack NAME', 'the primary stack (default Pgproof-Primary)'],
  bucket: [
    '--bucket B',
    'use this bucket instead of the stack output (list, restore and verify then need no stack)',
  ],
  prefix: ['--prefix P', 'use this key prefix instead of the stack output'],
  json: ['--json', 'machine-readable output on stdout'],
  help: ['-h, --help', 'this help'],
};

/** The parsed values of a command's options and the global ones. */
export type OptionValues<O extends ParseArgsOptionsConfig> = ReturnType<
  typeof parseArgs<{
    args: string[];
    options: O & typeof GLOBAL_OPTIONS;
    allowPositionals: true;
    strict: true;
  }>
>['values'];

/** What a run needs from outside; tests pass their own clients and output. */
export interface CliContext {
  readonly output?: Output;
  readonly clients?: (options: { region?: string; profile?: string }) => AwsClients;
  /** `pgproof demo`; loaded lazily (it pulls in the CDK and the local Step Functions engine). */
  readonly demo?: (output: Output) => Promise<ExitCode>;
}

/** What a command's run receives: its checked command line and the ways to reach AWS. */
export interface CommandInput<O extends ParseArgsOptionsConfig> {
  /** The `<database>` argument, checked against the key layout's rule; empty for commands without one. */
  readonly database: string;
  readonly values: OptionValues<O>;
  readonly output: Output;
  readonly context: CliContext;
  /** The AWS clients for `--region` and `--profile`, created on first use. */
  clients(): AwsClients;
  /** The deployment from `--stack`, `--bucket` and `--prefix`; `stack: true` when the stack itself is needed. */
  deployment(needs: { stack: boolean }): Promise<Deployment>;
}

/** One command as it declares itself. */
export interface CommandDefinition<O extends ParseArgsOptionsConfig> {
  /** The word after `pgproof`. */
  readonly name: string;
  /** Synopsis lines, `pgproof list <database> [--limit N]`; a long one continues on an indented line. */
  readonly synopsis: readonly string[];
  /** What it does, in one line. */
  readonly summary: string;
  /** Whether it takes the `<database>` argument (it then must). */
  readonly takesDatabase: boolean;
  /** Its own options (`node:util` parseArgs); the global ones are added to every command. */
  readonly options: O;
  readonly optionHelp: OptionHelp<O>;
  run(input: CommandInput<O>): Promise<ExitCode>;
}

/** A registered command, whatever its options. */
export type CliCommand = CommandDefinition<ParseArgsOptionsConfig>;

/** Declares a command; the options' types flow into its `run`. */
export function defineCommand<O extends ParseArgsOptionsConfig>(
  definition: CommandDefinition<O>,
): CliCommand {
  // The list holds commands of different options; each run only ever gets the values its own options
  // parse to (cli/main.ts parses with exactly `options` and the global ones), so erasing O is sound.
  return definition as unknown as CliCommand;
}

/** A flag's value as a whole number of at least 1; the message names the flag as typed. */
export function positiveInteger(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^[1-9]\d*$/.test(value))
    throw new ConfigError(`${flag} must be a whole number of at least 1, got "${value}"`);
  return Number(value);
}

/** `--backup`: a backup id as `pgproof list` shows it. */
export function backupIdFlag(value: string | undefined): string | undefined {
  if (value !== undefined && !BACKUP_ID_PATTERN.test(value))
    throw new ConfigError(
      `--backup must be a backup id like 20261121T020000Z (as \`pgproof list\` shows), got "${value}"`,
    );
  return value;
}
