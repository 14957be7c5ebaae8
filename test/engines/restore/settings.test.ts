import { describe, expect, it } from 'vitest';
import { readRestoreSettings, restoreSettings } from '../../../engines/restore/settings.ts';

const NOW = new Date('2026-11-21T02:00:00Z');
const base = { BACKUP_BUCKET: 'backups', BACKUP_NAME: 'orders' };

describe('restore settings', () => {
  it("restores the backup's roles in a drill, and only when asked in restore mode", () => {
    expect(readRestoreSettings({ ...base }, NOW).restoreGlobals).toBe(true);
    expect(
      readRestoreSettings({ ...base, RESTORE_MODE: 'restore', PGDATABASE: 'orders' }, NOW).restoreGlobals,
    ).toBe(false);
    expect(
      readRestoreSettings(
        { ...base, RESTORE_MODE: 'restore', PGDATABASE: 'orders', RESTORE_GLOBALS: 'true' },
        NOW,
      ).restoreGlobals,
    ).toBe(true);
    expect(readRestoreSettings({ ...base, RESTORE_GLOBALS: 'false' }, NOW).restoreGlobals).toBe(false);
  });

  it('applies every default once, from a typed request as from the environment', () => {
    const typed = restoreSettings({ mode: 'drill', bucket: 'backups', backup: { name: 'orders' } }, NOW);
    const fromEnvironment = readRestoreSettings({ ...base }, NOW);
    expect({ ...typed, jobs: 0 }).toEqual({ ...fromEnvironment, backup: typed.backup, jobs: 0 });
    expect(typed).toMatchObject({
      prefix: '',
      host: 'localhost',
      port: 5432,
      user: 'postgres',
      clean: false,
      restoreGlobals: true,
      targetWaitSeconds: 120,
      downloadConcurrency: 8,
      downloadPartBytes: 16 * 1024 * 1024,
      wording: { clean: 'set RESTORE_CLEAN=true', globals: 'set RESTORE_GLOBALS=true', target: undefined },
    });
  });

  it('rejects a name the key layout cannot hold, naming the rule', () => {
    expect(() => readRestoreSettings({ BACKUP_BUCKET: 'b', BACKUP_NAME: '../orders' }, NOW)).toThrow(
      'BACKUP_NAME may hold only letters, digits, "_" and "-" (at most 63, starting with a letter or digit)',
    );
  });
});

describe('restore settings: the SQL checks', () => {
  it('rejects checks that are not JSON, not a list of checks, or name a check twice', () => {
    const read = (checks: string) => () => readRestoreSettings({ ...base, CHECKS_JSON: checks }, NOW);
    expect(read('[{')).toThrow('invalid environment: CHECKS_JSON is not valid JSON');
    expect(read('[{"name":"x"}]')).toThrow(
      'invalid environment: CHECKS_JSON must be a list of { "name": "...", "sql": "..." } (Invalid input: expected string, received undefined)',
    );
    expect(read('[{"name":"x","sql":"select true"},{"name":"x","sql":"select true"}]')).toThrow(
      'invalid environment: CHECKS_JSON names "x" twice; give each check its own name',
    );
  });

  it('reads a DR drill from DRILL_KIND and DRILL_REGION; a primary one by default', () => {
    expect(readRestoreSettings({ ...base }, NOW)).toMatchObject({ kind: 'primary', region: undefined });
    expect(
      readRestoreSettings({ ...base, DRILL_KIND: 'dr', DRILL_REGION: 'eu-central-1' }, NOW),
    ).toMatchObject({ kind: 'dr', region: 'eu-central-1' });
  });

  it('reads how the backup was picked and retrieved, refusing either when it is not JSON', () => {
    const selection = { kind: 'sample', tier: 'monthly', withinDays: 365, candidates: 12 };
    expect(
      readRestoreSettings({ ...base, DRILL_SELECTION: JSON.stringify(selection) }, NOW).selection,
    ).toEqual(selection);
    expect(() =>
      readRestoreSettings({ ...base, DRILL_SELECTION: '{kind', DRILL_RETRIEVAL: '[' }, NOW),
    ).toThrow(/DRILL_SELECTION is not valid JSON[\s\S]*DRILL_RETRIEVAL is not valid JSON/);
  });

  it('rejects an unknown DRILL_KIND, and a DR drill outside drill mode, naming the variable', () => {
    expect(() => readRestoreSettings({ ...base, DRILL_KIND: 'replica' }, NOW)).toThrow(
      'DRILL_KIND must be primary or dr',
    );
    expect(() =>
      readRestoreSettings({ ...base, DRILL_KIND: 'dr', RESTORE_MODE: 'restore', PGDATABASE: 'orders' }, NOW),
    ).toThrow('DRILL_KIND=dr needs RESTORE_MODE=drill: a DR drill restores into a scratch server');
  });
});
