import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import { afterAll } from 'vitest';
import { cdkJsonContext } from './synth.ts';

/**
 * A factory of empty stacks (the primary region, cdk.json's context) for tests that build one construct.
 * An App makes its outdir when constructed, even if nothing is synthesized: they are all kept in one
 * temp dir, removed after the file's tests.
 */
export function bareStacks(): () => Stack {
  const outdirs = mkdtempSync(join(tmpdir(), 'pgproof-constructs-'));
  afterAll(() => rmSync(outdirs, { recursive: true, force: true }));
  return () =>
    new Stack(new App({ outdir: mkdtempSync(join(outdirs, 'app-')), context: cdkJsonContext() }), 'Test', {
      env: { account: '123456789012', region: 'eu-west-1' },
    });
}
