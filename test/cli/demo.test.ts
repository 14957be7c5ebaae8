import { describe, expect, it } from 'vitest';
import { runDemo } from '../../cli/demo.ts';
import { recordOutput } from '../support/cli-output.ts';

describe('pgproof demo', () => {
  it('backs up a sample database, runs the drill and the DR drill state machines locally, and reports both passed', async () => {
    const output = recordOutput();
    const code = await runDemo(output);
    expect(code, output.stderr.join('\n')).toBe(0);
    const [, backupId] =
      output.stdout
        .find((l) => l.startsWith('Restore drill '))
        ?.match(/^Restore drill PASSED: shop backup (\d{8}T\d{6}Z) \(daily, /) ?? [];
    expect(backupId).toBeDefined();
    expect(output.stdout).toContain('    ok   every order has its customer: returned true');
    expect(output.stdout.some((l) => /^ {4}ok {2}sales\.orders\s+40000\s+40000\s+hash ok$/.test(l))).toBe(
      true,
    );
    // The DR drill restored the copy of that same backup from the replica bucket.
    expect(output.stdout.find((l) => l.startsWith('DR drill '))).toMatch(
      new RegExp(
        `^DR drill in eu-central-1: passed; newest replicated backup ${backupId}, 0\\.0 h old, replication lag [\\d.]+ s$`,
      ),
    );
    const steps = output.stderr.map((l) => l.replace(/^\[\s*[\d.]+s\] /, ''));
    expect(steps.filter((l) => l === 'execution ended in Succeed')).toHaveLength(2);
    expect(steps).toContainEqual(expect.stringMatching(/^Notify: "pgproof DR drill passed: shop /));
    expect(steps.at(-1)).toBe('servers stopped and removed');
  });
});
