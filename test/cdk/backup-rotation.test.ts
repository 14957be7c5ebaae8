import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { rotationRules } from '../../cdk/constructs/backup-rotation.ts';
import { BackupVault } from '../../cdk/constructs/backup-vault.ts';

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
      ['incomplete-uploads-and-old-versions', undefined, undefined],
      ['a/daily', 3, []],
      ['a/weekly', 14, []],
      ['a/monthly', 100, []],
      ['a/yearly', 400, ['GLACIER_IR']],
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
      ['incomplete-uploads-and-old-versions', undefined, undefined, undefined],
      ['drill-reports', 'pg/drills/', undefined, 400],
    ]);
    expect(rules(30)[1]).toEqual(['drill-reports', 'pg/drills/', undefined, 30]);
  });
});

describe('a vault given its databases one at a time', () => {
  it('has the same lifecycle rules, in the same order, as one given them all at once', () => {
    const retentionDays = { daily: 7, weekly: 35, monthly: 372, yearly: 2562 };
    const rotation = [
      { prefix: 'pg/orders/', retentionDays },
      { prefix: 'pg/billing/', retentionDays: { ...retentionDays, daily: 14 } },
    ];
    const drillReports = { prefix: 'pg/drills/' };
    const bucketOf = (build: (stack: Stack) => void) => {
      const stack = new Stack(new App(), 'Test');
      build(stack);
      const template = Template.fromStack(stack);
      return {
        bucket: Object.values(template.findResources('AWS::S3::Bucket')).find((b) =>
          JSON.stringify(b).includes('pg/orders/daily'),
        ),
        policy: template.findResources('AWS::S3::BucketPolicy'),
      };
    };
    const atOnce = bucketOf((stack) => new BackupVault(stack, 'Vault', { rotation, drillReports }));
    const oneByOne = bucketOf((stack) => {
      const vault = new BackupVault(stack, 'Vault', { rotation: [] });
      vault.addDrillReports(drillReports);
      for (const r of rotation) vault.addRotation(r);
    });
    expect(oneByOne.bucket).toEqual(atOnce.bucket);
    expect(oneByOne.bucket).toBeDefined();
  });

  it('refuses a prefix twice and drill reports under another prefix, naming them', () => {
    const vault = new BackupVault(new Stack(new App(), 'Test'), 'Vault', {
      rotation: [],
      drillReports: { prefix: 'drills/' },
    });
    const retentionDays = { daily: 7, weekly: 35, monthly: 372, yearly: 2562 };
    vault.addRotation({ prefix: 'orders/', retentionDays });
    expect(() => vault.addRotation({ prefix: 'orders/', retentionDays })).toThrow(
      `'rotation' has "orders/" already; each database's prefix is rotated once`,
    );
    expect(() => vault.addDrillReports({ prefix: 'pg/drills/' })).toThrow(
      `'drillReports' are under "drills/" already, not "pg/drills/"; a vault serves one backup prefix`,
    );
  });
});
