import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { isTimeZone } from './environment.ts';
import { ConfigError } from './errors.ts';
import {
  DATABASE_NAME_PATTERN,
  DATABASE_NAME_RULE,
  drillReportsPrefix,
  KEY_PREFIX_PATTERN,
} from './layout.ts';
import { verifyLevelSchema } from './manifest.ts';
import { TIERS, type Tier } from './retention-tiers.ts';

/**
 * The deployment config (DESIGN.md "Deployment config"): one JSON file describing the AWS account,
 * the two regions, the network and every database to back up. It is validated as a whole so a user
 * sees every mistake at once, each on one line naming its JSON path and the fix.
 */

/** The folder of drill reports beside the databases' folders (`<prefix>drills/`). */
const DRILLS_FOLDER = drillReportsPrefix('').slice(0, -1);

/** One problem per line, every problem at once; thrown by {@link parseDeploymentConfig} and {@link loadDeploymentConfig}. */
export class DeploymentConfigError extends ConfigError {
  /** `<json path>: <what is wrong>; <how to fix it>`, one entry per problem. */
  readonly problems: readonly string[];

  constructor(source: string, problems: readonly string[], options?: ErrorOptions) {
    super(
      problems.length === 1
        ? `${source}: ${problems[0]}`
        : `${source} has ${problems.length} problems:\n${problems.map((p) => `  ${p}`).join('\n')}`,
      options,
    );
    this.name = 'DeploymentConfigError';
    this.problems = problems;
  }
}

/**
 * A string setting; `fix` tells the user what to put there. zod's own messages ("expected string,
 * received undefined") say neither where nor what to do, so every field carries its own.
 */
const text = (fix: string) =>
  z
    .string({
      error: (issue) => (issue.input === undefined ? `is missing; ${fix}` : `must be a string; ${fix}`),
    })
    .min(1, `must not be empty; ${fix}`);

const wholeNumber = (min: number, max: number, fix: string) =>
  z
    .number({
      error: (issue) => (issue.input === undefined ? `is missing; ${fix}` : `must be a number; ${fix}`),
    })
    .int(`must be a whole number; ${fix}`)
    .min(min, `must be at least ${min}; ${fix}`)
    .max(max, `must be at most ${max}; ${fix}`);

const flag = (fix: string) => z.boolean({ error: `must be true or false; ${fix}` });

const list = (fix: string) =>
  z.array(z.string({ error: `must be a string; ${fix}` }).min(1, `must not be empty; ${fix}`), {
    error: `must be a list of strings; ${fix}`,
  });

const arnOf = (service: string, example: string) =>
  text(`set it to the ARN of the ${service}, e.g. "${example}"`).regex(
    new RegExp(`^arn:aws[a-z-]*:${service === 'KMS key' ? 'kms' : 'secretsmanager'}:`),
    `is not a ${service} ARN; use one like "${example}"`,
  );

/**
 * EventBridge Scheduler cron: `cron(minutes hours day-of-month month day-of-week year)`, with `?` in
 * exactly one of the two day fields. Checked here because the service rejects it only at deploy time.
 */
function cronProblem(expression: string, example: string): string | undefined {
  const fix = `write cron(minutes hours day-of-month month day-of-week year), e.g. "${example}"`;
  const fields = /^cron\((.*)\)$/.exec(expression)?.[1]?.trim().split(/\s+/);
  if (fields?.length !== 6) return `"${expression}" is not an EventBridge Scheduler cron expression; ${fix}`;
  const [, , dayOfMonth, , dayOfWeek] = fields;
  if ((dayOfMonth === '?') === (dayOfWeek === '?')) {
    return `"${expression}" must have "?" in exactly one of day-of-month and day-of-week; e.g. "${example}"`;
  }
  return undefined;
}

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

/** How long one tier's backups are kept: a number of days, or the backups of the last `count` periods. */
const tierRetentionSchema = z
  .object(
    {
      days: wholeNumber(1, 36_500, 'give the days to keep this tier').optional(),
      count: wholeNumber(1, 1_000, 'give how many of this tier to keep').optional(),
    },
    { error: 'must be an object like { "days": 35 } or { "count": 5 }; set one of them' },
  )
  .strict()
  .refine((r) => (r.days === undefined) !== (r.count === undefined), {
    message: 'must set exactly one of "days" and "count"; e.g. { "count": 7 }',
  });

/** A tier's retention as configured. */
export type TierRetention = z.infer<typeof tierRetentionSchema>;

/** Retention when a database's config says nothing: 7 daily, 5 weekly, 12 monthly, 7 yearly backups. */
export const DEFAULT_RETENTION: Readonly<Record<Tier, TierRetention>> = {
  daily: { count: 7 },
  weekly: { count: 5 },
  monthly: { count: 12 },
  yearly: { count: 7 },
};

/** Days per period of each tier: a count of monthly backups is kept for count × 31 days. */
const TIER_PERIOD_DAYS: Readonly<Record<Tier, number>> = { daily: 1, weekly: 7, monthly: 31, yearly: 366 };

const retentionSchema = z
  .object(
    Object.fromEntries(TIERS.map((tier) => [tier, tierRetentionSchema.optional()])) as Record<
      Tier,
      z.ZodOptional<typeof tierRetentionSchema>
    >,
    { error: 'must be an object with daily, weekly, monthly and yearly' },
  )
  .strict();

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

/** When a database's `drill` names no schedule: Sundays at 05:00 in the drill's time zone. */
export const DEFAULT_DRILL_SCHEDULE = 'cron(0 5 ? * SUN *)';

/** Days without a passed drill before a database's overdue alarm fires, when its `drill` says nothing. */
export const DEFAULT_MAX_DAYS_WITHOUT_SUCCESS = 7;

/** An EventBridge Scheduler cron setting; `example` shows the user one that works. */
const cron = (example: string) =>
  text(`write a cron expression, e.g. "${example}"`).superRefine((value, ctx) => {
    const problem = cronProblem(value, example);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  });

const timeZone = () =>
  text('use an IANA time zone, e.g. "Europe/Berlin" or "UTC"').refine(isTimeZone, {
    error: (issue) =>
      `"${String(issue.input)}" is not an IANA time zone; use a name like "Europe/Berlin" or "UTC"`,
  });

const sqlCheckSchema = z
  .object(
    {
      name: text('name the check as the drill report should, e.g. "orders have customers"'),
      sql: text(
        'write a query returning one row whose first column is true, e.g. "select count(*) > 0 from orders"',
      ),
    },
    { error: 'must be an object like { "name": "orders exist", "sql": "select count(*) > 0 from orders" }' },
  )
  .strict();

/** How a database's backups are proven to restore: its RTO, the drill's schedule, alarm and SQL checks. */
const drillSchema = z
  .object(
    {
      rtoMinutes: wholeNumber(
        1,
        10_080,
        'give the minutes a restore (download and pg_restore) may take, e.g. 60',
      ),
      schedule: cron(DEFAULT_DRILL_SCHEDULE).default(DEFAULT_DRILL_SCHEDULE),
      timeZone: timeZone().optional(),
      maxDaysWithoutSuccess: wholeNumber(
        1,
        7,
        'give the days without a passed drill before the alarm fires (a CloudWatch alarm looks back at most 7)',
      ).default(DEFAULT_MAX_DAYS_WITHOUT_SUCCESS),
      checks: z
        .array(sqlCheckSchema, {
          error: 'must be a list like [{ "name": "orders exist", "sql": "select count(*) > 0 from orders" }]',
        })
        .default([]),
    },
    { error: 'must be an object like { "rtoMinutes": 60 }; leave it out to drill only on demand' },
  )
  .strict();

const databaseSchema = z
  .object(
    {
      name: text('name the database as its backups are filed, e.g. "orders"').regex(
        DATABASE_NAME_PATTERN,
        `${DATABASE_NAME_RULE}; e.g. "orders"`,
      ),
      host: text('set it to the database endpoint, e.g. "orders.cluster-abc.eu-west-1.rds.amazonaws.com"'),
      port: wholeNumber(1, 65_535, 'use the database port, usually 5432').default(5432),
      database: text('set it to the PostgreSQL database to dump, e.g. "orders"'),
      secretArn: arnOf(
        'Secrets Manager secret',
        'arn:aws:secretsmanager:eu-west-1:123456789012:secret:pgproof/orders-AbCdEf',
      ).regex(
        // Only ARNs are checked for the suffix; anything else already has its own message.
        /^(?!arn:)|-[A-Za-z0-9]{6}$/,
        "must be the secret's complete ARN, ending in its 6-character suffix; copy it from the Secrets Manager console",
      ),
      secretKeyArn: arnOf('KMS key', 'arn:aws:kms:eu-west-1:123456789012:key/<id>').optional(),
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
      databaseSecurityGroupId: text('give the id of the database security group, e.g. "sg-0123456789abcdef0"')
        .regex(/^sg-[0-9a-f]{8,17}$/, 'is not a security group id; use one like "sg-0123456789abcdef0"')
        .optional(),
      drill: drillSchema.optional(),
    },
    { error: 'must be an object describing one database' },
  )
  .strict()
  // The drill's schedule runs in the database's time zone unless it names its own.
  .transform((db) => ({
    ...db,
    drill: db.drill && { ...db.drill, timeZone: db.drill.timeZone ?? db.timeZone },
  }));

/** Settings of the restore drill that hold for every database. */
const deploymentDrillSchema = z
  .object(
    {
      postgresMajors: z
        .array(wholeNumber(10, 99, 'give PostgreSQL major versions, e.g. [15, 16, 17]'), {
          error: 'must be a list of PostgreSQL major versions, e.g. [15, 16, 17]',
        })
        .min(1, 'must list at least one PostgreSQL major version, e.g. [16]; leave it out for 13 to 18')
        .optional(),
    },
    { error: 'must be an object like { "postgresMajors": [16, 17] }' },
  )
  .strict();

const subnetSchema = z
  .object({
    subnetId: text('give the subnet id, e.g. "subnet-0123456789abcdef0"').regex(
      /^subnet-[0-9a-f]{8,17}$/,
      'is not a subnet id; use one like "subnet-0123456789abcdef0"',
    ),
    availabilityZone: text('give the subnet\'s availability zone, e.g. "eu-west-1a"'),
    routeTableId: text('give the subnet\'s route table id, e.g. "rtb-0123456789abcdef0"').regex(
      /^rtb-[0-9a-f]{8,17}$/,
      'is not a route table id; use one like "rtb-0123456789abcdef0"',
    ),
  })
  .strict();

const networkSchema = z.discriminatedUnion(
  'type',
  [
    z
      .object({
        type: z.literal('create'),
        cidr: text('give an IPv4 CIDR, e.g. "10.80.0.0/24"')
          .regex(
            /^\d{1,3}(\.\d{1,3}){3}\/(1[6-9]|2[0-4])$/,
            'must be an IPv4 CIDR from /16 to /24; e.g. "10.80.0.0/24"',
          )
          .default('10.80.0.0/24'),
        maxAzs: wholeNumber(1, 3, 'give how many availability zones the tasks may use').default(2),
      })
      .strict(),
    z
      .object({
        type: z.literal('existing'),
        vpcId: text('give the VPC id, e.g. "vpc-0123456789abcdef0"').regex(
          /^vpc-[0-9a-f]{8,17}$/,
          'is not a VPC id; use one like "vpc-0123456789abcdef0"',
        ),
        subnets: z
          .array(subnetSchema, { error: 'must be a list of the private subnets the backup tasks run in' })
          .min(1, 'must list at least one private subnet'),
        s3GatewayEndpoint: flag(
          'false when the VPC already routes these subnets to an S3 gateway endpoint',
        ).default(true),
        interfaceEndpoints: flag(
          'true when the subnets have no NAT route to ECR, Secrets Manager and CloudWatch Logs',
        ).default(false),
      })
      .strict(),
  ],
  {
    error: 'must say { "type": "create" } or { "type": "existing", "vpcId": ..., "subnets": [...] }',
  },
);

const regionSchema = (fix: string) =>
  text(fix).regex(/^[a-z]{2}(-gov)?-[a-z]+-\d$/, `is not an AWS region; ${fix}`);

const deploymentConfigSchema = z
  .object(
    {
      $schema: z.string().optional(),
      stackNamePrefix: text('give a prefix for the stack names, e.g. "Pgproof"')
        .regex(
          /^[A-Za-z][A-Za-z0-9-]{0,63}$/,
          'may hold only letters, digits and "-", starting with a letter',
        )
        .default('Pgproof'),
      account: text('set it to the 12-digit AWS account id').regex(
        /^\d{12}$/,
        'must be a 12-digit AWS account id; e.g. "123456789012"',
      ),
      primaryRegion: regionSchema('set it to the region of the databases, e.g. "eu-west-1"'),
      replicaRegion: regionSchema('set it to a second region for the replica, e.g. "eu-central-1"'),
      backupPrefix: z
        .string({ error: 'must be a string; e.g. "" or "backups/"' })
        .regex(KEY_PREFIX_PATTERN, 'must be empty or end with "/"; e.g. "backups/"')
        .default(''),
      network: networkSchema,
      notificationEmails: z
        .array(z.email({ error: 'is not an email address; e.g. "oncall@example.com"' }), {
          error: 'must be a list of email addresses; e.g. ["oncall@example.com"]',
        })
        .default([]),
      objectLockMode: z
        .enum(['GOVERNANCE', 'COMPLIANCE'], {
          error: 'must be "GOVERNANCE" or "COMPLIANCE"; COMPLIANCE locks even against the account root',
        })
        .default('GOVERNANCE'),
      databases: z
        .array(databaseSchema, { error: 'must be a list of databases to back up' })
        .min(1, 'must list at least one database'),
      drill: deploymentDrillSchema.default({}),
    },
    { error: 'must be a JSON object; start from pgproof.config.example.json' },
  )
  .strict();

/**
 * Rules across fields, checked on the raw JSON so they are reported together with the schema's
 * problems (zod skips an object's refinements while any of its fields is invalid).
 */
function crossFieldProblems(json: unknown): string[] {
  if (typeof json !== 'object' || json === null) return [];
  const config = json as { primaryRegion?: unknown; replicaRegion?: unknown; databases?: unknown };
  const problems: string[] = [];
  if (typeof config.primaryRegion === 'string' && config.primaryRegion === config.replicaRegion) {
    problems.push(
      'replicaRegion: is the primary region too; pick a second region so a regional outage spares the replica',
    );
  }
  if (Array.isArray(config.databases)) {
    const seen = new Set<unknown>();
    config.databases.forEach((db: unknown, index) => {
      const name = typeof db === 'object' && db !== null ? (db as { name?: unknown }).name : undefined;
      if (typeof name !== 'string') return;
      if (seen.has(name))
        problems.push(`databases[${index}].name: "${name}" is used twice; give each database its own name`);
      if (name === DRILLS_FOLDER) {
        problems.push(
          `databases[${index}].name: "${name}" is the folder of the drill reports; give the database another name, e.g. "${name}_db"`,
        );
      }
      seen.add(name);
    });
    config.databases.forEach((db: unknown, index) => {
      const checks = fieldOf(fieldOf(db, 'drill'), 'checks');
      if (!Array.isArray(checks)) return;
      const names = new Set<string>();
      checks.forEach((check: unknown, checkIndex) => {
        const name = fieldOf(check, 'name');
        if (typeof name !== 'string') return;
        if (names.has(name)) {
          problems.push(
            `databases[${index}].drill.checks[${checkIndex}].name: "${name}" is used twice; give each check its own name, as the drill report names failed checks by it`,
          );
        }
        names.add(name);
      });
    });
  }
  const majors = fieldOf(fieldOf(json, 'drill'), 'postgresMajors');
  if (Array.isArray(majors)) {
    majors.forEach((major: unknown, index) => {
      if (typeof major === 'number' && majors.indexOf(major) !== index) {
        problems.push(`drill.postgresMajors[${index}]: ${major} is listed twice; list each major once`);
      }
    });
  }
  return problems;
}

/** `value[key]` of parsed JSON, undefined unless `value` is an object. */
function fieldOf(value: unknown, key: string): unknown {
  return typeof value === 'object' && value !== null ? (value as Record<string, unknown>)[key] : undefined;
}

/** The validated deployment config, defaults applied. */
export type DeploymentConfig = z.infer<typeof deploymentConfigSchema>;
/** One database's validated settings. */
export type DatabaseConfig = z.infer<typeof databaseSchema>;
/** The network the backup tasks run in. */
export type NetworkConfig = z.infer<typeof networkSchema>;

/** `databases[1].retention.daily` */
function jsonPath(path: readonly PropertyKey[]): string {
  return path.reduce<string>(
    (out, key) => (typeof key === 'number' ? `${out}[${key}]` : out ? `${out}.${String(key)}` : String(key)),
    '',
  );
}

function describe(issue: z.core.$ZodIssue): string[] {
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map(
      (key) => `${jsonPath([...issue.path, key])}: is not a known setting; remove it or check its spelling`,
    );
  }
  return [`${jsonPath(issue.path) || '(root)'}: ${issue.message}`];
}

/** Validates parsed JSON; `source` names the file in the error. Throws {@link DeploymentConfigError}. */
export function parseDeploymentConfig(json: unknown, source: string): DeploymentConfig {
  const parsed = deploymentConfigSchema.safeParse(json);
  const problems = [
    ...(parsed.success ? [] : parsed.error.issues.flatMap(describe)),
    ...crossFieldProblems(json),
  ];
  if (!parsed.success || problems.length > 0) throw new DeploymentConfigError(source, problems);
  return parsed.data;
}

/** Reads and validates the config file at `path`. Throws {@link DeploymentConfigError}. */
export function loadDeploymentConfig(path: string): DeploymentConfig {
  let textContent: string;
  try {
    textContent = readFileSync(path, 'utf8');
  } catch (cause) {
    const missing = (cause as NodeJS.ErrnoException).code === 'ENOENT';
    throw new DeploymentConfigError(
      path,
      [
        missing
          ? 'not found; copy pgproof.config.example.json to pgproof.config.json and edit it, or pass -c config=<path>'
          : `cannot be read (${(cause as Error).message}); check the path and its permissions`,
      ],
      { cause },
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(textContent);
  } catch (cause) {
    throw new DeploymentConfigError(
      path,
      [`is not valid JSON (${(cause as Error).message}); fix the syntax`],
      {
        cause,
      },
    );
  }
  return parseDeploymentConfig(json, path);
}

/**
 * Days each tier of a database is kept: the lifecycle expiration of its objects and the Object Lock
 * retain-until the runner sets. A count means the backups of the last `count` periods of that tier.
 */
export function retentionDays(database: DatabaseConfig): Record<Tier, number> {
  return Object.fromEntries(
    TIERS.map((tier) => {
      const retention = database.retention[tier] ?? DEFAULT_RETENTION[tier];
      return [tier, retention.days ?? (retention.count ?? 1) * TIER_PERIOD_DAYS[tier]];
    }),
  ) as Record<Tier, number>;
}
