import { availableParallelism, tmpdir } from 'node:os';
import { z } from 'zod';
import { type SqlCheck, sqlCheckSchema } from '../../core/drill.ts';
import {
  DRILL_KINDS,
  type DrillKind,
  type DrillSelection,
  drillSelectionSchema,
  type RetrievalReport,
  retrievalReportSchema,
} from '../../core/drill-report.ts';
import {
  backupLocationVariables,
  flagVariable,
  jsonVariable,
  nameListVariable,
  parseEnvironment,
} from '../../core/environment.ts';
import { ConfigError } from '../../core/errors.ts';
import type { BackupSelector } from '../../core/find-backup.ts';
import { BACKUP_ID_PATTERN } from '../../core/layout.ts';
import { parseTableSelection } from './selection.ts';

export type { SqlCheck };

/**
 * The restore engine's settings. Two ways build them: {@link readRestoreSettings} from the runner's
 * environment (DESIGN.md "Restore runner"), read once at start and validated as a whole so every problem
 * is reported at once; and {@link restoreSettings} from a typed {@link RestoreRequest} (the CLI). Defaults
 * are applied once, in {@link restoreSettings}.
 */

/** `drill`: restore into a scratch server; `restore`: into a real target. */
export type RestoreMode = 'drill' | 'restore';

const flag = flagVariable;

const wholeNumber = (name: string, min: number) =>
  z
    .string()
    .regex(/^\d+$/, `${name} must be a whole number`)
    .transform(Number)
    .refine((n) => n >= min, `${name} must be at least ${min}`)
    .optional();

/** The database's SQL checks: `[{ "name": "...", "sql": "..." }]`, each name once. */
const checksSchema = jsonVariable(
  z.array(sqlCheckSchema).superRefine((checks, ctx) => {
    const names = checks.map((c) => c.name);
    const repeated = names.find((n, i) => names.indexOf(n) !== i);
    if (repeated) {
      ctx.addIssue({
        code: 'custom',
        message: `CHECKS_JSON names "${repeated}" twice; give each check its own name`,
      });
    }
  }),
  {
    notJson: 'CHECKS_JSON is not valid JSON',
    invalid: (error) => {
      const issue = error.issues[0];
      return issue?.code === 'custom'
        ? issue.message
        : `CHECKS_JSON must be a list of { "name": "...", "sql": "..." } (${issue?.message})`;
    },
  },
)
  .optional()
  .transform((checks): SqlCheck[] => checks ?? []);

const environmentSchema = z
  .object({
    PGHOST: z.string().optional(),
    PGPORT: z.string().regex(/^\d+$/, 'PGPORT must be a port number').optional(),
    PGUSER: z.string().optional(),
    PGDATABASE: z.string().optional(),
    ...backupLocationVariables,
    MANIFEST_KEY: z
      .string()
      .regex(/\/manifest\.json$/, 'MANIFEST_KEY must be the key of a manifest.json')
      .optional(),
    BACKUP_ID: z.string().regex(BACKUP_ID_PATTERN, 'BACKUP_ID must look like 20261121T020000Z').optional(),
    RESTORE_MODE: z
      .enum(['drill', 'restore'], { error: 'RESTORE_MODE must be drill or restore' })
      .default('drill'),
    DRILL_KIND: z.enum(DRILL_KINDS, { error: 'DRILL_KIND must be primary or dr' }).default('primary'),
    DRILL_REGION: z.string().min(1, 'DRILL_REGION must name a region, e.g. eu-central-1').optional(),
    // How the drill's backup was picked and retrieved (ResolveBackup, RetrieveBackup): for the report.
    DRILL_SELECTION: jsonVariable(drillSelectionSchema, {
      notJson: 'DRILL_SELECTION is not valid JSON',
    }).optional(),
    DRILL_RETRIEVAL: jsonVariable(retrievalReportSchema, {
      notJson: 'DRILL_RETRIEVAL is not valid JSON',
    }).optional(),
    RESTORE_CLEAN: flag('RESTORE_CLEAN', false),
    // Unset: the mode decides (restoreSettings).
    RESTORE_GLOBALS: flag('RESTORE_GLOBALS', false).optional(),
    RESTORE_JOBS: wholeNumber('RESTORE_JOBS', 1),
    RESTORE_TABLES: nameListVariable('RESTORE_TABLES'),
    RESTORE_SCHEMAS: nameListVariable('RESTORE_SCHEMAS'),
    CHECKS_JSON: checksSchema,
    REPORT_KEY: z.string().min(1).optional(),
    RTO_SECONDS: wholeNumber('RTO_SECONDS', 1),
    TARGET_WAIT_SECONDS: wholeNumber('TARGET_WAIT_SECONDS', 0),
    DOWNLOAD_CONCURRENCY: wholeNumber('DOWNLOAD_CONCURRENCY', 1),
    DOWNLOAD_PART_MIB: wholeNumber('DOWNLOAD_PART_MIB', 5),
    WORK_DIR: z.string().optional(),
    PG_BIN_DIR: z.string().optional(),
    AWS_ENDPOINT_URL_S3: z.url('AWS_ENDPOINT_URL_S3 must be a URL').optional(),
    S3_FORCE_PATH_STYLE: flag('S3_FORCE_PATH_STYLE', false),
  })
  .superRefine((e, ctx) => {
    if (!e.MANIFEST_KEY && !e.BACKUP_NAME) {
      ctx.addIssue({
        code: 'custom',
        path: ['MANIFEST_KEY'],
        message: 'set MANIFEST_KEY, or BACKUP_NAME (and optionally BACKUP_ID) to take the latest backup',
      });
    }
    if (e.BACKUP_ID && !e.BACKUP_NAME && !e.MANIFEST_KEY) {
      ctx.addIssue({ code: 'custom', path: ['BACKUP_ID'], message: 'BACKUP_ID needs BACKUP_NAME' });
    }
    if (e.DRILL_KIND === 'dr' && e.RESTORE_MODE !== 'drill') {
      ctx.addIssue({
        code: 'custom',
        path: ['DRILL_KIND'],
        message: 'DRILL_KIND=dr needs RESTORE_MODE=drill: a DR drill restores into a scratch server',
      });
    }
    if (e.RESTORE_MODE === 'restore' && !e.PGDATABASE) {
      ctx.addIssue({
        code: 'custom',
        path: ['PGDATABASE'],
        message: 'PGDATABASE is required in restore mode: name the target database',
      });
    }
  });

/** Validated settings of one restore. */
export interface RestoreSettings {
  readonly mode: RestoreMode;
  /**
   * `dr`: a DR drill of the replica bucket, whose report measures the replication (`dr`);
   * `primary`: any other restore.
   */
  readonly kind: DrillKind;
  /** The region a DR drill reports; undefined: the S3 client's. */
  readonly region: string | undefined;
  /** How a drill's backup was picked (latest, explicit, sampled), for its report. */
  readonly selection?: DrillSelection | undefined;
  /** An archived backup's retrieval before the drill, for its report. */
  readonly retrieval?: RetrievalReport | undefined;
  readonly bucket: string;
  readonly prefix: string;
  readonly backup: BackupSelector;
  /** The target server (libpq reads the password from the environment itself). */
  readonly host: string;
  readonly port: number;
  readonly user: string;
  /** The target database; in drill mode, default: the manifest's database name. */
  readonly database: string | undefined;
  /** pg_restore `--clean --if-exists` into a target that already holds objects (restore mode). */
  readonly clean: boolean;
  /** Restore roles from globals.sql first (when the backup has one). */
  readonly restoreGlobals: boolean;
  readonly jobs: number;
  /**
   * Restore only these tables: `schema.table` (split at the first dot) or `table`; a part in double
   * quotes is taken as it is, `""` for a quote (`"my.schema".orders`; selection.ts).
   */
  readonly tables: readonly string[];
  readonly schemas: readonly string[];
  readonly checks: readonly SqlCheck[];
  /** Default: `<prefix>drills/<name>/<backupId>/<UTC time>.json`. */
  readonly reportKey: string | undefined;
  /** The database's recovery time objective, when known: the report says whether it was met. */
  readonly rtoSeconds: number | undefined;
  /** How long to wait for the target server to accept connections (a drill's sidecar may still start). */
  readonly targetWaitSeconds: number;
  readonly downloadConcurrency: number;
  readonly downloadPartBytes: number;
  /** Where the dump is downloaded to (the task's ephemeral storage). */
  readonly workDir: string;
  readonly pgBinDir: string | undefined;
  readonly forcePathStyle: boolean;
  /** How the person says things: in the runner's words or the CLI's. */
  readonly wording: RestoreWording;
  readonly startedAt: Date;
}

/**
 * What one restore is asked to do, typed: only the selection of the backup and the bucket are required;
 * every other field has the default {@link restoreSettings} gives it.
 */
export interface RestoreRequest {
  readonly mode: RestoreMode;
  /** @default 'primary' */
  readonly kind?: DrillKind;
  /** @default - the S3 client's region */
  readonly region?: string;
  readonly selection?: DrillSelection;
  readonly retrieval?: RetrievalReport;
  readonly bucket: string;
  /** @default '' */
  readonly prefix?: string;
  readonly backup: BackupSelector;
  /** @default 'localhost' */
  readonly host?: string;
  /** @default 5432 */
  readonly port?: number;
  /** @default 'postgres' */
  readonly user?: string;
  /** @default - the manifest's database name (drill mode) */
  readonly database?: string;
  /** @default false */
  readonly clean?: boolean;
  /**
   * Create the backup's roles that the target lacks (a role the target has is never changed).
   * @default - true in drill mode (the scratch server needs the owners), false in restore mode (opt-in)
   */
  readonly restoreGlobals?: boolean;
  /** @default - the number of CPUs */
  readonly jobs?: number;
  /** @default - every table */
  readonly tables?: readonly string[];
  /** @default - every schema */
  readonly schemas?: readonly string[];
  /** @default - none */
  readonly checks?: readonly SqlCheck[];
  /** @default - `<prefix>drills/<name>/<backupId>/<UTC time>.json` */
  readonly reportKey?: string;
  /** @default - no RTO judged */
  readonly rtoSeconds?: number;
  /** @default - 120 s in drill mode (the sidecar may still start), 0 in restore mode */
  readonly targetWaitSeconds?: number;
  /** @default 8 */
  readonly downloadConcurrency?: number;
  /** @default 16 */
  readonly downloadPartMib?: number;
  /** @default - the system's temporary folder */
  readonly workDir?: string;
  /** @default - the programs on PATH */
  readonly pgBinDir?: string;
  /** @default false */
  readonly forcePathStyle?: boolean;
  /** How the person says things, for the fixes messages give. @default - the runner's variables */
  readonly wording?: Partial<RestoreWording>;
}

/** How the person asking for a restore says things: the runner's variables, or the CLI's flags. */
export interface RestoreWording {
  /** How to ask for a clean restore, e.g. "pass --clean". */
  readonly clean: string;
  /** How to ask for the backup's roles, e.g. "pass --globals". */
  readonly globals: string;
  /** How the target was named, e.g. `--to`; undefined: libpq's variables. */
  readonly target: string | undefined;
  /** How to give the download more room, e.g. "set TMPDIR to a folder with room". */
  readonly workDir: string;
  /** How tables and schemas were selected, e.g. `--table` and `--schema`. */
  readonly tables: string;
  readonly schemas: string;
}

/** The runner's wording: its environment variables. */
const RUNNER_WORDING: RestoreWording = {
  clean: 'set RESTORE_CLEAN=true',
  globals: 'set RESTORE_GLOBALS=true',
  target: undefined,
  workDir: 'set WORK_DIR to a folder with room (in a drill, give the drill task more ephemeral storage)',
  tables: 'RESTORE_TABLES',
  schemas: 'RESTORE_SCHEMAS',
};

/** The settings of one restore from a typed request, with every default applied. */
export function restoreSettings(request: RestoreRequest, now: Date): RestoreSettings {
  const wording = { ...RUNNER_WORDING, ...request.wording };
  // A name that cannot be read is refused now, not after the download.
  for (const table of request.tables ?? []) {
    try {
      parseTableSelection(table);
    } catch (error) {
      throw new ConfigError(`${wording.tables}: ${(error as Error).message}`);
    }
  }
  return {
    mode: request.mode,
    kind: request.kind ?? 'primary',
    region: request.region,
    selection: request.selection,
    retrieval: request.retrieval,
    bucket: request.bucket,
    prefix: request.prefix ?? '',
    backup: request.backup,
    host: request.host ?? 'localhost',
    port: request.port ?? 5432,
    user: request.user ?? 'postgres',
    database: request.database,
    clean: request.clean ?? false,
    restoreGlobals: request.restoreGlobals ?? request.mode === 'drill',
    jobs: request.jobs ?? availableParallelism(),
    tables: request.tables ?? [],
    schemas: request.schemas ?? [],
    checks: request.checks ?? [],
    reportKey: request.reportKey,
    rtoSeconds: request.rtoSeconds,
    targetWaitSeconds: request.targetWaitSeconds ?? (request.mode === 'drill' ? 120 : 0),
    downloadConcurrency: request.downloadConcurrency ?? 8,
    downloadPartBytes: (request.downloadPartMib ?? 16) * 1024 * 1024,
    workDir: request.workDir ?? tmpdir(),
    pgBinDir: request.pgBinDir,
    forcePathStyle: request.forcePathStyle ?? false,
    wording,
    startedAt: now,
  };
}

/**
 * Reads the settings from an environment. Throws a {@link ConfigError} listing every problem.
 * `now` is the run's start time (the default report key).
 */
export function readRestoreSettings(env: NodeJS.ProcessEnv, now: Date): RestoreSettings {
  const e = parseEnvironment(environmentSchema, env);
  return restoreSettings(
    {
      mode: e.RESTORE_MODE,
      kind: e.DRILL_KIND,
      region: e.DRILL_REGION,
      ...(e.DRILL_SELECTION ? { selection: e.DRILL_SELECTION } : {}),
      ...(e.DRILL_RETRIEVAL ? { retrieval: e.DRILL_RETRIEVAL } : {}),
      bucket: e.BACKUP_BUCKET,
      prefix: e.BACKUP_PREFIX,
      backup: e.MANIFEST_KEY
        ? { manifestKey: e.MANIFEST_KEY }
        : { name: e.BACKUP_NAME ?? '', backupId: e.BACKUP_ID },
      host: e.PGHOST,
      port: e.PGPORT === undefined ? undefined : Number(e.PGPORT),
      user: e.PGUSER,
      database: e.PGDATABASE,
      clean: e.RESTORE_CLEAN,
      restoreGlobals: e.RESTORE_GLOBALS,
      jobs: e.RESTORE_JOBS,
      tables: e.RESTORE_TABLES,
      schemas: e.RESTORE_SCHEMAS,
      checks: e.CHECKS_JSON,
      reportKey: e.REPORT_KEY,
      rtoSeconds: e.RTO_SECONDS,
      targetWaitSeconds: e.TARGET_WAIT_SECONDS,
      downloadConcurrency: e.DOWNLOAD_CONCURRENCY,
      downloadPartMib: e.DOWNLOAD_PART_MIB,
      workDir: e.WORK_DIR,
      pgBinDir: e.PG_BIN_DIR,
      forcePathStyle: e.S3_FORCE_PATH_STYLE,
    },
    now,
  );
}
