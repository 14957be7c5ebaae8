import { describe, expect, it } from 'vitest';
import { runDemo } from '../../cli/demo.ts';
import { recordOutput } from '../support/cli-output.ts';

describe('pgproof demo', () => {
  it('backs up a sample database, runs the drill state machine locally, and reports passed', async () => {
    const output = recordOutput();
    const code = await runDemo(output);
    expect(code, output.stderr.join('\n')).toBe(0);
    expect(output.stdout.find((l) => l.startsWith('Restore drill '))).toMatch(
      /^Restore drill PASSED: shop backup \d{8}T\d{6}Z \(daily, /,
    );
    expect(output.stdout).toContain('    ok   every order has its customer: returned true');
    expect(output.stdout.some((l) => /^ {4}ok {2}sales\.orders\s+40000\s+40000\s+hash ok$/.test(l))).toBe(
      true,
    );
    const steps = output.stderr.map((l) => l.replace(/^\[\s*[\d.]+s\] /, ''));
    expect(steps).toContain('execution ended in Succeed');
    expect(steps.at(-1)).toBe('servers stopped and removed');
  });
});
