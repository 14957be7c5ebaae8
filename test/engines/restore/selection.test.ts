import { describe, expect, it } from 'vitest';
import { parseTableSelection, selectionName } from '../../../engines/restore/selection.ts';
import { readRestoreSettings, restoreSettings } from '../../../engines/restore/settings.ts';

const NOW = new Date('2026-11-21T02:00:00Z');
const base = { BACKUP_BUCKET: 'backups', BACKUP_NAME: 'orders' };

describe('a selective restore names tables any way PostgreSQL allows', () => {
  it('splits schema.table at the first dot, and takes a bare name for every schema', () => {
    expect(parseTableSelection('sales.orders')).toEqual({ schema: 'sales', name: 'orders' });
    expect(parseTableSelection('sales.Odd Name')).toEqual({ schema: 'sales', name: 'Odd Name' });
    expect(parseTableSelection('public.a,b')).toEqual({ schema: 'public', name: 'a,b' });
    expect(parseTableSelection('public.v1.2')).toEqual({ schema: 'public', name: 'v1.2' });
    expect(parseTableSelection('orders')).toEqual({ schema: undefined, name: 'orders' });
  });

  it('takes a part in double quotes as it is, "" for a quote', () => {
    expect(parseTableSelection('"my.schema"."x.y"')).toEqual({ schema: 'my.schema', name: 'x.y' });
    expect(parseTableSelection('"my.schema".orders')).toEqual({ schema: 'my.schema', name: 'orders' });
    expect(parseTableSelection('"say ""hi"", then.go"')).toEqual({
      schema: undefined,
      name: 'say "hi", then.go',
    });
    expect(selectionName(parseTableSelection('"my.schema"."x.y"'))).toBe('my.schema.x.y');
  });

  it('rejects an unclosed quote or text after one, naming the flag', () => {
    const request = (tables: string[]) => () =>
      restoreSettings(
        { mode: 'restore', bucket: 'b', backup: { name: 'orders' }, tables, wording: { tables: '--table' } },
        NOW,
      );
    expect(request(['"sales.orders'])).toThrow(
      '--table: table "sales.orders has a double quote that is not closed; write "" for a quote inside one',
    );
    expect(request(['"sales"x.orders'])).toThrow(
      '--table: table "sales"x.orders has text after its closing quote; write "schema"."table"',
    );
  });

  it('reads RESTORE_TABLES comma-separated, or as a JSON list for names that hold a comma', () => {
    expect(
      readRestoreSettings({ ...base, RESTORE_TABLES: 'sales.orders, public.customers' }, NOW).tables,
    ).toEqual(['sales.orders', 'public.customers']);
    expect(
      readRestoreSettings({ ...base, RESTORE_TABLES: '["public.a,b", "\\"my.schema\\".t"]' }, NOW).tables,
    ).toEqual(['public.a,b', '"my.schema".t']);
    expect(readRestoreSettings({ ...base, RESTORE_SCHEMAS: '["a,b"]' }, NOW).schemas).toEqual(['a,b']);
    expect(() => readRestoreSettings({ ...base, RESTORE_TABLES: '[public.a' }, NOW)).toThrow(
      'invalid environment: RESTORE_TABLES starts with "[" but is not a JSON list of names; write ["sales.orders", "public.a,b"] or a comma-separated list',
    );
  });
});
