import { describe, expect, it } from 'vitest';
import { COMMANDS, commandUsage, runCli, USAGE } from '../../cli/main.ts';
import { recordOutput } from '../support/cli-output.ts';

/** Registration, help and flag checking: everything decided before a command touches AWS. */

/** Runs the CLI with clients that fail the test if a command line that should be refused reaches AWS. */
async function cli(...args: string[]) {
  const output = recordOutput(args.includes('--json'));
  const code = await runCli(args, {
    output,
    clients: () => {
      throw new Error('this command line should not have reached AWS');
    },
  });
  return { code, ...output };
}

describe('pgproof --help', () => {
  it('lists every registered command with its own usage', async () => {
    const { code, stdout } = await cli('--help');
    expect(code).toBe(0);
    expect(stdout.join('\n')).toBe(USAGE);
    expect(COMMANDS.map((c) => c.name)).toEqual([
      'demo',
      'backup',
      'list',
      'drill',
      'restore',
      'verify',
      'report',
    ]);
    for (const command of COMMANDS) expect(USAGE).toContain(`  ${command.synopsis[0]}`);
    expect(USAGE).toContain(
      '  pgproof list <database> [--limit N]            backups with tier, size, age and last drill',
    );
    expect(USAGE).toContain('  --bucket B    use this bucket instead of the stack output');
  });

  it('prints the usage with exit 1 when no command is given, and with exit 0 for `pgproof help`', async () => {
    expect(await cli()).toMatchObject({ code: 1, stdout: USAGE.split('\n') });
    expect(await cli('help')).toMatchObject({ code: 0, stdout: USAGE.split('\n') });
  });

  it("prints a command's own usage and options for `pgproof <command> --help` and `pgproof help <command>`", async () => {
    const list = COMMANDS.find((c) => c.name === 'list');
    if (!list) throw new Error('list is not registered');
    const { code, stdout } = await cli('list', '--help');
    expect(code).toBe(0);
    expect(stdout.slice(0, 7)).toEqual([
      'pgproof list: backups with tier, size, age and last drill',
      '',
      'usage:',
      '  pgproof list <database> [--limit N]',
      '',
      'options:',
      '  --limit N  the newest N backups (default 20)',
    ]);
    expect(stdout.join('\n')).toBe(commandUsage(list));
    expect((await cli('help', 'list')).stdout).toEqual(stdout);
    // --help wins over anything else on the line, even a wrong flag.
    expect((await cli('list', 'orders', '--clean', '-h')).stdout).toEqual(stdout);
    expect((await cli('restore', '--help')).stdout).toContain(
      '  --clean           drop what the target already holds before restoring (else a non-empty target is refused)',
    );
  });
});

describe('pgproof command lines', () => {
  it('rejects an unknown command', async () => {
    const { code, stderr } = await cli('frobnicate', 'shop');
    expect(code).toBe(1);
    expect(stderr).toEqual(['pgproof: unknown command "frobnicate"; run `pgproof --help` for the commands']);
  });

  it('rejects an unknown flag, naming it and the command', async () => {
    const { code, stderr } = await cli('list', 'shop', '--colour');
    expect(code).toBe(1);
    expect(stderr).toEqual([
      'pgproof: `--colour` is not an option of `pgproof list`; run `pgproof list --help`',
    ]);
  });

  it('rejects a flag of another command, naming the commands it belongs to', async () => {
    expect((await cli('list', 'orders', '--clean')).stderr).toEqual([
      'pgproof: `--clean` is not an option of `pgproof list` (it is one of `pgproof restore`); run `pgproof list --help`',
    ]);
    expect((await cli('backup', 'orders', '--backup', '20261120T020000Z')).stderr).toEqual([
      'pgproof: `--backup` is not an option of `pgproof backup` (it is one of `pgproof drill`, `pgproof restore`, `pgproof verify`); run `pgproof backup --help`',
    ]);
    expect((await cli('demo', '--wait')).stderr).toEqual([
      'pgproof: `--wait` is not an option of `pgproof demo` (it is one of `pgproof backup`, `pgproof drill`); run `pgproof demo --help`',
    ]);
  });

  it('rejects a flag with a missing or unwanted value, naming the flag', async () => {
    expect(await cli('list', 'orders', '--limit')).toMatchObject({
      code: 1,
      stderr: ['pgproof: `--limit` needs a value; run `pgproof list --help`'],
    });
    expect(await cli('drill', 'orders', '--wait=yes')).toMatchObject({
      code: 1,
      stderr: ['pgproof: `--wait` takes no value, got "yes"; run `pgproof drill --help`'],
    });
  });

  it('rejects a flag value that is not a whole number, naming the flag', async () => {
    expect((await cli('list', 'shop', '--limit', '0')).stderr).toEqual([
      'pgproof: --limit must be a whole number of at least 1, got "0"',
    ]);
    expect((await cli('restore', 'shop', '--to', 'postgres://h/db', '--jobs', 'all')).stderr).toEqual([
      'pgproof: --jobs must be a whole number of at least 1, got "all"',
    ]);
  });

  it('rejects a missing, malformed or second database argument', async () => {
    expect(await cli('list')).toMatchObject({
      code: 1,
      stderr: ['pgproof: `pgproof list` needs a database name, e.g. `pgproof list orders`'],
    });
    expect(await cli('verify', '../orders')).toMatchObject({
      code: 1,
      stderr: [
        'pgproof: database name "../orders" may hold only letters, digits, "_" and "-" (at most 63, starting with a letter or digit), as in pgproof.config.json',
      ],
    });
    expect(await cli('list', 'orders', 'ledger')).toMatchObject({
      code: 1,
      stderr: ['pgproof: unexpected argument "ledger"; run `pgproof list --help`'],
    });
    expect((await cli('demo', 'orders')).stderr).toEqual([
      'pgproof: unexpected argument "orders"; run `pgproof demo --help`',
    ]);
  });

  it('rejects a malformed --backup or --prefix, naming the flag', async () => {
    expect((await cli('verify', 'orders', '--backup', 'latest')).stderr).toEqual([
      'pgproof: --backup must be a backup id like 20261121T020000Z (as `pgproof list` shows), got "latest"',
    ]);
    expect((await cli('list', 'orders', '--bucket', 'b', '--prefix', 'team')).stderr).toEqual([
      'pgproof: --prefix "team" must be empty or end with "/" (letters, digits and !_.\'()/- only, no "..")',
    ]);
  });

  it('runs the demo through its registration', async () => {
    const output = recordOutput();
    const code = await runCli(['demo'], {
      output,
      demo: async (out) => {
        out.out('demo ran');
        return 0;
      },
    });
    expect(code).toBe(0);
    expect(output.stdout).toEqual(['demo ran']);
  });
});
