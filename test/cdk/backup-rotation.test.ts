import { describe, expect, it } from 'vitest';
import { rotationRules } from '../../cdk/constructs/backup-rotation.ts';

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
