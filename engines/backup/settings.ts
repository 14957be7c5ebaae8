import { z } from 'zod';
import {
  backupLocationVariables,
  csvVariable,
  flagVariable,
  parseEnvironment,
} from '../../core/environment.ts';
import { BACKUP_ID_PATTERN, DATABASE_NAME_RULE, formatBackupId, isDatabaseName } from '../../core/layout.ts';
import { verifyLevelSchema } from '../../core/manifest.ts';
import { TIERS, type tierSchema } from '../../core/retention-tiers.ts';

/**
 * Sessions counting the tables by default, besides pg_dump's own: two keep a big table's count from
 * waiting behind the others' without loading the source much more than the dump does.
 */
export const DEFAULT_VERIFY_CONNECTIONS = 2;

/**
 * The backup runner's settings: its environment (DESIGN.md "Backup runner"), read once at start
 * and validated as a whole so every problem is reported at once.
 */

const csv = csvVariable;
const flag = flagVariable;

const environmentSchema = z
  .object({
    PGHOST: z.string().optional(),
    PGPORT: z.string().regex(/^\d+$/, 'PGPORT must be a port number').optional(),
    PGUSER: z.string().optional(),
    // Read only to refuse it with PG_IAM_AUTH (libpq and node-postgres take it from the environment).
    PGPASSWORD: z.string().optional(),
    PGSSLMODE: z.string().optional(),
    PGSSLROOTCERT: z.string().optional(),
    PG_IAM_AUTH: flag('PG_IAM_AUTH', false),
    AWS_REGION: z.string().optional(),
    PGDATABASE: z.string({ error: 'PGDATABASE is required: set it to the database to back up' }).min(1),
    ...backupLocationVariables,
    BACKUP_ID: z
      .string()
      .regex(BACKUP_ID_PATTERN, 'BACKUP_ID must look like 20261121T020000Z (UTC start time)')
      .optional(),
    BACKUP_TIER: z
      .enum(TIERS, { error: 'BACKUP_TIER must be daily, weekly, monthly or yearly' })
      .default('daily'),
    KMS_KEY_ID: z.string().optional(),
    RETENTION_DAYS: z
      .string()
      .regex(/^[1-9]\d*$/, 'RETENTION_DAYS must be a whole number of days, at least 1')
      .transform(Number)
      .optional(),
    OBJECT_LOCK_MODE: z
      .enum(['GOVERNANCE', 'COMPLIANCE'], { error: 'OBJECT_LOCK_MODE must be GOVERNANCE or COMPLIANCE' })
      .optional()
      .default('GOVERNANCE'),
    INCLUDE_TABLES: csv,
    EXCLUDE_TABLES: csv,
    INCLUDE_SCHEMAS: csv,
    EXCLUDE_SCHEMAS: csv,
    DUMP_GLOBALS: flag('DUMP_GLOBALS', true),
    VERIFY: z
      .enum(verifyLevelSchema.options, { error: 'VERIFY must be counts, checksums or none' })
      .default('counts'),
    VERIFY_CONNECTIONS: z
      .string()
      .regex(
        /^([1-9]|1[0-6])$/,
        'VERIFY_CONNECTIONS must be 1 to 16 (sessions counting the tables side by side; default 2)',
      )
      .transform(Number)
      .default(DEFAULT_VERIFY_CONNECTIONS),
    DUMP_STREAMS: z
      .string()
      .regex(
        /^([1-9]|1[0-6])$/,
        'DUMP_STREAMS must be 1 to 16 (pg_dump processes dumping at once in the one snapshot; default 1)',
      )
      .transform(Number)
      .default(1),
    DUMP_COMPRESSION: z
      .string()
      .regex(
        /^(none|gzip(:[1-9])?|zstd(:\d{1,2})?|lz4(:\d{1,2})?)$/,
        'DUMP_COMPRESSION must be like zstd:1, gzip:1 or none',
      )
      .optional(),
    PG_BIN_DIR: z.string().optional(),
    // Test and benchmark knobs: smaller segments put a small database through a huge one's boundaries.
    UPLOAD_PART_MIB: z
      .string()
      .regex(/^[1-8]$/, 'UPLOAD_PART_MIB must be 1 to 8 (MiB per upload part; default 8)')
      .transform(Number)
      .optional(),
    UPLOAD_SEGMENT_PARTS: z
      .string()
      .regex(/^[1-9]\d*$/, 'UPLOAD_SEGMENT_PARTS must be 1 to 10000 (parts per dump segment; default 10000)')
      .transform(Number)
      .refine(
        (n) => n <= 10_000,
        'UPLOAD_SEGMENT_PARTS must be 1 to 10000 (parts per dump segment; default 10000)',
      )
      .optional(),
    AWS_ENDPOINT_URL_S3: z.url('AWS_ENDPOINT_URL_S3 must be a URL').optional(),
    S3_FORCE_PATH_STYLE: flag('S3_FORCE_PATH_STYLE', false),
  })
  .superRefine((e, ctx) => {
    if (e.UPLOAD_PART_MIB !== undefined && e.UPLOAD_PART_MIB < 5 && (e.UPLOAD_SEGMENT_PARTS ?? 10_000) > 1) {
      ctx.addIssue({
        code: 'custom',
        path: ['UPLOAD_PART_MIB'],
        message:
          "UPLOAD_PART_MIB under 5 needs UPLOAD_SEGMENT_PARTS=1 (S3 takes a part under 5 MiB only as an object's last)",
      });
    }
    // The name in the key layout defaults to the database's: it must then follow the same rule.
    if (e.BACKUP_NAME === undefined && e.PGDATABASE && !isDatabaseName(e.PGDATABASE)) {
      ctx.addIssue({
        code: 'custom',
        path: ['BACKUP_NAME'],
        message: `BACKUP_NAME (default: PGDATABASE, "${e.PGDATABASE}") ${DATABASE_NAME_RULE}: set BACKUP_NAME to the name its backups are filed under`,
      });
    }
    if (e.PG_IAM_AUTH) {
      for (const issue of iamAuthProblems(e)) ctx.addIssue({ code: 'custom', ...issue });
    }
  });

/** TLS modes that verify the server's certificate: the only ones an IAM token may travel over. */
const VERIFYING_SSL_MODES = ['verify-full', 'verify-ca'] as const;
type VerifyingSslMode = (typeof VERIFYING_SSL_MODES)[number];

const isVerifyingSslMode = (mode: string | undefined): mode is VerifyingSslMode =>
  (VERIFYING_SSL_MODES as readonly (string | undefined)[]).includes(mode);

/** What `PG_IAM_AUTH=true` needs of the rest of the environment, one problem per variable. */
function iamAuthProblems(e: {
  PGHOST?: string | undefined;
  PGUSER?: string | undefined;
  PGPASSWORD?: string | undefined;
  PGSSLMODE?: string | undefined;
  AWS_REGION?: string | undefined;
}): { path: string[]; message: string }[] {
  const problems: { path: string[]; message: string }[] = [];
  if (e.PGPASSWORD !== undefined) {
    problems.push({
      path: ['PGPASSWORD'],
      message:
        'PGPASSWORD must not be set with PG_IAM_AUTH=true (each connection logs in with a signed IAM token): remove PGPASSWORD, or set PG_IAM_AUTH=false to log in with it',
    });
  }
  if (e.PGHOST === undefined) {
    problems.push({
      path: ['PGHOST'],
      message:
        'PGHOST is required with PG_IAM_AUTH=true: set it to the database endpoint (the token is signed for it)',
    });
  }
  if (e.PGUSER === undefined) {
    problems.push({
      path: ['PGUSER'],
      message: 'PGUSER is required with PG_IAM_AUTH=true: set it to the database user granted rds_iam',
    });
  }
  if (e.AWS_REGION === undefined) {
    problems.push({
      path: ['AWS_REGION'],
      message:
        "AWS_REGION is required with PG_IAM_AUTH=true: set it to the database's region (the token is signed for it)",
    });
  }
  if (!isVerifyingSslMode(e.PGSSLMODE)) {
    problems.push({
      path: ['PGSSLMODE'],
      message: `PGSSLMODE must be verify-full or verify-ca with PG_IAM_AUTH=true (the IAM token travels as the password), got ${e.PGSSLMODE === undefined ? 'none' : `"${e.PGSSLMODE}"`}: set PGSSLMODE=verify-full`,
    });
  }
  return problems;
}

/**
 * IAM database authentication (`PG_IAM_AUTH=true`): no password exists; every connection logs in with
 * a freshly signed token, over TLS that verifies the server.
 */
export interface IamAuthSettings {
  /** The database's region (`AWS_REGION`), which the token is signed for. */
  readonly region: string;
  /** `PGSSLMODE`: `verify-full` also checks the host name against the certificate. */
  readonly sslMode: VerifyingSslMode;
  /** `PGSSLROOTCERT`: the certificate authorities trusted; default: the system's (and `NODE_EXTRA_CA_CERTS`). */
  readonly sslRootCert: string | undefined;
}

/** Validated settings of one backup run. */
export interface BackupSettings {
  /** Source database (libpq reads host, port, user and password from the environment itself). */
  readonly database: string;
  readonly host: string;
  readonly port: number;
  readonly user: string;
  /**
   * How the runner logs in with `PG_IAM_AUTH=true`.
   * @default - undefined: libpq's own way (PGPASSWORD, ~/.pgpass), for node-postgres and the child programs alike
   */
  readonly iamAuth: IamAuthSettings | undefined;
  readonly bucket: string;
  readonly prefix: string;
  readonly name: string;
  readonly backupId: string;
  readonly tier: z.infer<typeof tierSchema>;
  readonly kmsKeyId: string | undefined;
  readonly retentionDays: number | undefined;
  readonly objectLockMode: 'GOVERNANCE' | 'COMPLIANCE';
  readonly includeTables: readonly string[];
  readonly excludeTables: readonly string[];
  readonly includeSchemas: readonly string[];
  readonly excludeSchemas: readonly string[];
  readonly dumpGlobals: boolean;
  readonly verify: z.infer<typeof verifyLevelSchema>;
  /** Sessions that count (and hash) the tables side by side, all in the dump's snapshot. */
  readonly verifyConnections: number;
  /**
   * pg_dump processes dumping at once in the dump's snapshot (streams.ts): 1 (the default) is the one
   * archive DESIGN.md lays out; more share the large tables' rows out to data streams. The stacks always
   * set it, from the database's `streams` or its task's vCPUs.
   */
  readonly streams: number;
  /** Overrides the compression picked from the client version. */
  readonly compression: string | undefined;
  /** Folder of pg_dump/pg_dumpall/pg_restore; default: found on PATH. */
  readonly pgBinDir: string | undefined;
  readonly forcePathStyle: boolean;
  /**
   * Smaller upload parts and segments than the defaults (8 MiB, 10,000 parts a segment), for tests and the
   * benchmark (`UPLOAD_PART_MIB`, `UPLOAD_SEGMENT_PARTS`); production leaves them unset.
   */
  readonly upload: { readonly partMiB?: number; readonly segmentParts?: number };
  readonly startedAt: Date;
}

/**
 * Reads the settings from an environment. Throws a {@link ConfigError} listing every problem.
 * `now` is the run's start time (default id, Object Lock retain-until).
 */
export function readSettings(env: NodeJS.ProcessEnv, now: Date): BackupSettings {
  const e = parseEnvironment(environmentSchema, env);
  return {
    database: e.PGDATABASE,
    host: e.PGHOST ?? 'localhost',
    port: Number(e.PGPORT ?? 5432),
    user: e.PGUSER ?? 'postgres',
    iamAuth:
      e.PG_IAM_AUTH && e.AWS_REGION && isVerifyingSslMode(e.PGSSLMODE)
        ? { region: e.AWS_REGION, sslMode: e.PGSSLMODE, sslRootCert: e.PGSSLROOTCERT }
        : undefined,
    bucket: e.BACKUP_BUCKET,
    prefix: e.BACKUP_PREFIX,
    name: e.BACKUP_NAME ?? e.PGDATABASE,
    backupId: e.BACKUP_ID ?? formatBackupId(now),
    tier: e.BACKUP_TIER,
    kmsKeyId: e.KMS_KEY_ID,
    retentionDays: e.RETENTION_DAYS,
    objectLockMode: e.OBJECT_LOCK_MODE,
    includeTables: e.INCLUDE_TABLES,
    excludeTables: e.EXCLUDE_TABLES,
    includeSchemas: e.INCLUDE_SCHEMAS,
    excludeSchemas: e.EXCLUDE_SCHEMAS,
    dumpGlobals: e.DUMP_GLOBALS,
    verify: e.VERIFY,
    verifyConnections: e.VERIFY_CONNECTIONS,
    streams: e.DUMP_STREAMS,
    compression: e.DUMP_COMPRESSION,
    pgBinDir: e.PG_BIN_DIR,
    forcePathStyle: e.S3_FORCE_PATH_STYLE,
    upload: {
      ...(e.UPLOAD_PART_MIB === undefined ? {} : { partMiB: e.UPLOAD_PART_MIB }),
      ...(e.UPLOAD_SEGMENT_PARTS === undefined ? {} : { segmentParts: e.UPLOAD_SEGMENT_PARTS }),
    },
    startedAt: now,
  };
}
