import { describe, expect, it } from 'vitest';
import type { Inventory } from '../../../core/inventory.ts';
import { compareInventory, type OwnershipContext } from '../../../engines/restore/inventory-checks.ts';

/**
 * The comparison's rules on their own (the real catalogs are in test/containers/pg-restore/inventory.test.ts):
 * what a dump cannot carry (an invalid index), what a restore may do differently without losing anything
 * (a sequence beyond the source's, an owner it could not give, MAINTAIN on a newer server), and what it
 * may not.
 */

const EMPTY: Inventory = {
  sequences: [],
  largeObjects: { count: 0, hash: '0', owners: [] },
  materializedViews: [],
  constraints: [],
  owners: [],
  extensions: [],
  sharedPreloadLibraries: '',
  objectCounts: [],
};
const SAME_MAJOR: OwnershipContext = {
  restoringUser: 'pgproof_restore',
  ungivable: new Set(['pgproof_superuser']),
  sourceMajor: 16,
  targetMajor: 16,
};
const checksOf = (
  source: Partial<Inventory> | undefined,
  restored: Partial<Inventory>,
  extra: { behind?: Parameters<typeof compareInventory>[1]['behind']; invalid?: string[] } = {},
  context: OwnershipContext = SAME_MAJOR,
) =>
  Object.fromEntries(
    compareInventory(
      source && { ...EMPTY, ...source },
      { inventory: { ...EMPTY, ...restored }, behind: extra.behind ?? [], invalid: extra.invalid ?? [] },
      context,
    ).map((c) => [c.name, c]),
  );

describe('inventory comparison', () => {
  it('fails an invalid index by name, with or without the source inventory', () => {
    for (const source of [EMPTY, undefined]) {
      expect(checksOf(source, {}, { invalid: ['public.orders_total_idx'] }).indexes).toEqual({
        name: 'indexes',
        kind: 'inventory',
        passed: false,
        detail: 'public.orders_total_idx is invalid',
      });
    }
  });

  it('checks only sequences and indexes for a manifest without an inventory', () => {
    expect(Object.keys(checksOf(undefined, {}))).toEqual(['sequences', 'indexes']);
  });

  it('passes a sequence beyond where the source was when the dump began, and fails one behind', () => {
    const at = (lastValue: string, isCalled = true, ascending = true) => ({
      sequences: [{ schema: 'public', name: 'ids', lastValue, isCalled, ascending }],
    });
    expect(checksOf(at('100'), at('100')).sequences?.passed).toBe(true);
    expect(checksOf(at('100'), at('140')).sequences?.passed).toBe(true);
    // Not yet called at 101 gives 101 next, as 100 called does.
    expect(checksOf(at('100'), at('101', false)).sequences?.passed).toBe(true);
    expect(checksOf(at('100'), at('100', false)).sequences?.detail).toBe(
      'public.ids is at 100 (not yet called), the source was at 100',
    );
    // A descending sequence is behind when it is above the source's.
    expect(checksOf(at('-100', true, false), at('-90', true, false)).sequences?.passed).toBe(false);
    expect(checksOf(at('-100', true, false), at('-120', true, false)).sequences?.passed).toBe(true);
  });

  it("counts an object kept by the restoring user, whose owner it could not give it to, and renames the owner's privileges", () => {
    const owned = (owner: string, acl: string[]) => ({
      owners: [{ kind: 'table', schema: 'public', name: 'orders', owner, acl }],
    });
    const checks = checksOf(
      owned('pgproof_superuser', [
        'pgproof_superuser=arwdDxt/pgproof_superuser',
        'reader=r/pgproof_superuser',
      ]),
      owned('pgproof_restore', ['pgproof_restore=arwdDxt/pgproof_restore', 'reader=r/pgproof_restore']),
    );
    expect(checks['owners and privileges']).toMatchObject({
      passed: true,
      detail: expect.stringMatching(/; 1 kept by pgproof_restore, which could not give them to their owner$/),
    });
    // An owner it could have given is a loss.
    expect(
      checksOf(
        owned('app', ['app=arwdDxt/app']),
        owned('pgproof_restore', ['pgproof_restore=arwdDxt/pgproof_restore']),
      )['owners and privileges']?.detail,
    ).toBe('table public.orders is owned by pgproof_restore, in the source by app');
  });

  it('ignores MAINTAIN only where a pre-17 backup is restored into 17 or newer', () => {
    const owned = (acl: string[]) => ({
      owners: [{ kind: 'table', schema: 'public', name: 'orders', owner: 'app', acl }],
    });
    const source = owned(['app=arwdDxt/app', 'ops=arwdDxt/app']);
    const restored = owned(['app=arwdDxtm/app', 'ops=arwdDxtm/app']);
    const upgrade = { ...SAME_MAJOR, sourceMajor: 16, targetMajor: 17 };
    expect(checksOf(source, restored, {}, upgrade)['owners and privileges']?.passed).toBe(true);
    expect(checksOf(source, restored, {}, SAME_MAJOR)['owners and privileges']?.passed).toBe(false);
  });

  it('reports an extension at another version without failing, and fails a missing one', () => {
    const ext = (version: string) => ({ extensions: [{ name: 'postgis', version, schema: 'public' }] });
    expect(checksOf(ext('3.4.2'), ext('3.5.0')).extensions).toMatchObject({
      passed: true,
      detail:
        '1 extension(s) as in the source; other versions here, reported not failed: postgis 3.5.0 (source 3.4.2)',
    });
    expect(checksOf(ext('3.4.2'), {}).extensions?.detail).toBe('extension postgis 3.4.2 is missing');
  });

  it('names at most five problems and counts the rest', () => {
    const constraints = Array.from({ length: 7 }, (_, i) => ({
      schema: 'public',
      table: 't',
      name: `c${i}`,
      type: 'f',
      validated: true,
    }));
    expect(checksOf({ constraints }, {}).constraints?.detail).toMatch(
      /^(foreign key constraint c\d of public\.t is missing; ){4}foreign key constraint c4 of public\.t is missing; and 2 more$/,
    );
  });
});
