import { z } from 'zod';
import { drillSchema } from './config-drill.ts';
import { arnOf, cron, flag, list, resourceId, text, timeZone, wholeNumber } from './config-fields.ts';
import { retentionSchema } from './config-retention.ts';
import { DATABASE_NAME_PATTERN, DATABASE_NAME_RULE, MAX_DUMP_STREAMS } from './layout.ts';
import { verifyLevelSchema } from './manifest.ts';

/**
 * One entry of the config's `databases`: where the database is, when and what to dump, how long to
 * keep it, the Fargate task that dumps it and how it is drilled.
 */

/** Fargate's valid memory sizes (MiB) per CPU size (units). */
const FARGATE_MEMORY: Record<number, { min: number; max: number; step: number }> = {
  256: { min: 512, max: 2048, step: 512 },
  512: { min: 1024, max: 4096, step: 1024 },
  1024: { min: 2048, max: 8192, step: 1024 },
  2048: { min: 4096, max: 16384, step: 1024 },
  4096: { min: 8192, max: 30720, step: 1024 },
  8192: { min: 16384, max: 61440, step: 4096 },
  16384: { min: 32768, max: 122880, step: 8192 },
};

const taskSchema = z
  .object(
    {
      cpu: wholeNumber(
        256,
        16_384,
        'use a Fargate CPU size: 256, 512, 1024, 2048, 4096, 8192 or 16384',
      ).default(1024),
      memoryMiB: wholeNumber(512, 122_880, 'use a Fargate memory size valid for the CPU size').default(2048),
      ephemeralStorageGiB: wholeNumber(
        21,
        200,
        'use 21 to 200 GiB, or leave it out for the default 20 GiB',
      ).optional(),
      architecture: z
        .enum(['ARM64', 'X86_64'], { error: 'must be "ARM64" or "X86_64"; ARM64 is cheaper for pg_dump' })
        .default('ARM64'),
    },
    { error: 'must be an object like { "cpu": 1024, "memoryMiB": 2048 }' },
  )
  .strict()
  .superRefine((task, ctx) => {
    const memory = FARGATE_MEMORY[task.cpu];
    if (!memory) {
      ctx.addIssue({
        code: 'custom',
        path: ['cpu'],
        message: `${task.cpu} is not a Fargate CPU size; use 256, 512, 1024, 2048, 4096, 8192 or 16384`,
      });
    } else if (
      task.memoryMiB < memory.min ||
      task.memoryMiB > memory.max ||
      task.memoryMiB % memory.step !== 0
    ) {
      ctx.addIssue({
        code: 'custom',
        path: ['memoryMiB'],
        message: `${task.memoryMiB} MiB does not fit ${task.cpu} CPU units; use ${memory.min} to ${memory.max} in steps of ${memory.step}`,
      });
    }
  });

/**
 * How many pg_dump processes dump a database at once when its settings do not say: one per vCPU of its
 * task (`cpu` in Fargate units, 1,024 to a vCPU), from 1 to {@link MAX_DUMP_STREAMS}. Each stream
 * compresses on a CPU of its own, so more streams than vCPUs only take turns on them.
 */
export function defaultDumpStreams(cpu: number): number {
  return Math.min(MAX_DUMP_STREAMS, Math.max(1, Math.floor(cpu / 1024)));
}

const SECRET_EXAMPLE = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:pgproof/orders-AbCdEf';

/** The secret with the password, the RDS layout (`username`, `password`). */
const SECRET_ARN = arnOf('Secrets Manager secret', SECRET_EXAMPLE).regex(
  // Only ARNs are checked for the suffix; anything else already has its own message.
  /^(?!arn:)|-[A-Za-z0-9]{6}$/,
  "must be the secret's complete ARN, ending in its 6-character suffix; copy it from the Secrets Manager console",
);

const IAM_AUTH_EXAMPLE = '{ "user": "pgproof_backup", "resourceId": "db-ABCDEFGHIJKLMNOPQRSTUVWXY0" }';

/**
 * IAM database authentication, the alternative to a secret: the backup logs in as `user` with a token
 * its task role signs, and the role may connect as that user of that database (`resourceId`) only.
 */
const iamAuthSchema = z
  .object(
    {
      user: text(
        'name the database user the backup logs in as (granted rds_iam), e.g. "pgproof_backup"',
      ).regex(
        /^[A-Za-z_][A-Za-z0-9_$.-]{0,62}$/,
        'must be a database user name of letters, digits, "_", "$", "." and "-" (no wildcards: the IAM grant names exactly this user), e.g. "pgproof_backup"',
      ),
      resourceId: text(
        'give the resource id of the instance (DbiResourceId, "db-...") or the Aurora cluster (DbClusterResourceId, "cluster-..."), e.g. "db-ABCDEFGHIJKLMNOPQRSTUVWXY0"',
      ).regex(
        /^(db|cluster)-[A-Za-z0-9]+$/,
        'is not an RDS resource id; use the instance\'s DbiResourceId ("db-ABCDEFGHIJKLMNOPQRSTUVWXY0") or the Aurora cluster\'s DbClusterResourceId ("cluster-ABCDEFGHIJKLMNOPQRSTUVWXY0"), not its name',
      ),
    },
    { error: `must be an object like ${IAM_AUTH_EXAMPLE}` },
  )
  .strict();

/**
 * What to back up, when and how long to keep it, the task and the drill: a database's settings other
 * than where it is and how to log in. The config's databases and the library's `addDatabase` share them.
 */
const databaseSettingsShape = {
  database: text('set it to the PostgreSQL database to dump, e.g. "orders"'),
  schedule: cron('cron(0 2 * * ? *)'),
  timeZone: timeZone(),
  retention: retentionSchema.default({}),
  rpoHours: wholeNumber(
    1,
    168,
    'give the hours after which a missing backup alarms, e.g. 26 for a daily backup',
  ),
  includeTables: list('give pg_dump table patterns, e.g. ["public.orders"]').default([]),
  excludeTables: list('give pg_dump table patterns, e.g. ["public.audit_log"]').default([]),
  includeSchemas: list('give pg_dump schema patterns, e.g. ["public"]').default([]),
  excludeSchemas: list('give pg_dump schema patterns, e.g. ["scratch"]').default([]),
  dumpGlobals: flag('true also saves roles and tablespaces (without passwords)').default(true),
  verify: z
    .enum(verifyLevelSchema.options, {
      error: 'must be "counts", "checksums" or "none"; counts is exact row counts per table',
    })
    .default('counts'),
  task: taskSchema.default({ cpu: 1024, memoryMiB: 2048, architecture: 'ARM64' }),
  // Optional here: its default depends on the task, applied by withDerivedDefaults.
  streams: wholeNumber(
    1,
    MAX_DUMP_STREAMS,
    `use 1 to ${MAX_DUMP_STREAMS} parallel pg_dump processes, at most the task's vCPUs (more gain nothing); leave it out for one per vCPU`,
  ).optional(),
  drill: drillSchema.optional(),
};

/**
 * The defaults that follow from other settings: the drill's schedule runs in the database's time zone
 * unless it names its own, and the dump runs one stream per vCPU of the task unless `streams` says.
 */
function withDerivedDefaults<
  T extends {
    timeZone: string;
    task: { cpu: number };
    streams?: number | undefined;
    drill?: { timeZone?: string | undefined };
  },
>(db: T): T & { streams: number; drill: (NonNullable<T['drill']> & { timeZone: string }) | undefined } {
  return {
    ...db,
    streams: db.streams ?? defaultDumpStreams(db.task.cpu),
    drill: db.drill && { ...db.drill, timeZone: db.drill.timeZone ?? db.timeZone },
  };
}

/** A database's settings without its location and login (the library's `addDatabase` options). */
export const databaseSettingsSchema = z
  .object(databaseSettingsShape, { error: 'must be an object of database settings' })
  .strict()
  .transform(withDerivedDefaults);

/** A database's validated settings, defaults applied. */
export type DatabaseSettings = z.infer<typeof databaseSettingsSchema>;

/** A database's settings as given (defaults not yet applied). */
export type DatabaseSettingsInput = z.input<typeof databaseSettingsSchema>;

/**
 * One database to back up; its drill's time zone defaults to the database's, its dump streams to the
 * task's vCPUs.
 */
export const databaseSchema = z
  .object(
    {
      name: text('name the database as its backups are filed, e.g. "orders"').regex(
        DATABASE_NAME_PATTERN,
        `${DATABASE_NAME_RULE}; e.g. "orders"`,
      ),
      host: text('set it to the database endpoint, e.g. "orders.cluster-abc.eu-west-1.rds.amazonaws.com"'),
      port: wholeNumber(1, 65_535, 'use the database port, usually 5432').default(5432),
      database: databaseSettingsShape.database,
      // Optional here: exactly one of secretArn and iamAuth is checked below, with the fix.
      secretArn: SECRET_ARN.optional(),
      secretKeyArn: arnOf('KMS key', 'arn:aws:kms:eu-west-1:123456789012:key/<id>').optional(),
      iamAuth: iamAuthSchema.optional(),
      schedule: databaseSettingsShape.schedule,
      timeZone: databaseSettingsShape.timeZone,
      retention: databaseSettingsShape.retention,
      rpoHours: databaseSettingsShape.rpoHours,
      includeTables: databaseSettingsShape.includeTables,
      excludeTables: databaseSettingsShape.excludeTables,
      includeSchemas: databaseSettingsShape.includeSchemas,
      excludeSchemas: databaseSettingsShape.excludeSchemas,
      dumpGlobals: databaseSettingsShape.dumpGlobals,
      verify: databaseSettingsShape.verify,
      task: databaseSettingsShape.task,
      streams: databaseSettingsShape.streams,
      databaseSecurityGroupId: resourceId(
        'sg',
        'security group',
        'give the id of the database security group',
      ).optional(),
      drill: databaseSettingsShape.drill,
    },
    { error: 'must be an object describing one database' },
  )
  .strict()
  // Checked even when other fields are wrong, so that every problem is reported at once.
  .check(
    z.superRefine(
      (db, ctx) => {
        if (db.secretArn === undefined && db.iamAuth === undefined) {
          ctx.addIssue({
            code: 'custom',
            path: ['secretArn'],
            message: `is missing; set it to the ARN of the Secrets Manager secret with the password, e.g. "${SECRET_EXAMPLE}", or log in without one: "iamAuth": ${IAM_AUTH_EXAMPLE}`,
          });
        }
        if (db.secretArn !== undefined && db.iamAuth !== undefined) {
          ctx.addIssue({
            code: 'custom',
            path: ['iamAuth'],
            message:
              'cannot be given with "secretArn"; keep "iamAuth" to log in with IAM database authentication (no password), or "secretArn" to log in with the secret\'s password',
          });
        }
        if (db.secretKeyArn !== undefined && db.iamAuth !== undefined && db.secretArn === undefined) {
          ctx.addIssue({
            code: 'custom',
            path: ['secretKeyArn'],
            message: 'is the key of the secret, and "iamAuth" uses none; remove it',
          });
        }
      },
      { when: (payload) => typeof payload.value === 'object' && payload.value !== null },
    ),
  )
  .transform(withDerivedDefaults);

/** One database's validated settings. */
export type DatabaseConfig = z.infer<typeof databaseSchema>;
