import type { CpuBreakdown } from './cpu-profile.ts';
import { formatMegabytes, formatRatio, formatSeconds, formatTarget, S3_SINK_ROLE } from './format.ts';
import { streamModelLines } from './model-markdown.ts';
import { FORCED_SEGMENTS_ENV, VARIANT_IDS } from './options.ts';
import type { RoleUsage } from './process-monitor.ts';
import {
  type BenchResults,
  RUNNER_RSS_GROWTH_LIMIT,
  RUNNER_RSS_LIMIT_BYTES,
  RUNNER_VARIANTS,
  runnerPeak,
  type ScaleResult,
  TARGET_RATIO_NAMES,
  type VariantResult,
} from './results.ts';
import { phaseLines, timeBudgetLines } from './time-budget.ts';

/** bench/RESULTS.md from a run's results: pure formatting, no measuring. */

/** The order roles are listed in: the variant's own programs first, then the servers. */
const ROLE_ORDER = [
  'pg_dump',
  'runner (node)',
  'pg_dumpall',
  'pg_restore',
  'psql',
  's3rver (node)',
  'postgres backends',
  'postgres (server)',
];

function roleRank(role: string): number {
  const at = ROLE_ORDER.indexOf(role);
  return at < 0 ? ROLE_ORDER.length : at;
}

/** `pg_dump 9.1 MB · runner (node) 98 MB`: every role's peak, with the process count when several. */
export function formatRoles(
  processes: Record<string, RoleUsage>,
  value: (u: RoleUsage) => string,
  skip: (role: string, u: RoleUsage) => boolean = () => false,
): string {
  return Object.entries(processes)
    .filter(([role, u]) => !skip(role, u))
    .sort(([a], [b]) => roleRank(a) - roleRank(b) || a.localeCompare(b))
    .map(([role, u]) => `${role}${u.processes > 1 ? ` ×${u.processes}` : ''} ${value(u)}`)
    .join(' · ');
}

/**
 * Servers idle during a variant (the S3 server during A, B, E; PostgreSQL's background processes
 * when they did nothing of note) are left out of its row; results.json keeps them.
 */
const idle = (role: string, u: RoleUsage) =>
  (role === 's3rver (node)' || role === S3_SINK_ROLE || role === 'postgres (server)') && u.cpuSeconds < 0.05;

/** A peak, or `–` for a process that ended before it was sampled. */
const peak = (u: RoleUsage) => (u.peakRssBytes > 0 ? formatMegabytes(u.peakRssBytes) : '–');

function variantRow(v: VariantResult): string {
  const w = v.wallSeconds;
  return `| ${v.id} | ${v.label} | ${formatSeconds(w.median)} (${formatSeconds(w.min)}–${formatSeconds(w.max)}) | ${v.throughputMBps.toFixed(1)} | ${formatMegabytes(v.outputBytes)} | ${formatRoles(v.processes, peak, idle)} | ${formatRoles(v.processes, (u) => u.cpuSeconds.toFixed(1), idle)}${(v.otherCpuSeconds ?? 0) >= 0.05 ? ` · other work ${v.otherCpuSeconds?.toFixed(1)}` : ''} |`;
}

/** The client programs whose running time a timeline shows. */
const TIMELINE_ROLES = ['pg_dump', 'pg_dumpall', 'pg_restore', 'psql'];

/** When each program ran within the variant (medians, seconds after it started, as sampled every 100 ms). */
function timelineRow(v: VariantResult): string {
  const cells = TIMELINE_ROLES.map((role) => {
    const u = v.processes[role];
    return u ? `${u.firstSeenSeconds.toFixed(1)}–${u.lastSeenSeconds.toFixed(1)}` : '';
  });
  return `| ${v.id} | ${formatSeconds(v.wallSeconds.median)} | ${cells.join(' | ')} |`;
}

function profileLines(id: string, p: CpuBreakdown): string[] {
  const pct = (share: number) => `${(share * 100).toFixed(1)} %`;
  return [
    `**${id}** under \`node --cpu-prof\`: ${formatSeconds(p.wallSeconds)} s profiled, main thread idle ${formatSeconds(p.idleSeconds)} s (${pct(p.idleSeconds / p.wallSeconds)}).`,
    '',
    '| self time by source | s | share |',
    '| --- | ---: | ---: |',
    ...p.bySource.slice(0, 8).map((s) => `| ${s.name} | ${formatSeconds(s.seconds)} | ${pct(s.share)} |`),
    '',
    '| busiest functions (self time) | s | share |',
    '| --- | ---: | ---: |',
    ...p.topFunctions
      .slice(0, 8)
      .map((s) => `| \`${s.name}\` | ${formatSeconds(s.seconds)} | ${pct(s.share)} |`),
    '',
  ];
}

function scaleSection(s: ScaleResult, rounds: number, cores: number): string[] {
  const d = s.dataSet;
  const variants = VARIANT_IDS.map((id) => s.variants[id]).filter((v) => v !== undefined);
  const lines = [
    `## ${d.label.charAt(0).toUpperCase()}${d.label.slice(1)}: ${formatMegabytes(d.bytes)} database`,
    '',
    `\`${d.database}\`: ${d.description}; ${rounds} interleaved round${rounds === 1 ? '' : 's'}.`,
    '',
    '| | variant | wall s, median (min–max) | DB MB/s | output | peak RSS per process | CPU s per process |',
    '| --- | --- | ---: | ---: | ---: | --- | --- |',
    ...variants.map(variantRow),
    '',
  ];
  if (s.ratios.length) {
    lines.push('| ratio | of the medians (and round by round) | target |', '| --- | --- | --- |');
    for (const r of s.ratios) lines.push(`| ${r.name} | ${formatRatio(r)} | ${formatTarget(r)} |`);
    lines.push('');
  }
  lines.push(
    `| | wall s | ${TIMELINE_ROLES.map((r) => `${r} ran (s after start)`).join(' | ')} |`,
    `| --- | ---: | ${TIMELINE_ROLES.map(() => '---:').join(' | ')} |`,
    ...variants.map(timelineRow),
    '',
  );
  const s3Rows = variants.flatMap((v) =>
    Object.entries(v.s3Operations ?? {})
      .sort((a, b) => a[1].firstStartSeconds - b[1].firstStartSeconds)
      .map(
        ([name, o]) =>
          `| ${v.id} | ${name} | ${o.count} | ${formatSeconds(o.serverSeconds)} | ${o.firstStartSeconds.toFixed(1)}–${o.lastEndSeconds.toFixed(1)} |`,
      ),
  );
  if (s3Rows.length) {
    lines.push(
      '| | S3 operation, as s3rver served it | requests | server s (summed) | s after start |',
      '| --- | --- | ---: | ---: | ---: |',
      ...s3Rows,
      '',
    );
  }
  const memory = variants
    .filter((v) => v.processes['runner (node)'])
    .map(
      (v) =>
        `${v.id} ${(v.processes['runner (node)']?.rssByQuarter ?? []).map((b) => (b / 1e6).toFixed(0)).join(' / ')} MB`,
    );
  if (memory.length) {
    lines.push(`Runner RSS over its run (largest sample in each quarter of it): ${memory.join('; ')}.`, '');
  }
  lines.push(...storedLines(s), ...timeBudgetLines(s, cores));
  const phases = variants.flatMap(phaseLines);
  if (phases.length) lines.push('| | phase (median) | s |', '| --- | --- | ---: |', ...phases, '');
  for (const id of RUNNER_VARIANTS) {
    const profile = s.profiles?.[id];
    if (profile) lines.push(...profileLines(`${id} at ${d.label}`, profile));
  }
  return lines;
}

/** How C and F stored their dumps: segments (the large-size regime) and F's streams. */
function storedLines(s: ScaleResult): string[] {
  const lines: string[] = [];
  const { C, F } = s.variants;
  const objects = C?.rounds.map((r) => r.dumpObjects ?? 1) ?? [];
  if (objects.some((n) => n > 1)) {
    lines.push(
      `C stored each dump as ${[...new Set(objects)].join(' or ')} segment objects (the large-size regime); D downloaded them all into one file.`,
      '',
    );
  }
  const streams = F?.rounds.find((r) => r.streams)?.streams;
  if (F && streams) {
    const planned = streams.planned
      .map((p, i) => `data-${i + 1}: ${p.tables} tables, ${formatMegabytes(p.bytes)}`)
      .join('; ');
    lines.push(
      `F took its dump in ${streams.archiveBytes.length} streams (archives of ${streams.archiveBytes.map(formatMegabytes).join(', ')}, ` +
        `${F.rounds.map((r) => r.dumpObjects ?? 1).join(' / ')} objects by round); the runner's plan (table bytes): ` +
        `dump.pgdump the rest of ${formatMegabytes(s.dataSet.tableBytes)}; ${planned}.`,
      '',
    );
  } else if (F) {
    lines.push(
      'F took its dump in one stream: the runner ran no data stream (DUMP_STREAMS not supported, or no table large enough).',
      '',
    );
  }
  return lines;
}

function targetLines(results: BenchResults): string[] {
  const scales = results.scales;
  const header = `| target | ${scales.map((s) => s.dataSet.label).join(' | ')} |`;
  const rule = `| --- | ${scales.map(() => '---').join(' | ')} |`;
  const lines = ['## Targets', '', header, rule];
  for (const name of TARGET_RATIO_NAMES) {
    const found = scales.map((s) => s.ratios.find((x) => x.name === name));
    const first = found.find((r) => r !== undefined);
    if (!first) continue;
    const cells = found.map((r) =>
      r
        ? `${r.value.toFixed(2)} ${r.met ? '✅' : '❌'}${r.targetName ? ` (${r.targetName} ${r.target.toFixed(2)})` : ''}`
        : 'not run',
    );
    const target = first.targetName
      ? `${first.bound === 'at most' ? '≤' : '≥'} ${first.targetName}`
      : formatTarget(first);
    lines.push(`| ${name} ${target} | ${cells.join(' | ')} |`);
  }
  const ran = RUNNER_VARIANTS.filter((id) => scales.some((s) => runnerPeak(s, id) !== undefined));
  for (const id of ran) {
    const peaks = scales.map((s) => runnerPeak(s, id));
    const cells = peaks.map((p) =>
      p === undefined ? 'not run' : `${formatMegabytes(p)} ${p < RUNNER_RSS_LIMIT_BYTES ? '✅' : '❌'}`,
    );
    lines.push(
      `| ${id} runner peak RSS < ${formatMegabytes(RUNNER_RSS_LIMIT_BYTES)} | ${cells.join(' | ')} |`,
    );
  }
  if (scales.length > 1) {
    for (const id of ran) {
      const peaks = scales.map((s) => runnerPeak(s, id));
      const cells = peaks.map((p, i) => {
        const previous = peaks[i - 1];
        if (i === 0 || p === undefined || previous === undefined) return '';
        const growth = p / previous;
        return `×${growth.toFixed(2)} ${growth <= RUNNER_RSS_GROWTH_LIMIT ? '✅' : '❌'}`;
      });
      lines.push(
        `| ${id} runner peak RSS not growing (each scale ≤ ×${RUNNER_RSS_GROWTH_LIMIT.toFixed(2)} the previous one's) | ${cells.join(' | ')} |`,
      );
    }
  }
  lines.push('');
  return lines;
}

const NOTES = `## How it was measured

- Each round runs the variants back to back, in the order of the letters; the rounds repeat, so every variant sees the same background load.
  Before the rounds one untimed \`pg_dump\` warms the page cache; after each variant the server checkpoints and \`sync\` runs (untimed).
- C, D, F and I run the bundled runners (\`node containers/build.mjs\`, as the container image runs them), configured by
  their environment contract, against s3rver (the test harness's S3-compatible server). s3rver runs in a process of its own,
  so its CPU and memory are reported as \`s3rver (node)\`, apart from the runner's.
- C runs with \`DUMP_STREAMS=1\` (the runner's default is the machine's CPUs), F with \`DUMP_STREAMS=N\` (\`--streams\`).
  G and H are the stock way to dump in parallel: \`pg_dump -Fd -j N\` and \`-j 1\`, pgproof's compression, to a local folder.
- D restores the backup C took in the same round into a new database of the same server, I the one F took; E restores C's archive
  (fetched untimed to a local file) with the same \`pg_restore\` arguments and \`-j\`.
- Peak RSS is each process's kernel high-water mark (VmHWM, sampled from /proc every 100 ms; the servers' marks are reset when a
  variant starts). \`×N\` is how many processes of that kind ran; the peak is the largest single one, CPU is their sum;
  \`–\` marks a process that ended before its first sample (it lived under 100 ms). PostgreSQL backends' RSS includes the shared buffers they touched.
- \`other work\` is the CPU the rest of the machine used meanwhile (\`/proc/stat\` less every process above): on a shared
  machine, cores the variant did not have.
- MB = 10^6 bytes. DB MB/s = \`pg_database_size\` of the source over the median wall time (restores too).
`;

/** The whole RESULTS.md; `rawFile` names the results.json beside it. */
export function renderMarkdown(results: BenchResults, rawFile = 'results.json'): string {
  const m = results.machine;
  const lines = [
    '# pgproof benchmark: backup and restore against plain pg_dump',
    '',
    `Generated by \`${results.command}\` on ${results.generatedAt.slice(0, 16).replace('T', ' ')} UTC. Raw numbers: \`${rawFile}\` beside this file.`,
    '',
    '| machine | |',
    '| --- | --- |',
    `| CPU | ${m.cpu}, ${m.cores} cores |`,
    `| memory | ${(m.memoryBytes / 2 ** 30).toFixed(1)} GiB |`,
    `| OS | ${m.kernel} |`,
    `| PostgreSQL | server ${m.postgresServer}; client ${m.postgresClient} |`,
    `| Node.js | ${m.node} |`,
    '',
    '| variant | what |',
    '| --- | --- |',
    ...VARIANT_IDS.map((id) => {
      const v = results.scales.find((s) => s.variants[id])?.variants[id];
      return v ? `| ${id} | ${v.label} |` : `| ${id} | not run |`;
    }),
    '',
    ...(results.options.forceSegments
      ? [
          `**Forced large-size regime** (\`--force-segments\`): the backup runner ran with ${Object.entries(
            FORCED_SEGMENTS_ENV,
          )
            .map(([k, v]) => `\`${k}=${results.options.runnerEnv[k] ?? v}\``)
            .join(
              ', ',
            )}, so each dump became segment after segment, as a dump over 78 GiB does with the defaults (8 MiB parts, 10,000 to a segment); its peak RSS is the bound measured in that regime.`,
          '',
        ]
      : []),
    ...targetLines(results),
    ...results.scales.flatMap((s) => scaleSection(s, results.options.rounds, m.cores)),
    ...streamModelLines(results.scales),
    NOTES,
  ];
  return `${lines.join('\n').trimEnd()}\n`;
}
