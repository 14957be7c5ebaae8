import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import { afterAll, describe, expect, it } from 'vitest';
import { BackupAlerts } from '../../cdk/constructs/backup-alerts.ts';
import { cdkJsonContext } from './synth.ts';

// An App makes its outdir when constructed, even if nothing is synthesized: keep them all in one temp dir.
const outdirs = mkdtempSync(join(tmpdir(), 'pgproof-constructs-'));
afterAll(() => rmSync(outdirs, { recursive: true, force: true }));
const stack = () =>
  new Stack(new App({ outdir: mkdtempSync(join(outdirs, 'app-')), context: cdkJsonContext() }), 'Test', {
    env: { account: '123456789012', region: 'eu-west-1' },
  });

describe('BackupAlerts', () => {
  it('rejects an alert address that is not an email', () => {
    const scope = stack();
    const cluster = new ecs.Cluster(scope, 'Cluster', { vpc: new ec2.Vpc(scope, 'Vpc', { natGateways: 0 }) });
    expect(() => new BackupAlerts(scope, 'Alerts', { cluster, emails: ['oncall'] })).toThrow(
      `'emails' must hold email addresses, got "oncall"; use one like "oncall@example.com"`,
    );
  });
});
