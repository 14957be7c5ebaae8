import { writeFile } from 'node:fs/promises';
import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { mapLimited } from '../../core/concurrency.ts';
import { parseRestoreReport } from '../../core/drill-report.ts';
import { ConfigError, describeS3Error, oneLine, PgproofError } from '../../core/errors.ts';
import { DATABASE_NAME_RULE, drillReportsPrefix, isDatabaseName, parseBackupId } from '../../core/layout.ts';
import {
  buildLedger,
  drillKind,
  drMarker,
  failureReason,
  formatSeconds,
  LEDGER_PHASES,
  type Ledger,
  type LedgerMonth,
  type LedgerProblem,
  type LedgerSource,
  ledgerKeys,
  parseLedgerMonth,
  renderLedgerCsv,
  renderLedgerHtml,
  rtoMissed,
  serializeLedger,
} from '../../core/ledger.ts';
import { listKeys } from '../../core/s3-client.ts';
import type { Deployment } from '../deployment.ts';
import { formatTable, type Output } from '../output.ts';
import { defineCommand } from './command.ts';
import { EXIT, type ExitCode } from './exit-codes.ts';

/**
 * `pgproof report --month YYYY-MM`: the evidence ledger of a month (core/ledger.ts). It lists the
 * reports under `<prefix>drills/` (`<prefix>drills/<name>/` for one database), reads those whose key
 * time is near the month (a report's key carries the time its drill was planned, at or before its
 * start), keeps those that started in the month, and prints, writes or stores the ledger.
 */

/** How the ledger is printed or written. */
export const LEDGER_FORMATS = ['text', 'csv', 'json', 'html'] as const;
export type LedgerFormat = (typeof LEDGER_FORMATS)[number];

/**
 * How far before the month a report's key time may be for its drill to start in the month: the drill
 * is planned (and its key named) before its task starts, and a backup in Deep Archive is first
 * retrieved, up to 48 hours. After the month: a day, for clocks that disagree.
 */
const KEY_TIME_BEFORE_MS = 7 * 24 * 3_600_000;
const KEY_TIME_AFTER_MS = 24 * 3_600_000;
/** Reports read at once. */
const READ_CONCURRENCY = 8;

/** No report of the month: nothing to make a ledger of. */
export class NoDrillReportsError extends PgproofError {
  constructor(message: string) {
    super(message);
    this.name = 'NoDrillReportsError';
  }
}

/** The time in a report key `…/<backupId>/<UTC time>.json`; undefined for a key of another shape. */
function keyTime(key: string): number | undefined {
  const m = /\/\d{8}T\d{6}Z\/(\d{8}T\d{6}Z)\.json$/.exec(key);
  return m?.[1] === undefined ? undefined : parseBackupId(m[1])?.getTime();
}

/**
 * The reports that may belong to the month, read and parsed. A report that cannot be read is a
 * problem of the ledger (when its key says it is of the month), never a reason to stop.
 */
export async function readMonthReports(
  s3: S3Client,
  deployment: Pick<Deployment, 'bucket' | 'prefix'>,
  month: LedgerMonth,
  database: string | undefined,
): Promise<{ sources: LedgerSource[]; problems: LedgerProblem[] }> {
  // Keys sort by backup id within a database, and any backup may be drilled in any month (old tiers
  // are sampled), so the listing cannot skip by time: one database's folder, or all of drills/ in one
  // listing (as few requests as a listing per database, which S3's delimiter would first have to find).
  const folder = `${drillReportsPrefix(deployment.prefix)}${database === undefined ? '' : `${database}/`}`;
  const keys = await listKeys(s3, deployment.bucket, folder);
  const from = month.from.getTime();
  const to = month.to.getTime();
  // A key of another shape (a REPORT_KEY given by hand) says nothing of its time: read it.
  const candidates = keys.filter((key) => {
    const at = keyTime(key);
    return at === undefined || (at >= from - KEY_TIME_BEFORE_MS && at < to + KEY_TIME_AFTER_MS);
  });
  const read = await mapLimited(candidates, READ_CONCURRENCY, async (key) => {
    let text: string;
    try {
      const response = await s3.send(new GetObjectCommand({ Bucket: deployment.bucket, Key: key }));
      text = (await response.Body?.transformToString()) ?? '';
    } catch (error) {
      throw describeS3Error(error, 'GetObject', deployment.bucket, key);
    }
    try {
      return { source: { key, report: parseRestoreReport(text, key), dr: drMarker(JSON.parse(text)) } };
    } catch (error) {
      const at = keyTime(key);
      const ofMonth = at === undefined || (at >= from && at < to);
      return ofMonth ? { problem: { key, problem: oneLine(error) } } : {};
    }
  });
  return {
    sources: read.flatMap((r) => (r.source ? [r.source] : [])),
    problems: read.flatMap((r) => (r.problem ? [r.problem] : [])),
  };
}

const day = (iso: string) => iso.slice(0, 16).replace('T', ' ');

/** The ledger as a person reads it in a terminal: the summary, then each database's drills. */
export function formatLedgerText(ledger: Ledger): string[] {
  const passed = ledger.drills.filter((d) => d.passed).length;
  const lines = [
    `Evidence ledger ${ledger.month}${ledger.database === null ? '' : ` of ${ledger.database}`}: drills started ${day(ledger.from)} to ${day(ledger.to)} UTC, from s3://${ledger.source.bucket}/${drillReportsPrefix(ledger.source.prefix)}`,
    `${ledger.drills.length} drills of ${ledger.databases.length} databases: ${passed} passed, ${ledger.drills.length - passed} failed`,
    '',
    ...formatTable(
      ['DATABASE', 'DRILLS', 'PASSED', 'FAILED', 'DR', 'RTO MISSED', 'LAST PASSED', 'LONGEST RTO'],
      ledger.databases.map((s) => [
        s.database,
        String(s.drills),
        String(s.passed),
        String(s.failed),
        String(s.drDrills),
        String(s.rtoMissed),
        s.lastPassed ? `${day(s.lastPassed.startedAt)} (${s.lastPassed.backupId})` : 'NONE',
        s.longestRto ? `${formatSeconds(s.longestRto.seconds)} s (${s.longestRto.backupId})` : '-',
      ]),
    ),
  ];
  // Only the phases some drill of the ledger has: older reports have download, restore, verify, total.
  const phases = LEDGER_PHASES.filter(({ key }) => ledger.drills.some((d) => d.phases[key] !== null));
  for (const summary of ledger.databases) {
    const drills = ledger.drills.filter((d) => d.database === summary.database);
    lines.push('', `${summary.database} (seconds)`);
    const rows = drills.map((d) => [
      day(d.startedAt),
      d.backupId,
      d.tier,
      `${d.backupAgeHours.toFixed(1)}h`,
      drillKind(d),
      `${d.checks.passed}/${d.checks.total}`,
      // A drill that could not run has no recovery time to speak of.
      d.error === null
        ? `${formatSeconds(d.rto.seconds)}${d.rto.targetSeconds === null ? '' : `/${d.rto.targetSeconds}${rtoMissed(d) ? ' MISSED' : ''}`}`
        : '-',
      ...phases.map(({ key }) => {
        const value = d.phases[key];
        return value === null ? '-' : formatSeconds(value);
      }),
      d.passed ? 'passed' : `FAILED: ${failureReason(d)}`,
    ]);
    const header = [
      'STARTED (UTC)',
      'BACKUP',
      'TIER',
      'AGE',
      'KIND',
      'CHECKS',
      'RTO',
      ...phases.map(({ label }) => label.toUpperCase()),
      'RESULT',
    ];
    for (const line of formatTable(header, rows)) lines.push(`  ${line}`);
  }
  if (ledger.problems.length) {
    lines.push('', 'reports that could not be read:');
    for (const p of ledger.problems) lines.push(`  ${p.key}: ${p.problem}`);
  }
  return lines;
}

/** The ledger in one format, as the text a file or stdout gets. */
export function renderLedger(ledger: Ledger, format: LedgerFormat): string {
  switch (format) {
    case 'text':
      return `${formatLedgerText(ledger).join('\n')}\n`;
    case 'csv':
      return renderLedgerCsv(ledger);
    case 'json':
      return serializeLedger(ledger);
    case 'html':
      return renderLedgerHtml(ledger);
  }
}

/** The stored objects' content types: the HTML opens as a page from the S3 console. */
const STORED = [
  { format: 'csv', contentType: 'text/csv; charset=utf-8' },
  { format: 'json', contentType: 'application/json' },
  { format: 'html', contentType: 'text/html; charset=utf-8' },
] as const;

/** Writes `ledger.{csv,json,html}` under `<prefix>ledger/<YYYY-MM>/`; returns their keys. */
export async function storeLedger(
  s3: S3Client,
  deployment: Pick<Deployment, 'bucket' | 'prefix'>,
  ledger: Ledger,
): Promise<string[]> {
  const keys = ledgerKeys(deployment.prefix, ledger.month);
  return Promise.all(
    STORED.map(async ({ format, contentType }) => {
      const key = keys[format];
      try {
        await s3.send(
          new PutObjectCommand({
            Bucket: deployment.bucket,
            Key: key,
            Body: renderLedger(ledger, format),
            ContentType: contentType,
          }),
        );
      } catch (error) {
        throw describeS3Error(error, 'PutObject', deployment.bucket, key);
      }
      return key;
    }),
  );
}

/** What `pgproof report` was asked for, checked. */
export interface ReportOptions {
  readonly month: LedgerMonth;
  readonly database: string | undefined;
  readonly format: LedgerFormat;
  readonly out: string | undefined;
  readonly store: boolean;
  readonly now?: () => Date;
}

/** Makes the month's ledger and prints, writes or stores it. */
export async function reportCommand(
  options: ReportOptions,
  deployment: Deployment,
  s3: S3Client,
  output: Output,
): Promise<ExitCode> {
  const { sources, problems } = await readMonthReports(s3, deployment, options.month, options.database);
  const ledger = buildLedger({
    month: options.month,
    sources,
    problems,
    generatedAt: (options.now ?? (() => new Date()))(),
    bucket: deployment.bucket,
    prefix: deployment.prefix,
    database: options.database,
  });
  if (ledger.drills.length === 0 && ledger.problems.length === 0) {
    const where = `s3://${deployment.bucket}/${drillReportsPrefix(deployment.prefix)}${options.database === undefined ? '' : `${options.database}/`}`;
    throw new NoDrillReportsError(
      `no drill started in ${options.month.month} (UTC) has a report under ${where}: check --month${options.database === undefined ? '' : ', --database'} and --bucket/--prefix, or run a drill with \`pgproof drill <database>\``,
    );
  }
  const text = renderLedger(ledger, options.format);
  if (options.out === undefined) output.out(text.replace(/\r?\n$/, ''));
  else {
    try {
      await writeFile(options.out, text);
    } catch (error) {
      throw new ConfigError(`cannot write --out ${options.out}: ${oneLine(error)}; check the path`, {
        cause: error,
      });
    }
    output.err(`wrote the ${ledger.month} ledger (${ledger.drills.length} drills) to ${options.out}`);
  }
  if (options.store) {
    for (const key of await storeLedger(s3, deployment, ledger))
      output.err(`stored s3://${deployment.bucket}/${key}`);
  }
  for (const p of ledger.problems) output.err(`pgproof: drill report ${p.key} left out: ${p.problem}`);
  return EXIT.ok;
}

/** `--format`, else the extension of `--out`, else `--json`, else text. */
function ledgerFormat(format: string | undefined, out: string | undefined, json: boolean): LedgerFormat {
  if (format !== undefined) {
    if (!(LEDGER_FORMATS as readonly string[]).includes(format))
      throw new ConfigError(`--format must be one of ${LEDGER_FORMATS.join(', ')}, got "${format}"`);
    if (json && format !== 'json')
      throw new ConfigError(`--json and --format ${format} disagree: pass one of them`);
    return format as LedgerFormat;
  }
  const extension = out?.match(/\.(csv|json|html)$/i)?.[1]?.toLowerCase();
  if (extension) return extension as LedgerFormat;
  return json ? 'json' : 'text';
}

/** `pgproof report --month YYYY-MM [--database NAME] [--format F] [--out FILE] [--store]`. */
export const report = defineCommand({
  name: 'report',
  synopsis: [
    'pgproof report --month YYYY-MM [--database NAME]',
    '  [--format text|csv|json|html] [--out FILE] [--store]',
  ],
  summary: "a month's evidence ledger of every drill",
  takesDatabase: false,
  options: {
    month: { type: 'string' },
    database: { type: 'string' },
    format: { type: 'string' },
    out: { type: 'string' },
    store: { type: 'boolean', default: false },
  },
  optionHelp: {
    month: ['--month YYYY-MM', 'the drills that started in this month (UTC)'],
    database: ['--database NAME', "only this database's drills"],
    format: ['--format F', 'text (default), csv, json or html; --out FILE.csv/.json/.html picks it too'],
    out: ['--out FILE', 'write the ledger to FILE instead of stdout'],
    store: ['--store', 'also store ledger.csv, .json and .html under <prefix>ledger/YYYY-MM/ in the bucket'],
  },
  async run({ values, output, clients, deployment }) {
    if (values.month === undefined)
      throw new ConfigError('`pgproof report` needs --month YYYY-MM, e.g. --month 2026-11');
    const month = parseLedgerMonth(values.month);
    if (!month)
      throw new ConfigError(`--month must be a month like 2026-11 (YYYY-MM, UTC), got "${values.month}"`);
    const database = values.database;
    if (database !== undefined && !isDatabaseName(database))
      throw new ConfigError(`--database "${database}" ${DATABASE_NAME_RULE}, as in pgproof.config.json`);
    if (database !== undefined && values.store)
      throw new ConfigError(
        `--store keeps the whole month's ledger at ledger/${month.month}/: leave out --database (or use --out for one database's)`,
      );
    const format = ledgerFormat(values.format, values.out, values.json);
    const options = { month, database, format, out: values.out, store: values.store };
    return reportCommand(options, await deployment({ stack: false }), clients().s3, output);
  },
});
