import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import { afterAll, describe, expect, it } from 'vitest';
import { BackupNetwork } from '../../cdk/constructs/backup-network.ts';
import { cdkJsonContext } from './synth.ts';

// An App makes its outdir when constructed, even if nothing is synthesized: keep them all in one temp dir.
const outdirs = mkdtempSync(join(tmpdir(), 'pgproof-constructs-'));
afterAll(() => rmSync(outdirs, { recursive: true, force: true }));
const stack = () =>
  new Stack(new App({ outdir: mkdtempSync(join(outdirs, 'app-')), context: cdkJsonContext() }), 'Test', {
    env: { account: '123456789012', region: 'eu-west-1' },
  });

describe('BackupNetwork', () => {
  it('rejects more availability zones than a backup network uses', () => {
    expect(() => new BackupNetwork(stack(), 'Network', { maxAzs: 4 })).toThrow(
      "'maxAzs' must be between 1 and 3, got 4",
    );
  });
});
