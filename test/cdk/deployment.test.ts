import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import { afterAll, describe, expect, it } from 'vitest';
import { addPgproofStacks } from '../../cdk/stacks/deployment.ts';
import { parseDeploymentConfig } from '../../core/config.ts';
import { cdkJsonContext, exampleConfigJson, synthesize } from './synth.ts';

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

describe('chat from the config', () => {
  it('sends events to the Slack channel and the webhook it names, the header from the secret, cdk-nag-clean', () => {
    const secretArn = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:pgproof/pager-AbCdEf';
    const deployment = synthesize(
      {
        ...exampleConfigJson(),
        chat: {
          slack: { workspaceId: 'T0123ABCD', channelId: 'C0123ABCD' },
          webhooks: [
            { name: 'pager', url: 'https://events.example.com/pgproof', authorizationSecretArn: secretArn },
          ],
        },
      },
      () => ecs.ContainerImage.fromRegistry('runner'),
    );
    try {
      deployment.primary.hasResourceProperties('AWS::Chatbot::SlackChannelConfiguration', {
        SlackWorkspaceId: 'T0123ABCD',
        SlackChannelId: 'C0123ABCD',
      });
      deployment.primary.hasResourceProperties('AWS::Events::ApiDestination', {
        InvocationEndpoint: 'https://events.example.com/pgproof',
      });
      const connection = JSON.stringify(deployment.primary.findResources('AWS::Events::Connection'));
      expect(connection).toContain(`{{resolve:secretsmanager:${secretArn}:SecretString:::}}`);
      expect(deployment.nagFindings).toEqual([]);
    } finally {
      deployment.cleanup();
    }
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
