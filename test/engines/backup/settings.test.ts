import { describe, expect, it } from 'vitest';
import { readSettings } from '../../../engines/backup/settings.ts';

const NOW = new Date('2026-11-21T02:00:00.123Z');
const BASE = { PGDATABASE: 'orders', BACKUP_BUCKET: 'bucket' };

describe('backup runner settings', () => {
  it('applies the contract defaults', () => {
    expect(readSettings(BASE, NOW)).toMatchObject({
      database: 'orders',
      name: 'orders',
      host: 'localhost',
      port: 5432,
      prefix: '',
      backupId: '20261121T020000Z',
      tier: 'daily',
      dumpGlobals: true,
      verify: 'counts',
      kmsKeyId: undefined,
      retentionDays: undefined,
      objectLockMode: 'GOVERNANCE',
      includeTables: [],
    });
  });

  it('reads every variable', () => {
    const s = readSettings(
      {
        ...BASE,
        PGHOST: 'db.internal',
        PGPORT: '6432',
        PGUSER: 'backup',
        BACKUP_PREFIX: 'prod/',
        BACKUP_NAME: 'orders-eu',
        BACKUP_ID: '20261101T000000Z',
        BACKUP_TIER: 'yearly',
        KMS_KEY_ID: 'alias/pgproof',
        RETENTION_DAYS: '365',
        INCLUDE_TABLES: 'public.a, public.b',
        EXCLUDE_SCHEMAS: 'audit',
        DUMP_GLOBALS: 'false',
        VERIFY: 'checksums',
        S3_FORCE_PATH_STYLE: 'true',
      },
      NOW,
    );
    expect(s).toMatchObject({
      host: 'db.internal',
      port: 6432,
      user: 'backup',
      prefix: 'prod/',
      name: 'orders-eu',
      backupId: '20261101T000000Z',
      tier: 'yearly',
      kmsKeyId: 'alias/pgproof',
      retentionDays: 365,
      includeTables: ['public.a', 'public.b'],
      excludeSchemas: ['audit'],
      dumpGlobals: false,
      verify: 'checksums',
      forcePathStyle: true,
    });
  });

  it('takes smaller upload parts and segments as a test and benchmark knob, and none by default', () => {
    expect(readSettings(BASE, NOW).upload).toEqual({});
    expect(readSettings({ ...BASE, UPLOAD_PART_MIB: '5', UPLOAD_SEGMENT_PARTS: '2' }, NOW).upload).toEqual({
      partMiB: 5,
      segmentParts: 2,
    });
  });

  it('rejects upload parts S3 would refuse and segments over its 10,000 parts', () => {
    expect(() => readSettings({ ...BASE, UPLOAD_PART_MIB: '9', UPLOAD_SEGMENT_PARTS: '10001' }, NOW)).toThrow(
      'invalid environment: UPLOAD_PART_MIB must be 1 to 8 (MiB per upload part; default 8); ' +
        'UPLOAD_SEGMENT_PARTS must be 1 to 10000 (parts per dump segment; default 10000)',
    );
    expect(() => readSettings({ ...BASE, UPLOAD_PART_MIB: '1' }, NOW)).toThrow(
      "invalid environment: UPLOAD_PART_MIB under 5 needs UPLOAD_SEGMENT_PARTS=1 (S3 takes a part under 5 MiB only as an object's last)",
    );
    expect(readSettings({ ...BASE, UPLOAD_PART_MIB: '1', UPLOAD_SEGMENT_PARTS: '1' }, NOW).upload).toEqual({
      partMiB: 1,
      segmentParts: 1,
    });
  });

  it('treats empty variables as unset', () => {
    expect(readSettings({ ...BASE, BACKUP_TIER: '', VERIFY: '', RETENTION_DAYS: '' }, NOW)).toMatchObject({
      tier: 'daily',
      verify: 'counts',
      retentionDays: undefined,
    });
  });

  it('rejects every problem at once, each with its fix', () => {
    expect(() =>
      readSettings(
        {
          BACKUP_PREFIX: 'prod',
          BACKUP_ID: 'yesterday',
          DUMP_GLOBALS: 'yes',
          OBJECT_LOCK_MODE: 'strict',
          PGPORT: 'five',
        },
        NOW,
      ),
    ).toThrow(
      'invalid environment: PGPORT must be a port number; PGDATABASE is required: set it to the database to back up; ' +
        'BACKUP_BUCKET is required: set it to the backup bucket name; BACKUP_PREFIX must be empty or end with "/" (letters, digits and !_.\'()/- only, no ".."); ' +
        'BACKUP_ID must look like 20261121T020000Z (UTC start time); OBJECT_LOCK_MODE must be GOVERNANCE or COMPLIANCE; ' +
        'DUMP_GLOBALS must be true or false, got "yes"',
    );
  });

  it('rejects a database name that cannot name its backups unless BACKUP_NAME gives one', () => {
    expect(() => readSettings({ PGDATABASE: 'shop.eu', BACKUP_BUCKET: 'b' }, NOW)).toThrow(
      'invalid environment: BACKUP_NAME (default: PGDATABASE, "shop.eu") may hold only letters, digits, "_" and "-" (at most 63, starting with a letter or digit): set BACKUP_NAME to the name its backups are filed under',
    );
    expect(
      readSettings({ PGDATABASE: 'shop.eu', BACKUP_NAME: 'shop-eu', BACKUP_BUCKET: 'b' }, NOW).name,
    ).toBe('shop-eu');
  });
  describe('with IAM database authentication', () => {
    const IAM = {
      ...BASE,
      PG_IAM_AUTH: 'true',
      PGHOST: 'orders.cluster-abc123.eu-west-1.rds.amazonaws.com',
      PGUSER: 'pgproof_backup',
      PGSSLMODE: 'verify-full',
      AWS_REGION: 'eu-west-1',
    };

    it("logs in with a signed token over verified TLS, and by libpq's own way by default", () => {
      expect(readSettings(IAM, NOW)).toMatchObject({
        host: 'orders.cluster-abc123.eu-west-1.rds.amazonaws.com',
        user: 'pgproof_backup',
        iamAuth: { region: 'eu-west-1', sslMode: 'verify-full', sslRootCert: undefined },
      });
      expect(
        readSettings({ ...IAM, PGSSLMODE: 'verify-ca', PGSSLROOTCERT: '/etc/ssl/certs/rds.pem' }, NOW)
          .iamAuth,
      ).toEqual({ region: 'eu-west-1', sslMode: 'verify-ca', sslRootCert: '/etc/ssl/certs/rds.pem' });
      expect(readSettings(BASE, NOW).iamAuth).toBeUndefined();
      expect(
        readSettings({ ...BASE, PG_IAM_AUTH: 'false', PGPASSWORD: 'secret' }, NOW).iamAuth,
      ).toBeUndefined();
    });

    it('rejects a password set alongside it, naming both variables and the fix', () => {
      expect(() => readSettings({ ...IAM, PGPASSWORD: 'secret' }, NOW)).toThrow(
        'invalid environment: PGPASSWORD must not be set with PG_IAM_AUTH=true (each connection logs in with a signed IAM token): remove PGPASSWORD, or set PG_IAM_AUTH=false to log in with it',
      );
    });

    it('rejects TLS that does not verify the server, the token being the password', () => {
      for (const [mode, got] of [
        ['require', '"require"'],
        ['prefer', '"prefer"'],
        ['disable', '"disable"'],
        ['', 'none'],
      ]) {
        expect(() => readSettings({ ...IAM, PGSSLMODE: mode }, NOW)).toThrow(
          `invalid environment: PGSSLMODE must be verify-full or verify-ca with PG_IAM_AUTH=true (the IAM token travels as the password), got ${got}: set PGSSLMODE=verify-full`,
        );
      }
    });

    it('rejects a missing host, user and region at once', () => {
      expect(() => readSettings({ ...BASE, PG_IAM_AUTH: 'true', PGSSLMODE: 'verify-full' }, NOW)).toThrow(
        'invalid environment: PGHOST is required with PG_IAM_AUTH=true: set it to the database endpoint (the token is signed for it); ' +
          'PGUSER is required with PG_IAM_AUTH=true: set it to the database user granted rds_iam; ' +
          "AWS_REGION is required with PG_IAM_AUTH=true: set it to the database's region (the token is signed for it)",
      );
    });

    it('rejects a value other than true or false', () => {
      expect(() => readSettings({ ...IAM, PG_IAM_AUTH: 'yes' }, NOW)).toThrow(
        'invalid environment: PG_IAM_AUTH must be true or false, got "yes"',
      );
    });
  });
});
