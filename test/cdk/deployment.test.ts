import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import { afterAll, describe, expect, it } from 'vitest';
import { addPgproofStacks } from '../../cdk/stacks/deployment.ts';
import { parseDeploymentConfig } from '../../core/config.ts';
import { cdkJsonContext, exampleConfigJson } from './synth.ts';

// An App makes its outdir when constructed, even if nothing is synthesized: keep them all in one temp dir.
const outdirs = mkdtempSync(join(tmpdir(), 'pgproof-deployment-'));
afterAll(() => rmSync(outdirs, { recursive: true, force: true }));

describe('primary stack', () => {
  it('rejects two database names that would share construct ids', () => {
    const json = exampleConfigJson();
    const [orders] = json.databases as Record<string, unknown>[];
    const config = parseDeploymentConfig(
      {
        ...json,
        databases: [
          { ...orders, name: 'orders-eu' },
          { ...orders, name: 'orders_eu' },
        ],
      },
      'test',
    );
    const app = new App({ outdir: mkdtempSync(join(outdirs, 'app-')), context: cdkJsonContext() });
    expect(() =>
      addPgproofStacks(app, config, { runnerImage: () => ecs.ContainerImage.fromRegistry('runner') }),
    ).toThrow(
      `'databases' names "orders-eu" and "orders_eu" differ only in "_" or "-" or case of the first letter; rename one`,
    );
  });
});

describe('cdk app', () => {
  it('fails with one line telling to copy the example when the config file is missing', () => {
    const result = spawnSync(process.execPath, ['--import', 'tsx', 'cdk/app.ts'], {
      cwd: join(import.meta.dirname, '../..'),
      env: { ...process.env, CDK_CONTEXT_JSON: JSON.stringify({ config: 'missing.config.json' }) },
      encoding: 'utf8',
    });
    expect(result.status).toBe(1);
    expect(result.stderr.trim()).toBe(
      'missing.config.json: not found; copy pgproof.config.example.json to pgproof.config.json and edit it, or pass -c config=<path>',
    );
  });
});
