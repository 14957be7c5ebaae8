import { spawnSync } from 'node:child_process';
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
import { BackupAlerts } from '../../cdk/constructs/backup-alerts.ts';
import type { BackupLauncher } from '../../cdk/constructs/backup-launcher.ts';
import { BackupNetwork } from '../../cdk/constructs/backup-network.ts';
import { BackupVault, rotationRules } from '../../cdk/constructs/backup-vault.ts';
import { DatabaseBackup, type DatabaseBackupProps } from '../../cdk/constructs/database-backup.ts';
import { addPgproofStacks } from '../../cdk/stacks/deployment.ts';
import { parseDeploymentConfig } from '../../core/config.ts';
import { cdkJsonContext, exampleConfigJson } from './synth.ts';

// An App makes its outdir when constructed, even if nothing is synthesized: keep them all in one temp dir.
const outdirs = mkdtempSync(join(tmpdir(), 'pgproof-constructs-'));
afterAll(() => rmSync(outdirs, { recursive: true, force: true }));
const stack = () =>
  new Stack(new App({ outdir: mkdtempSync(join(outdirs, 'app-')), context: cdkJsonContext() }), 'Test', {
    env: { account: '123456789012', region: 'eu-west-1' },
  });
const retention = { daily: 7, weekly: 35, monthly: 372, yearly: 2562 };

describe('rotationRules', () => {
  it('moves a tier to cheaper storage only when it lives long enough to pay for it', () => {
    const rules = rotationRules(
      [{ prefix: 'a/', retentionDays: { daily: 3, weekly: 14, monthly: 100, yearly: 400 } }],
      7,
    );
    expect(
      rules.map((rule) => [
        rule.id,
        rule.expiration?.toDays(),
        rule.transitions?.map((t) => t.storageClass.value),
      ]),
    ).toEqual([
      ['a/daily', 3, []],
      ['a/weekly', 14, []],
      ['a/monthly', 100, []],
      ['a/yearly', 400, ['GLACIER_IR']],
      ['incomplete-uploads-and-old-versions', undefined, undefined],
    ]);
  });
});

describe('rotationRules with drill reports', () => {
  it('expires drill reports by prefix alone, after 400 days unless told otherwise', () => {
    const rules = (days?: number) =>
      rotationRules([], 7, { prefix: 'pg/drills/', expirationDays: days }).map((rule) => [
        rule.id,
        rule.prefix,
        rule.tagFilters,
        rule.expiration?.toDays(),
      ]);
    expect(rules()).toEqual([
      ['drill-reports', 'pg/drills/', undefined, 400],
      ['incomplete-uploads-and-old-versions', undefined, undefined, undefined],
    ]);
    expect(rules(30)[0]).toEqual(['drill-reports', 'pg/drills/', undefined, 30]);
  });
});

describe('construct validation', () => {
  it('rejects drill reports in the folder of a database, whose tiers their rule would expire', () => {
    expect(
      () =>
        new BackupVault(stack(), 'Vault', {
          rotation: [{ prefix: 'pg/drills/', retentionDays: retention }],
          drillReports: { prefix: 'pg/drills/' },
        }),
    ).toThrow(
      `'drillReports.prefix' "pg/drills/" overlaps the backups under "pg/drills/"; rename that database so its backups and the drill reports stay apart`,
    );
  });

  it('rejects drill reports kept for zero days', () => {
    expect(
      () =>
        new BackupVault(stack(), 'Vault', {
          rotation: [],
          drillReports: { prefix: 'drills/', expirationDays: 0 },
        }),
    ).toThrow("'drillReports.expirationDays' must be a whole number of at least 1, got 0");
  });

  it('rejects a retention of zero days naming the prefix and tier', () => {
    expect(
      () =>
        new BackupVault(stack(), 'Vault', {
          rotation: [{ prefix: 'orders/', retentionDays: { ...retention, weekly: 0 } }],
        }),
    ).toThrow("'rotation[orders/].retentionDays.weekly' must be a whole number of at least 1, got 0");
  });

  it('rejects an app without the feature flag that keeps ACLs off the log bucket', () => {
    const scope = new Stack(new App({ outdir: mkdtempSync(join(outdirs, 'app-')) }), 'Test');
    expect(() => new BackupVault(scope, 'Vault', { rotation: [] })).toThrow(
      'BackupVault needs the feature flag "@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy": true in cdk.json: access logs are delivered by bucket policy, never by ACLs',
    );
  });

  it('rejects more availability zones than a backup network uses', () => {
    expect(() => new BackupNetwork(stack(), 'Network', { maxAzs: 4 })).toThrow(
      "'maxAzs' must be between 1 and 3, got 4",
    );
  });

  it('rejects an alert address that is not an email', () => {
    const scope = stack();
    const cluster = new ecs.Cluster(scope, 'Cluster', { vpc: new ec2.Vpc(scope, 'Vpc', { natGateways: 0 }) });
    expect(() => new BackupAlerts(scope, 'Alerts', { cluster, emails: ['oncall'] })).toThrow(
      `'emails' must hold email addresses, got "oncall"; use one like "oncall@example.com"`,
    );
  });

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
});

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
