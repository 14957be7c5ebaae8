import { describe, expect, it } from 'vitest';
import { parseTargetUrl } from '../../../cli/commands/restore.ts';

/** `--to`: where `pgproof restore` writes, refused in the words of the flag. */
describe('pgproof restore --to', () => {
  it('reads host, port, user, password, database and sslmode from a postgres:// URL', () => {
    expect(parseTargetUrl('postgresql://app:s%40cret@db.internal:6432/orders_copy?sslmode=require')).toEqual({
      host: 'db.internal',
      port: 6432,
      user: 'app',
      password: 's@cret',
      database: 'orders_copy',
      sslmode: 'require',
    });
    expect(parseTargetUrl('postgres:///orders')).toMatchObject({
      host: 'localhost',
      port: 5432,
      user: 'postgres',
    });
  });

  it('rejects what is not a URL, naming --to and hiding the password', () => {
    expect(() => parseTargetUrl('orders on localhost')).toThrow(
      '--to "orders on localhost" is not a URL; use postgres://user@host:5432/database (the password from PGPASSWORD or ~/.pgpass)',
    );
    expect(() => parseTargetUrl('//app:secret@db/orders')).toThrow(
      '--to "//app:***@db/orders" is not a URL; use postgres://user@host:5432/database (the password from PGPASSWORD or ~/.pgpass)',
    );
  });

  it('rejects another scheme or a URL without a database, naming --to', () => {
    expect(() => parseTargetUrl('mysql://x/y')).toThrow('--to must be a postgres:// URL, got mysql://...');
    expect(() => parseTargetUrl('postgres://db.internal:5432')).toThrow(
      '--to names no database; end the URL with /<database>',
    );
  });
});
