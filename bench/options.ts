/**
 * The command line of `npm run bench`. Parsed into one validated object; every problem is reported
 * at once, with the fix.
 */

/**
 * The variants: A, B, C backups, D and E restores of C's backup; F the backup runner's parallel mode, G and
 * H its bare baseline (pg_dump -Fd -j N and -j 1), I the restore of F's backup.
 */
export const VARIANT_IDS = ['A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I'] as const;
export type VariantId = (typeof VARIANT_IDS)[number];

/** The variants a run without `--variants` measures: every one (F to I add about 10 s at scale 5). */
export const DEFAULT_VARIANTS: readonly VariantId[] = VARIANT_IDS;

/** Variants that restore another's backup, and the backup they restore. */
const RESTORES: Readonly<Partial<Record<VariantId, VariantId>>> = { D: 'C', E: 'C', I: 'F' };

/** The pg_dump processes of F and the -j of G when `--streams` is not given. */
export const DEFAULT_STREAMS = 2;
/** The most `--streams` takes: the backup runner's limit (`DUMP_STREAMS`, 1 to 16). */
export const MAX_STREAMS = 16;

/**
 * The data sets: `pgbench` (pgbench's tables plus wide rows; scale 55 is about 1 GB), `eight-tables`
 * (8 equal tables of the same rows, about as large at each scale: what parallel streams can split) and
 * `many-tables` (scale × 1,000 tables of 2 rows each: what costs per table, not per byte).
 */
export const DATA_SET_KINDS = ['pgbench', 'eight-tables', 'many-tables'] as const;
export type DataSetKind = (typeof DATA_SET_KINDS)[number];

/** What one invocation measures. */
export interface BenchOptions {
  /** Which data set (all scales are of this kind). */
  readonly dataSet: DataSetKind;
  /** Scales of the data set, one data set each, in order. */
  readonly scales: readonly number[];
  /** Interleaved rounds per scale (A B C D E, A B C D E, ...). */
  readonly rounds: number;
  readonly variants: readonly VariantId[];
  /** F's `DUMP_STREAMS` and G's `pg_dump -j` (C stays at one stream, H at `-j 1`). */
  readonly streams: number;
  /** Keep the cluster in `.bench-data/` and reuse data sets already built there. */
  readonly reuse: boolean;
  /** Also run the runners (C, D, F, I) once more per scale under `node --cpu-prof`, and summarise the profiles. */
  readonly profile: boolean;
  /** Where results.json and RESULTS.md are written. */
  readonly outDir: string;
  /** `s3rver` (the harness's S3 server), or `sink`: a stand-in that discards the dump (C only). */
  readonly s3: 's3rver' | 'sink';
  /**
   * Extra environment for the runners (C, D, F, I), e.g. VERIFY=none to see what the row counts cost.
   * Never `DUMP_STREAMS`: C's is 1 and F's `--streams`.
   */
  readonly runnerEnv: Readonly<Record<string, string>>;
  /**
   * Folder of pg_dump and pg_restore for every variant (the runners' PG_BIN_DIR). Default: the production
   * client when scripts/postgres-client.sh has built it, else Debian's.
   */
  readonly clientBinDir: string | undefined;
  /**
   * The large-size regime on a small database: the backup runner cuts its dump into segments of one
   * 1 MiB part each ({@link FORCED_SEGMENTS_ENV}), so a 60 MB dump is as many objects as a 5 TiB one
   * (66), and the runners' memory is measured across segment after segment. `--runner-env` may set
   * other sizes.
   */
  readonly forceSegments: boolean;
}

/** The runner environment of `--force-segments` (engines/backup/settings.ts, test and benchmark knobs). */
export const FORCED_SEGMENTS_ENV: Readonly<Record<string, string>> = {
  UPLOAD_PART_MIB: '1',
  UPLOAD_SEGMENT_PARTS: '1',
};

/** The default scale: pgbench scale 55 plus the wide table is about 1 GB on disk. */
export const DEFAULT_SCALE = 55;

export const USAGE = `usage: npm run bench -- [--data-set pgbench|eight-tables|many-tables] [--scale N | --scales N,M,...]
                       [--rounds N] [--variants A,B,C,...] [--streams N]
                       [--reuse] [--profile] [--out DIR] [--runner-env K=V,...] [--s3 s3rver|sink]
                       [--client-bin-dir DIR] [--force-segments]
  --data-set K    pgbench (default): pgbench's tables plus wide rows; eight-tables: 8 equal tables of
                  the same size at each scale; many-tables: scale × 1,000 tables of 2 rows each
  --scale N       scale of the data set (default ${DEFAULT_SCALE}: about 1 GB; many-tables: N × 1,000 tables)
  --scales N,M    several data sets in one run, to show how time and memory grow
  --rounds N      interleaved rounds per scale (default 3, at least 1)
  --variants      which variants to run (default all: ${DEFAULT_VARIANTS.join(' ')}):
                  A B   pg_dump -Fc to a file, gzip 6 and pgproof's compression
                  C     the backup runner in one stream (DUMP_STREAMS=1)
                  D E   the restore runner and bare pg_restore -j, of C's backup
                  F     the backup runner in parallel mode (DUMP_STREAMS=--streams)
                  G H   pg_dump -Fd -j N and -j 1 to a folder, pgproof's compression
                  I     the restore runner, of F's backup
  --streams N     F's DUMP_STREAMS and G's pg_dump -j (default ${DEFAULT_STREAMS}, 2 to ${MAX_STREAMS})
  --reuse         keep the cluster in .bench-data/ and reuse data sets built by an earlier run
  --profile       run the runners (C, D, F, I) once more under node --cpu-prof and report where their CPU goes
  --out DIR       where results.json and RESULTS.md go (default bench/)
  --s3 sink       back C and F up into a stand-in that discards the dump instead of s3rver (no D, E, I)
  --runner-env    extra environment for the runners, e.g. VERIFY=none,DUMP_GLOBALS=false (to see what each
                  costs); not DUMP_STREAMS (use --streams)
  --client-bin-dir DIR  pg_dump and pg_restore of every variant (default: the production client when
                  scripts/postgres-client.sh has built it, else Debian's)
  --force-segments  the large-size regime on a small database: C and F store their dumps as 1 MiB segment
                  objects (UPLOAD_PART_MIB=1, UPLOAD_SEGMENT_PARTS=1) and D and I download them all, so the
                  runners' memory is measured across as many segments as a 5 TB dump has`;

/** The arguments are invalid. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

function positiveIntegers(flag: string, text: string | undefined, problems: string[]): number[] {
  const parts = (text ?? '').split(',').map((s) => s.trim());
  if (parts.some((p) => !/^[1-9]\d*$/.test(p))) {
    problems.push(`${flag} takes whole numbers of at least 1 (e.g. ${flag} 5), got "${text ?? ''}"`);
    return [];
  }
  return parts.map(Number);
}

/** A problem for each backup that variants restore but that is not among them. */
function missingBackups(wanted: readonly VariantId[]): string[] {
  const problems: string[] = [];
  for (const backup of new Set(wanted.map((v) => RESTORES[v]))) {
    if (!backup || wanted.includes(backup)) continue;
    const restorers = wanted.filter((v) => RESTORES[v] === backup);
    problems.push(
      `--variants ${restorers.join(' and ')} restore${restorers.length > 1 ? '' : 's'} the backup ${backup} takes: include ${backup}`,
    );
  }
  return problems;
}

/** Parses `process.argv.slice(2)`; throws a {@link UsageError} naming every problem. */
export function parseOptions(argv: readonly string[]): BenchOptions {
  const problems: string[] = [];
  let scales: number[] = [DEFAULT_SCALE];
  let dataSet: DataSetKind = 'pgbench';
  let rounds = 3;
  let variants: VariantId[] = [...DEFAULT_VARIANTS];
  let streams = DEFAULT_STREAMS;
  let reuse = false;
  let profile = false;
  let outDir = 'bench';
  const runnerEnv: Record<string, string> = {};
  let s3: BenchOptions['s3'] = 's3rver';
  let clientBinDir: string | undefined;
  let forceSegments = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    const [flag, inline] = arg.includes('=')
      ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)]
      : [arg, undefined];
    const value = () => inline ?? argv[++i];
    switch (flag) {
      case '--scale': {
        const parsed = positiveIntegers('--scale', value(), problems);
        if (parsed.length > 1) problems.push('--scale takes one number; use --scales N,M for several');
        scales = parsed;
        break;
      }
      case '--data-set': {
        const wanted = value();
        if ((DATA_SET_KINDS as readonly (string | undefined)[]).includes(wanted))
          dataSet = wanted as DataSetKind;
        else problems.push(`--data-set takes ${DATA_SET_KINDS.join(', ')}, got "${wanted ?? ''}"`);
        break;
      }
      case '--scales':
        scales = positiveIntegers('--scales', value(), problems);
        break;
      case '--rounds':
        rounds = positiveIntegers('--rounds', value(), problems)[0] ?? rounds;
        break;
      case '--variants': {
        const wanted = (value() ?? '')
          .toUpperCase()
          .split(',')
          .map((s) => s.trim());
        const unknown = wanted.filter((v) => !(VARIANT_IDS as readonly string[]).includes(v));
        if (unknown.length)
          problems.push(`--variants takes letters of ${VARIANT_IDS.join(',')}, got "${unknown.join(',')}"`);
        else {
          problems.push(...missingBackups(wanted as VariantId[]));
          variants = VARIANT_IDS.filter((v) => wanted.includes(v));
        }
        break;
      }
      case '--streams': {
        const [parsed] = positiveIntegers('--streams', value(), problems);
        if (parsed !== undefined && (parsed < 2 || parsed > MAX_STREAMS))
          problems.push(
            `--streams takes 2 to ${MAX_STREAMS} (F's pg_dump processes; C is the one-stream run), got ${parsed}`,
          );
        else streams = parsed ?? streams;
        break;
      }
      case '--reuse':
        reuse = true;
        break;
      case '--profile':
        profile = true;
        break;
      case '--out': {
        const dir = value();
        if (!dir) problems.push('--out takes a folder');
        else outDir = dir;
        break;
      }
      case '--runner-env':
        for (const pair of (value() ?? '').split(',')) {
          const match = /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(pair.trim());
          if (match?.[1] === 'DUMP_STREAMS')
            problems.push('--runner-env sets no DUMP_STREAMS: C runs one stream, F --streams N');
          else if (match?.[1]) runnerEnv[match[1]] = match[2] ?? '';
          else problems.push(`--runner-env takes NAME=value pairs separated by commas, got "${pair}"`);
        }
        break;
      case '--s3': {
        const wanted = value();
        if (wanted === 's3rver' || wanted === 'sink') s3 = wanted;
        else problems.push(`--s3 takes s3rver or sink, got "${wanted ?? ''}"`);
        break;
      }
      case '--client-bin-dir': {
        const dir = value();
        if (!dir) problems.push('--client-bin-dir takes the folder of pg_dump and pg_restore');
        else clientBinDir = dir;
        break;
      }
      case '--force-segments':
        forceSegments = true;
        break;
      case '--help':
      case '-h':
        throw new UsageError(USAGE);
      default:
        problems.push(`unknown argument "${arg}"`);
    }
  }
  if (s3 === 'sink' && variants.some((v) => v in RESTORES))
    problems.push('--s3 sink keeps no dump to restore: add --variants A,B,C or A,B,C,F,G,H');
  if (problems.length) throw new UsageError(`${problems.join('; ')}\n${USAGE}`);
  return {
    dataSet,
    scales,
    rounds,
    variants,
    streams,
    reuse,
    profile,
    outDir,
    // --runner-env wins over --force-segments' sizes.
    runnerEnv: forceSegments ? { ...FORCED_SEGMENTS_ENV, ...runnerEnv } : runnerEnv,
    s3,
    clientBinDir,
    forceSegments,
  };
}
