import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { chatSchema } from './config-chat.ts';
import { type DatabaseSettings, databaseSchema, databaseSettingsSchema } from './config-database.ts';
import { drDrillSchema } from './config-dr-drill.ts';
import { deploymentDrillSchema, scratchImageHomeProblem } from './config-drill.ts';
import { region, text } from './config-fields.ts';
import { networkSchema } from './config-network.ts';
import { ConfigError } from './errors.ts';
import { drillReportsPrefix, KEY_PREFIX_PATTERN, KEY_PREFIX_RULE, ledgerPrefix } from './layout.ts';

export type { ChatConfig } from './config-chat.ts';
export {
  type DatabaseConfig,
  type DatabaseSettings,
  type DatabaseSettingsInput,
  defaultDumpStreams,
} from './config-database.ts';
export type { DrDrillConfig } from './config-dr-drill.ts';
export { DEFAULT_DRILL_SCHEDULE, DEFAULT_MAX_DAYS_WITHOUT_SUCCESS } from './config-drill.ts';
export type { NetworkConfig } from './config-network.ts';
export { DEFAULT_RETENTION, retentionDays, type TierRetention } from './config-retention.ts';
export { MAX_DUMP_STREAMS } from './layout.ts';

/**
 * The deployment config (DESIGN.md "Deployment config"): one JSON file describing the AWS account,
 * the two regions, the network and every database to back up. It is validated as a whole so a user
 * sees every mistake at once, each on one line naming its JSON path and the fix.
 *
 * The parts of the schema live beside this file: the field schemas and their messages
 * (config-fields.ts), `network` (config-network.ts), one of `databases` (config-database.ts), its
 * `retention` (config-retention.ts) and the `drill` settings (config-drill.ts).
 */

/** Folders beside the databases' folders, by what they hold: no database may take their names. */
export const RESERVED_FOLDERS: Readonly<Record<string, string>> = {
  [drillReportsPrefix('').slice(0, -1)]: 'the folder of the drill reports',
  [ledgerPrefix('').slice(0, -1)]: 'the folder of the evidence ledgers',
};

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

/** The role that may manage pgproof's keys when the config names none (it exists only once someone creates it). */
export const DEFAULT_BREAK_GLASS_ROLE_NAME = 'pgproof-break-glass';

/** `arn:<partition>:kms:<region>:<account>:key/<id>`: region and account are groups 1 and 2. */
const KMS_KEY_ARN = /^arn:aws[a-z-]*:kms:([a-z0-9-]+):(\d{12}):key\/[A-Za-z0-9-]+$/;
const REPLICA_KEY_ARN_EXAMPLE =
  'arn:aws:kms:eu-central-1:210987654321:key/1234abcd-12ab-34cd-56ef-1234567890ab';

/** The whole config file; its parts are in the config-*.ts files. */
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
      /**
       * The account of the replica stack, when it is not `account`: replicas then belong to that account,
       * and nobody in the primary account, administrators included, can delete or overwrite them.
       */
      replicaAccount: text('set it to the 12-digit account id of the replica, or leave it out')
        .regex(/^\d{12}$/, 'must be a 12-digit AWS account id; e.g. "210987654321"')
        .optional(),
      /**
       * The replica key's ARN (the replica stack's output `ReplicaKeyArn`), with `replicaAccount`: S3
       * replication names the key by ARN, and no reference crosses accounts. Until it is set, only the
       * replica stack deploys.
       */
      replicaKeyArn: text(
        `set it to the replica stack's output ReplicaKeyArn, e.g. "${REPLICA_KEY_ARN_EXAMPLE}"`,
      )
        .regex(
          KMS_KEY_ARN,
          `is not a KMS key ARN (an alias will not do: S3 would resolve it in the primary account); use the replica stack's output ReplicaKeyArn, e.g. "${REPLICA_KEY_ARN_EXAMPLE}"`,
        )
        .optional(),
      primaryRegion: region('set it to the region of the databases, e.g. "eu-west-1"'),
      replicaRegion: region('set it to a second region for the replica, e.g. "eu-central-1"'),
      backupPrefix: z
        .string({ error: 'must be a string; e.g. "" or "backups/"' })
        .regex(KEY_PREFIX_PATTERN, `${KEY_PREFIX_RULE}; e.g. "backups/"`)
        .default(''),
      network: networkSchema,
      notificationEmails: z
        .array(z.email({ error: 'is not an email address; e.g. "oncall@example.com"' }), {
          error: 'must be a list of email addresses; e.g. ["oncall@example.com"]',
        })
        .default([]),
      chat: chatSchema.optional(),
      objectLockMode: z
        .enum(['GOVERNANCE', 'COMPLIANCE'], {
          error: 'must be "GOVERNANCE" or "COMPLIANCE"; COMPLIANCE locks even against the account root',
        })
        .default('GOVERNANCE'),
      /**
       * The one role that may schedule the deletion of, disable, or change the policy of pgproof's KMS
       * keys (besides CloudFormation deploying the stacks). By default a role nobody has until an
       * administrator deliberately creates it: routine administrator roles cannot crypto-shred backups.
       */
      breakGlassRoleName: z
        .string({ error: 'must be the name of an IAM role of the account; e.g. "pgproof-break-glass"' })
        .regex(/^[\w+=,.@-]{1,64}$/, 'must be an IAM role name (not an ARN); e.g. "pgproof-break-glass"')
        .default(DEFAULT_BREAK_GLASS_ROLE_NAME),
      databases: z
        .array(databaseSchema, { error: 'must be a list of databases to back up' })
        .min(1, 'must list at least one database'),
      drill: deploymentDrillSchema.default({}),
      /** A DR drill of every database in the replica region (config-dr-drill.ts); none when left out. */
      drDrill: drDrillSchema.optional(),
    },
    { error: 'must be a JSON object; start from pgproof.config.example.json' },
  )
  .strict();

/**
 * Rules across fields, checked on the raw JSON so they are reported together with the schema's
 * problems (zod skips an object's refinements while any of its fields is invalid).
 */
function crossFieldProblems(json: unknown): string[] {
  const problems: string[] = [];
  const primaryRegion = fieldOf(json, 'primaryRegion');
  if (typeof primaryRegion === 'string' && primaryRegion === fieldOf(json, 'replicaRegion')) {
    problems.push(
      'replicaRegion: is the primary region too; pick a second region so a regional outage spares the replica',
    );
  }
  problems.push(...replicaAccountProblems(json));
  const databases = fieldOf(json, 'databases');
  if (Array.isArray(databases)) {
    const names = databases.map((db: unknown) => fieldOf(db, 'name'));
    names.forEach((name, index) => {
      if (typeof name !== 'string') return;
      if (names.indexOf(name) !== index)
        problems.push(`databases[${index}].name: "${name}" is used twice; give each database its own name`);
      if (Object.hasOwn(RESERVED_FOLDERS, name)) {
        problems.push(
          `databases[${index}].name: "${name}" is ${RESERVED_FOLDERS[name]}; give the database another name, e.g. "${name}_db"`,
        );
      }
    });
    const account = fieldOf(json, 'account');
    databases.forEach((db: unknown, index) => {
      const image = fieldOf(fieldOf(db, 'drill'), 'postgresImage');
      if (typeof image !== 'string' || typeof account !== 'string' || typeof primaryRegion !== 'string')
        return;
      const problem = scratchImageHomeProblem(image, account, primaryRegion);
      if (problem) problems.push(`databases[${index}].drill.postgresImage: ${problem}`);
    });
    databases.forEach((db: unknown, index) => {
      const checks = fieldOf(fieldOf(db, 'drill'), 'checks');
      if (!Array.isArray(checks)) return;
      const checkNames = checks.map((check: unknown) => fieldOf(check, 'name'));
      for (const [checkIndex, name] of repeats(checkNames, 'string')) {
        problems.push(
          `databases[${index}].drill.checks[${checkIndex}].name: "${name}" is used twice; give each check its own name, as the drill report names failed checks by it`,
        );
      }
    });
  }
  const majors = fieldOf(fieldOf(json, 'drill'), 'postgresMajors');
  if (Array.isArray(majors)) {
    for (const [index, major] of repeats(majors, 'number')) {
      problems.push(`drill.postgresMajors[${index}]: ${major} is listed twice; list each major once`);
    }
  }
  return problems;
}

/** The two-account layout's rules: another account than the primary's, and the key ARN in it. */
function replicaAccountProblems(json: unknown): string[] {
  const account = fieldOf(json, 'account');
  const replicaAccount = fieldOf(json, 'replicaAccount');
  const keyArn = fieldOf(json, 'replicaKeyArn');
  if (typeof replicaAccount === 'string' && replicaAccount === account) {
    return [
      'replicaAccount: is the primary account too; give the replica an account of its own, or leave replicaAccount out to keep the replica in this account',
    ];
  }
  if (typeof keyArn !== 'string') return [];
  if (replicaAccount === undefined) {
    return [
      'replicaKeyArn: is set but replicaAccount is not; set replicaAccount to the account of the replica stack, or remove replicaKeyArn (a replica in this account needs none)',
    ];
  }
  const [, keyRegion, keyAccount] = KMS_KEY_ARN.exec(keyArn) ?? [];
  const replicaRegion = fieldOf(json, 'replicaRegion');
  if (keyRegion === undefined || typeof replicaAccount !== 'string' || typeof replicaRegion !== 'string')
    return [];
  if (keyAccount === replicaAccount && keyRegion === replicaRegion) return [];
  return [
    `replicaKeyArn: is a key of account ${keyAccount} in ${keyRegion}, not of the replica (${replicaAccount} in ${replicaRegion}); use the replica stack's output ReplicaKeyArn`,
  ];
}

/** `[index, value]` of each entry of type `kind` that an earlier entry of `values` already holds. */
function repeats(values: readonly unknown[], kind: 'string' | 'number'): [number, unknown][] {
  return values.flatMap((value, index): [number, unknown][] =>
    typeof value === kind && values.indexOf(value) !== index ? [[index, value]] : [],
  );
}

/** `value[key]` of parsed JSON, undefined unless `value` is an object. */
function fieldOf(value: unknown, key: string): unknown {
  return typeof value === 'object' && value !== null ? (value as Record<string, unknown>)[key] : undefined;
}

/** The validated deployment config, defaults applied. */
export type DeploymentConfig = z.infer<typeof deploymentConfigSchema>;

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

/**
 * Validates one database's settings given in code (the library's `addDatabase`), with the config file's
 * rules, defaults and messages; `source` names the call in the error. Throws {@link DeploymentConfigError}.
 */
export function parseDatabaseSettings(settings: unknown, source: string): DatabaseSettings {
  const parsed = databaseSettingsSchema.safeParse(settings);
  if (parsed.success) return parsed.data;
  throw new DeploymentConfigError(source, parsed.error.issues.flatMap(describe));
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
