import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Duration, Stack } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { afterAll, describe, expect, it } from 'vitest';
import type { BackupLauncher } from '../../cdk/constructs/backup-launcher.ts';
import { BackupVault } from '../../cdk/constructs/backup-vault.ts';
import { DatabaseBackup, type DatabaseBackupProps } from '../../cdk/constructs/database-backup.ts';
import { cdkJsonContext } from './synth.ts';

// An App makes its outdir when constructed, even if nothing is synthesized: keep them all in one temp dir.
const outdirs = mkdtempSync(join(tmpdir(), 'pgproof-constructs-'));
afterAll(() => rmSync(outdirs, { recursive: true, force: true }));
const stack = () =>
  new Stack(new App({ outdir: mkdtempSync(join(outdirs, 'app-')), context: cdkJsonContext() }), 'Test', {
    env: { account: '123456789012', region: 'eu-west-1' },
  });
const retention = { daily: 7, weekly: 35, monthly: 372, yearly: 2562 };

describe('DatabaseBackup', () => {
  const props = (scope: Stack, changes: Partial<DatabaseBackupProps>): DatabaseBackupProps => {
    const vpc = new ec2.Vpc(scope, 'Vpc', { natGateways: 0 });
    return {
      name: 'orders',
      host: 'db',
      database: 'orders',
      credentials: secretsmanager.Secret.fromSecretNameV2(scope, 'Secret', 'orders'),
      vault: BackupVault.fromBucketAndKey(
        s3.Bucket.fromBucketName(scope, 'Bucket', 'backups'),
        kms.Key.fromKeyArn(scope, 'Key', 'arn:aws:kms:eu-west-1:123456789012:key/x'),
      ),
      cluster: new ecs.Cluster(scope, 'Cluster', { vpc }),
      vpc,
      image: ecs.ContainerImage.fromRegistry('runner'),
      launcher: {} as BackupLauncher,
      schedule: 'cron(0 2 * * ? *)',
      timeZone: 'UTC',
      retentionDays: retention,
      rpo: Duration.hours(26),
      ...changes,
    };
  };

  it('rejects an RPO longer than an alarm can look back', () => {
    const scope = stack();
    expect(() => new DatabaseBackup(scope, 'Orders', props(scope, { rpo: Duration.days(8) }))).toThrow(
      "'rpo' must be whole hours from 1 to 168 (an alarm looks back at most 7 days), got 192",
    );
  });

  it('rejects an RPO that is not whole hours', () => {
    const scope = stack();
    expect(() => new DatabaseBackup(scope, 'Orders', props(scope, { rpo: Duration.minutes(90) }))).toThrow(
      "'rpo' must be whole hours from 1 to 168 (an alarm looks back at most 7 days), got 1.5",
    );
  });

  it('rejects a name that cannot be a key prefix', () => {
    const scope = stack();
    expect(() => new DatabaseBackup(scope, 'Orders', props(scope, { name: 'orders/eu' }))).toThrow(
      `'name' may hold only letters, digits, "_" and "-" (at most 63, starting with a letter or digit), got "orders/eu"`,
    );
  });
});
