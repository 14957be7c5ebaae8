import { z } from 'zod';
import { RESTORE_PHASES, type RestoreDurations, type RestoreReport } from './drill-report.ts';

/**
 * The evidence ledger: a month of drill reports turned into one row per drill and a summary per
 * database, for the person who asks "show me your restore tests". Pure: the CLI finds the reports
 * (`pgproof report`), this module decides which belong to the month and renders the ledger as JSON
 * (the versioned contract below), CSV (RFC 4180, for spreadsheets) and one self-contained HTML page
 * (readable when opened from the S3 console: no script, no external asset, every value escaped).
 */

/** Version of the ledger's JSON; a reader refuses any other. Bump it on any change that is not an addition. */
export const LEDGER_FORMAT_VERSION = 1;

/** `YYYY-MM`, a calendar month in UTC. */
export const LEDGER_MONTH_PATTERN = /^(\d{4})-(0[1-9]|1[0-2])$/;

/** A calendar month in UTC: drills whose `startedAt` is in `[from, to)` belong to it. */
export interface LedgerMonth {
  /** `YYYY-MM`. */
  readonly month: string;
  readonly from: Date;
  readonly to: Date;
}

/** Parses `YYYY-MM`; undefined when it is not a month. */
export function parseLedgerMonth(month: string): LedgerMonth | undefined {
  const m = LEDGER_MONTH_PATTERN.exec(month);
  if (!m) return undefined;
  const year = Number(m[1]);
  const index = Number(m[2]) - 1;
  return { month, from: new Date(Date.UTC(year, index, 1)), to: new Date(Date.UTC(year, index + 1, 1)) };
}

export { ledgerKeys } from './layout.ts';

/** `post-data` -> `postData`: a restore phase's name as a ledger key. */
type PhaseKeyOf<P extends string> = P extends `${infer A}-${infer B}` ? `${A}${Capitalize<B>}` : P;

/** A restore phase (RESTORE_PHASES) as the ledger shows it: its key in a row, its field, its label. */
function ledgerPhase<const P extends (typeof RESTORE_PHASES)[number]>(restore: P) {
  const key = restore.phase.replace(/-(\w)/g, (_, c: string) => c.toUpperCase()) as PhaseKeyOf<P['phase']>;
  return { key, field: restore.field, label: restore.phase };
}

const [preflightPhase, downloadPhase, ...phasesAfterDownload] = RESTORE_PHASES;

/**
 * The phases a row shows, in the order they run: the restore's phases (core/drill-report.ts), and
 * `restore`, the sum of globals to post-data that older reports have alone, where it ran.
 */
export const LEDGER_PHASES = [
  ledgerPhase(preflightPhase),
  ledgerPhase(downloadPhase),
  { key: 'restore', field: 'restoreSeconds', label: 'restore' } as const,
  ...phasesAfterDownload.map(ledgerPhase),
] satisfies readonly { key: string; field: keyof RestoreDurations; label: string }[];

type PhaseKey = (typeof LEDGER_PHASES)[number]['key'];

const seconds = z.number().nonnegative();
const phasesSchema = z.object(
  Object.fromEntries(LEDGER_PHASES.map(({ key }) => [key, seconds.nullable()])) as Record<
    PhaseKey,
    z.ZodNullable<typeof seconds>
  >,
);

/** One drill (or restore) of the month, as its report tells it. */
export const ledgerDrillSchema = z.object({
  /** The database's name in the key layout (the report's `name`). */
  database: z.string(),
  /** When the drill started (ISO 8601, UTC): what puts it in the month. */
  startedAt: z.string(),
  finishedAt: z.string(),
  backupId: z.string(),
  tier: z.string(),
  /** When the backup's snapshot was taken, and its age in hours when the drill started. */
  backupTakenAt: z.string(),
  backupAgeHours: z.number(),
  /** `drill` (a scratch server) or `restore` (a real target). */
  mode: z.enum(['drill', 'restore']),
  /** Whether it ran from the replica (a DR drill); null when the report does not say (reports before DR drills). */
  dr: z.boolean().nullable(),
  /** The drill's verdict as the workflow decides it: every check passed, nothing failed to run, the RTO met. */
  passed: z.boolean(),
  checks: z.object({
    total: z.number().int().nonnegative(),
    passed: z.number().int().nonnegative(),
    failed: z.number().int().nonnegative(),
    /** The names of the checks that failed, in the report's order. */
    failedNames: z.array(z.string()),
  }),
  rto: z.object({
    /** The measured recovery time (download + restore). */
    seconds,
    targetSeconds: z.number().positive().nullable(),
    /** null when the database has no RTO. */
    met: z.boolean().nullable(),
    /** The recovery phase that took longest; null in older reports. */
    dominantPhase: z.string().nullable(),
  }),
  /** Seconds of each phase; null where the report has no such field (older reports, phases that did not run). */
  phases: phasesSchema,
  /** Why the drill could not run to its end; null when it ran. */
  error: z.string().nullable(),
  /** The report's S3 key: the evidence behind this row. */
  reportKey: z.string(),
});
export type LedgerDrill = z.infer<typeof ledgerDrillSchema>;

const drillRef = z.object({ startedAt: z.string(), backupId: z.string() });

/** One database's month at a glance. */
export const ledgerDatabaseSchema = z.object({
  database: z.string(),
  drills: z.number().int().nonnegative(),
  passed: z.number().int().nonnegative(),
  failed: z.number().int().nonnegative(),
  /** How many ran from the replica (reports that say so). */
  drDrills: z.number().int().nonnegative(),
  /** How many missed their RTO. */
  rtoMissed: z.number().int().nonnegative(),
  /** The month's newest passed drill; null when none passed. */
  lastPassed: drillRef.nullable(),
  /** The month's longest recovery time of a drill that ran, and its drill. */
  longestRto: drillRef.extend({ seconds }).nullable(),
});
export type LedgerDatabase = z.infer<typeof ledgerDatabaseSchema>;

/** A report of the month that could not be read: listed, never silently left out. */
export const ledgerProblemSchema = z.object({ key: z.string(), problem: z.string() });
export type LedgerProblem = z.infer<typeof ledgerProblemSchema>;

/** The ledger's JSON (`ledger.json`), version {@link LEDGER_FORMAT_VERSION}. */
export const ledgerSchema = z.object({
  formatVersion: z.literal(LEDGER_FORMAT_VERSION),
  /** `YYYY-MM`; drills whose `startedAt` is in `[from, to)` (UTC). */
  month: z.string().regex(LEDGER_MONTH_PATTERN),
  from: z.string(),
  to: z.string(),
  generatedAt: z.string(),
  /** Where the reports were read: `s3://<bucket>/<prefix>drills/`. */
  source: z.object({ bucket: z.string(), prefix: z.string() }),
  /** The one database asked for (`--database`), or null for all. */
  database: z.string().nullable(),
  /** By name. */
  databases: z.array(ledgerDatabaseSchema),
  /** By database, then start. */
  drills: z.array(ledgerDrillSchema),
  problems: z.array(ledgerProblemSchema),
});
export type Ledger = z.infer<typeof ledgerSchema>;

/** One report as read from S3, with what the report says about where it ran. */
export interface LedgerSource {
  readonly key: string;
  readonly report: RestoreReport;
  /** {@link drMarker} of the report's JSON. */
  readonly dr?: boolean | undefined;
}

/**
 * Whether a report's JSON says it was a DR drill: its `dr` field (`true`, or an object describing the
 * replica run), `false` when it says it was not; undefined when it says nothing, as every report did
 * before drills from the replica (issue 14, item 1) existed. Read from the raw JSON, since the
 * report's schema does not hold the field yet: this is the one place to change when it does.
 */
export function drMarker(json: unknown): boolean | undefined {
  if (typeof json !== 'object' || json === null || !('dr' in json)) return undefined;
  const { dr } = json;
  if (dr === false || dr === null) return false;
  return dr === true || typeof dr === 'object' ? true : undefined;
}

/** Whether a drill started within the month. */
export function inMonth(month: LedgerMonth, startedAt: string): boolean {
  const at = Date.parse(startedAt);
  return at >= month.from.getTime() && at < month.to.getTime();
}

/** One report as a ledger row. */
export function ledgerDrill(source: LedgerSource): LedgerDrill {
  const { report } = source;
  const failed = report.checks.filter((c) => !c.passed);
  const phases = Object.fromEntries(
    LEDGER_PHASES.map(({ key, field }) => [key, report.durations[field] ?? null]),
  ) as LedgerDrill['phases'];
  return {
    database: report.name,
    startedAt: report.startedAt,
    finishedAt: report.finishedAt,
    backupId: report.backupId,
    tier: report.backup.tier,
    backupTakenAt: report.backup.takenAt,
    backupAgeHours: report.backup.ageHours,
    mode: report.mode,
    dr: source.dr ?? null,
    passed: report.passed && report.rto.met !== false,
    checks: {
      total: report.checks.length,
      passed: report.checks.length - failed.length,
      failed: failed.length,
      failedNames: failed.map((c) => c.name),
    },
    rto: {
      seconds: report.rto.seconds,
      targetSeconds: report.rto.targetSeconds ?? null,
      met: report.rto.met ?? null,
      dominantPhase: report.rto.dominantPhase ?? null,
    },
    phases,
    error: report.error ?? null,
    reportKey: source.key,
  };
}

/**
 * Whether a drill that ran took longer than its RTO. (The report's `rto.met` is also false when a check
 * failed; this is the time alone.)
 */
export function rtoMissed(drill: LedgerDrill): boolean {
  return (
    drill.error === null && drill.rto.targetSeconds !== null && drill.rto.seconds > drill.rto.targetSeconds
  );
}

function summarize(database: string, drills: readonly LedgerDrill[]): LedgerDatabase {
  const passed = drills.filter((d) => d.passed);
  const last = passed.at(-1);
  // Only drills that ran measured a recovery time.
  const longest = drills
    .filter((d) => d.error === null)
    .reduce<LedgerDrill | undefined>(
      (best, d) => (best === undefined || d.rto.seconds > best.rto.seconds ? d : best),
      undefined,
    );
  return {
    database,
    drills: drills.length,
    passed: passed.length,
    failed: drills.length - passed.length,
    drDrills: drills.filter((d) => d.dr === true).length,
    rtoMissed: drills.filter(rtoMissed).length,
    lastPassed: last ? { startedAt: last.startedAt, backupId: last.backupId } : null,
    longestRto: longest
      ? { startedAt: longest.startedAt, backupId: longest.backupId, seconds: longest.rto.seconds }
      : null,
  };
}

/** What a ledger is made from. */
export interface LedgerInput {
  readonly month: LedgerMonth;
  /** Reports read for the month; those that started outside it are left out here. */
  readonly sources: readonly LedgerSource[];
  readonly problems?: readonly LedgerProblem[];
  readonly generatedAt: Date;
  readonly bucket: string;
  readonly prefix: string;
  /** Only this database's drills. */
  readonly database?: string | undefined;
}

const byText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** The month's ledger: one row per drill that started in it, and a summary per database. */
export function buildLedger(input: LedgerInput): Ledger {
  const drills = input.sources
    .filter((s) => inMonth(input.month, s.report.startedAt))
    .filter((s) => input.database === undefined || s.report.name === input.database)
    .map(ledgerDrill)
    .sort(
      (a, b) =>
        byText(a.database, b.database) ||
        Date.parse(a.startedAt) - Date.parse(b.startedAt) ||
        byText(a.reportKey, b.reportKey),
    );
  const names = [...new Set(drills.map((d) => d.database))];
  return {
    formatVersion: LEDGER_FORMAT_VERSION,
    month: input.month.month,
    from: input.month.from.toISOString(),
    to: input.month.to.toISOString(),
    generatedAt: input.generatedAt.toISOString(),
    source: { bucket: input.bucket, prefix: input.prefix },
    database: input.database ?? null,
    databases: names.map((name) =>
      summarize(
        name,
        drills.filter((d) => d.database === name),
      ),
    ),
    drills,
    problems: [...(input.problems ?? [])].sort((a, b) => byText(a.key, b.key)),
  };
}

/** The ledger's JSON text, through its schema (what `ledger.json` holds). */
export function serializeLedger(ledger: Ledger): string {
  return `${JSON.stringify(ledgerSchema.parse(ledger), null, 2)}\n`;
}

/** How a phase's or RTO's seconds are shown: one decimal. */
export function formatSeconds(value: number): string {
  return value.toFixed(1);
}

/** A drill's kind for a person: `drill`, `DR drill` or `restore`. */
export function drillKind(drill: Pick<LedgerDrill, 'mode' | 'dr'>): string {
  if (drill.mode === 'restore') return 'restore';
  return drill.dr ? 'DR drill' : 'drill';
}

/** Why a drill failed, in a few words: its failed checks, its error, the missed RTO. */
export function failureReason(drill: LedgerDrill): string {
  if (drill.passed) return '';
  const reasons = [
    ...drill.checks.failedNames,
    ...(drill.error === null ? [] : [`could not run: ${drill.error}`]),
    ...(rtoMissed(drill) ? ['RTO missed'] : []),
  ];
  return reasons.length ? reasons.join('; ') : 'no check ran';
}

// --- CSV -----------------------------------------------------------------------------------------

/** The CSV's columns, in order; one row per drill. */
export const LEDGER_CSV_COLUMNS = [
  'database',
  'started_at',
  'finished_at',
  'backup_id',
  'tier',
  'backup_age_hours',
  'mode',
  'dr',
  'passed',
  'checks_total',
  'checks_passed',
  'checks_failed',
  'failed_checks',
  'rto_seconds',
  'rto_target_seconds',
  'rto_met',
  'rto_dominant_phase',
  ...LEDGER_PHASES.map(({ label }) => `${label.replace('-', '_')}_seconds`),
  'error',
  'report_key',
] as const;

/**
 * One CSV field (RFC 4180): quoted when it holds a comma, a quote, CR or LF, quotes doubled. Text
 * that a spreadsheet would run as a formula (starting with = + - @, tab or CR) gets a leading `'`:
 * a check's name is the config's, and a ledger must not run anything when opened.
 */
export function csvField(value: string | number | boolean | null): string {
  if (value === null) return '';
  if (typeof value !== 'string') return String(value);
  const text = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** The ledger as CSV: a header line, then one line per drill, CRLF line ends (RFC 4180). */
export function renderLedgerCsv(ledger: Ledger): string {
  const rows = ledger.drills.map((d) => [
    d.database,
    d.startedAt,
    d.finishedAt,
    d.backupId,
    d.tier,
    d.backupAgeHours,
    d.mode,
    d.dr,
    d.passed,
    d.checks.total,
    d.checks.passed,
    d.checks.failed,
    d.checks.failedNames.join('; '),
    d.rto.seconds,
    d.rto.targetSeconds,
    d.rto.met,
    d.rto.dominantPhase,
    ...LEDGER_PHASES.map(({ key }) => d.phases[key]),
    d.error,
    d.reportKey,
  ]);
  return [LEDGER_CSV_COLUMNS, ...rows].map((row) => `${row.map(csvField).join(',')}\r\n`).join('');
}

// --- HTML ----------------------------------------------------------------------------------------

/** Markup already escaped; anything else put into {@link html} is escaped. */
class Markup {
  constructor(readonly text: string) {}
}

/** Escapes text for an HTML element or a quoted attribute. */
export function escapeHtml(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

type HtmlValue = Markup | string | number | readonly Markup[];

/** A template whose every value is escaped unless it is markup itself: nothing is ever put in raw. */
function html(strings: TemplateStringsArray, ...values: HtmlValue[]): Markup {
  let out = strings[0] ?? '';
  values.forEach((value, i) => {
    const text =
      value instanceof Markup
        ? value.text
        : Array.isArray(value)
          ? value.map((m: Markup) => m.text).join('')
          : escapeHtml(String(value));
    out += text + (strings[i + 1] ?? '');
  });
  return new Markup(out);
}

const STYLE = `body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#111}
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:2em}
table{border-collapse:collapse;margin:.5em 0}th,td{border:1px solid #ccc;padding:.25em .5em;text-align:left;vertical-align:top}
th{background:#f3f3f3}td.n{text-align:right;font-variant-numeric:tabular-nums}
tr.failed td{background:#fde8e8}.ok{color:#116611}.bad{color:#b00020;font-weight:bold}.muted{color:#666}
code{font-size:.95em}`;

const when = (iso: string) => iso.replace('T', ' ').replace(/:\d\d(\.\d+)?Z$/, ' UTC');
const verdict = (passed: boolean) =>
  passed ? html`<span class="ok">passed</span>` : html`<span class="bad">FAILED</span>`;
const optionalSeconds = (value: number | null) => (value === null ? '–' : formatSeconds(value));

function summaryTable(ledger: Ledger): Markup {
  const rows = ledger.databases.map(
    (s, i) => html`<tr${s.failed ? html` class="failed"` : ''}>
<td><a href="#db-${i}">${s.database}</a></td><td class="n">${s.drills}</td><td class="n">${s.passed}</td><td class="n">${s.failed}</td><td class="n">${s.drDrills}</td><td class="n">${s.rtoMissed}</td>
<td>${s.lastPassed ? html`${when(s.lastPassed.startedAt)} <code>${s.lastPassed.backupId}</code>` : html`<span class="bad">none</span>`}</td>
<td>${s.longestRto ? html`${formatSeconds(s.longestRto.seconds)} s <code>${s.longestRto.backupId}</code>` : '–'}</td></tr>`,
  );
  return html`<table><tr><th>database</th><th>drills</th><th>passed</th><th>failed</th><th>DR drills</th><th>RTO missed</th><th>last passed</th><th>longest RTO</th></tr>
${rows}</table>`;
}

function drillTable(drills: readonly LedgerDrill[]): Markup {
  const phaseHeads = LEDGER_PHASES.map(({ label }) => html`<th>${label}</th>`);
  const rows = drills.map(
    (d) => html`<tr${d.passed ? '' : html` class="failed"`}>
<td>${when(d.startedAt)}</td><td><code>${d.backupId}</code></td><td>${d.tier}</td><td class="n">${d.backupAgeHours.toFixed(1)}</td><td>${drillKind(d)}</td>
<td class="n">${d.checks.passed}/${d.checks.total}</td>
<td class="n">${d.error !== null ? '–' : html`${formatSeconds(d.rto.seconds)}${d.rto.targetSeconds === null ? '' : html` / ${d.rto.targetSeconds}${rtoMissed(d) ? html` <span class="bad">missed</span>` : ''}`}`}</td>
${LEDGER_PHASES.map(({ key }) => html`<td class="n">${optionalSeconds(d.phases[key])}</td>`)}
<td>${verdict(d.passed)}${d.passed ? '' : html`<br>${failureReason(d)}`}</td>
<td class="muted"><code>${d.reportKey}</code></td></tr>`,
  );
  return html`<table><tr><th>started</th><th>backup</th><th>tier</th><th>age (h)</th><th>kind</th><th>checks</th><th>RTO (s)</th>${phaseHeads}<th>result</th><th>report</th></tr>
${rows}</table>`;
}

/**
 * The ledger as one HTML page a person opens from the S3 console: inline style only, a content
 * security policy that loads nothing, every value escaped.
 */
export function renderLedgerHtml(ledger: Ledger): string {
  const total = ledger.drills.length;
  const passed = ledger.drills.filter((d) => d.passed).length;
  const sections = ledger.databases.map(
    (s, i) => html`<h2 id="db-${i}">${s.database}</h2>
<p>${s.drills} drills: ${s.passed} passed, ${s.failed} failed. Times in seconds; – where the report has no such phase.</p>
${drillTable(ledger.drills.filter((d) => d.database === s.database))}`,
  );
  const problems = ledger.problems.length
    ? html`<h2>Reports that could not be read</h2><ul>${ledger.problems.map(
        (p) => html`<li><code>${p.key}</code>: ${p.problem}</li>`,
      )}</ul>`
    : '';
  const page = html`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>pgproof evidence ledger ${ledger.month}${ledger.database === null ? '' : ` ${ledger.database}`}</title>
<style>${new Markup(STYLE)}</style></head><body>
<h1>pgproof evidence ledger: ${ledger.month}${ledger.database === null ? '' : ` (${ledger.database})`}</h1>
<p>Restore drills that started from ${when(ledger.from)} to ${when(ledger.to)}, read from <code>s3://${ledger.source.bucket}/${ledger.source.prefix}drills/</code> at ${when(ledger.generatedAt)}.
${total} drills of ${ledger.databases.length} databases: ${passed} passed, ${total - passed} failed.</p>
${summaryTable(ledger)}
${sections}
${problems}
<p class="muted">Ledger format ${ledger.formatVersion}; the same rows are in ledger.csv and ledger.json beside this page.</p>
</body></html>
`;
  return page.text;
}
