import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import { afterAll, describe, expect, it } from 'vitest';
import { BackupVault, rotationRules } from '../../cdk/constructs/backup-vault.ts';
import { cdkJsonContext } from './synth.ts';

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

describe('BackupVault', () => {
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
});
