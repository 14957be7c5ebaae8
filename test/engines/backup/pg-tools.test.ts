import { describe, expect, it } from 'vitest';
import { assertClientCanDump, chooseCompression, pgDumpArgs } from '../../../engines/backup/pg-tools.ts';
import { readSettings } from '../../../engines/backup/settings.ts';

describe('pg_dump invocation', () => {
  it('compresses with zstd inside pg_dump from client 16, gzip level 1 below', () => {
    expect(chooseCompression({ version: '18.1', major: 18 }, undefined)).toEqual({
      compression: 'zstd:1',
      arg: '--compress=zstd:1',
    });
    expect(chooseCompression({ version: '15.18', major: 15 }, undefined)).toEqual({
      compression: 'gzip:1',
      arg: '--compress=1',
    });
    expect(chooseCompression({ version: '15.18', major: 15 }, 'none')).toEqual({
      compression: 'none',
      arg: '--compress=0',
    });
  });

  it('rejects zstd for a client older than 16', () => {
    expect(() => chooseCompression({ version: '15.18', major: 15 }, 'zstd:3')).toThrow(
      'DUMP_COMPRESSION=zstd:3 needs pg_dump 16 or newer, this one is 15.18; use gzip:N or none',
    );
  });

  it('refuses a server of a newer major than the client, accepts older and equal', () => {
    expect(() =>
      assertClientCanDump({ version: '15.18', major: 15 }, { version: '17.2', versionNum: 170002 }),
    ).toThrow('pg_dump 15.18 cannot dump PostgreSQL 17.2: use a PostgreSQL 17 or newer client');
    expect(() =>
      assertClientCanDump({ version: '18.1', major: 18 }, { version: '13.9', versionNum: 130009 }),
    ).not.toThrow();
    expect(() =>
      assertClientCanDump({ version: '15.1', major: 15 }, { version: '15.18', versionNum: 150018 }),
    ).not.toThrow();
  });

  it('passes selections as pg_dump patterns, after the snapshot', () => {
    const settings = readSettings(
      {
        PGDATABASE: 'd',
        BACKUP_BUCKET: 'b',
        INCLUDE_SCHEMAS: 'sales',
        EXCLUDE_SCHEMAS: 'tmp*',
        INCLUDE_TABLES: 'sales.orders',
        EXCLUDE_TABLES: 'sales.big_log',
      },
      new Date(),
    );
    expect(pgDumpArgs(settings, '00000003-0000001B-1', '--compress=1')).toEqual([
      '--format=custom',
      '--compress=1',
      '--snapshot=00000003-0000001B-1',
      '--no-password',
      '--schema=sales',
      '--exclude-schema=tmp*',
      '--table=sales.orders',
      '--exclude-table=sales.big_log',
    ]);
  });
});
