import type { CpuBreakdown } from './cpu-profile.ts';
import { FORCED_SEGMENTS_ENV, VARIANT_IDS } from './options.ts';
import type { RoleUsage } from './process-monitor.ts';
import {
  type BenchResults,
  RUNNER_RSS_GROWTH_LIMIT,
  RUNNER_RSS_LIMIT_BYTES,
  runnerPeak,
  type ScaleResult,
  type VariantResult,
} from './results.ts';
import type { Ratio } from './stats.ts';

/** bench/RESULTS.md from a run's results: pure formatting, no measuring. */

/** Bytes as MB (10^6), with one decimal below 100. */
export function formatMegabytes(bytes: number): string {
  const mb = bytes / 1e6;
  return `${mb < 100 ? mb.toFixed(1) : mb.toFixed(0)} MB`;
}

/** Seconds with two decimals below 10, one above. */
export function formatSeconds(seconds: number): string {
  return seconds < 10 ? seconds.toFixed(2) : seconds.toFixed(1);
}

/** A ratio, whether it met its target, and its spread over the rounds. */
export function formatRatio(r: Ratio): string {
  const p = r.perRound;
  return `${r.value.toFixed(2)} ${r.met ? '✅ met' : '❌ missed'} (round by round: median ${p.median.toFixed(2)}, ${p.min.toFixed(2)}–${p.max.toFixed(2)})`;
}

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

/** The report's name for the stand-in S3 that discards the dump (`--s3 sink`). */
export const S3_SINK_ROLE = 's3 sink (node)';

/** A peak, or `–` for a process that ended before it was sampled. */
const peak = (u: RoleUsage) => (u.peakRssBytes > 0 ? formatMegabytes(u.peakRssBytes) : '–');

function variantRow(v: VariantResult): string {
  const w = v.wallSeconds;
  return `| ${v.id} | ${v.label} | ${formatSeconds(w.median)} (${formatSeconds(w.min)}–${formatSeconds(w.max)}) | ${v.throughputMBps.toFixed(1)} | ${formatMegabytes(v.outputBytes)} | ${formatRoles(v.processes, peak, idle)} | ${formatRoles(v.processes, (u) => u.cpuSeconds.toFixed(1), idle)} |`;
}

function phaseLines(v: VariantResult): string[] {
  if (!v.phases) return [];
  if (v.id === 'C') {
    const p = v.phases;
    const at = (m: string) => p[m];
    const steps: [string, number | undefined, number | undefined][] = [
      ['node start, bundle load, settings', 0, at('backup started')],
      ['HEAD manifest, snapshot export', at('backup started'), at('snapshot exported')],
      [
        'globals, pg_dump streamed through SHA-256 to S3, row counts, manifest',
        at('snapshot exported'),
        at('backup succeeded'),
      ],
      ['metrics, exit', at('backup succeeded'), v.wallSeconds.median],
    ];
    return steps
      .filter(([, from, to]) => from !== undefined && to !== undefined)
      .map(
        ([name, from, to]) =>
          `| C | ${name} | ${formatSeconds(Math.max(0, (to as number) - (from as number)))} |`,
      );
  }
  return Object.entries(v.phases)
    .filter(([name]) => name !== 'total')
    .map(([name, seconds]) => `| ${v.id} | ${name} | ${formatSeconds(seconds)} |`);
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

/**
 * Where the difference between a runner and its baseline goes, from what was measured: when the
 * client program ran inside the runner, the S3 server's requests, and the CPU every process used.
 * Medians of different things: the parts need not add up exactly.
 */
export function timeBudgetLines(s: ScaleResult, cores: number): string[] {
  const lines: string[] = [];
  const { A, B, C, D, E } = s.variants;
  const cpu = (v: VariantResult, role: string) => v.processes[role]?.cpuSeconds ?? 0;
  const sec = (n: number) => `${formatSeconds(n)} s`;
  const dump = C?.processes.pg_dump;
  const baseDump = B?.processes.pg_dump;
  if (B && C && dump && baseDump) {
    const complete = C.s3Operations?.CompleteMultipartUpload?.serverSeconds;
    const bCpu = cpu(B, 'pg_dump') + cpu(B, 'postgres backends');
    lines.push(
      `- **C − B = ${sec(C.wallSeconds.median - B.wallSeconds.median)}.** Before pg_dump started: ${sec(dump.firstSeenSeconds)} ` +
        `(node start and bundle load ${sec(C.phases?.['backup started'] ?? 0)}, then HEAD, snapshot, globals). ` +
        `pg_dump ran ${sec(dump.lastSeenSeconds - dump.firstSeenSeconds)} (in B: ${sec(baseDump.lastSeenSeconds - baseDump.firstSeenSeconds)}). ` +
        `After it ended: ${sec(C.wallSeconds.median - dump.lastSeenSeconds)}` +
        `${complete !== undefined ? `, of which the S3 server's CompleteMultipartUpload ${sec(complete)}` : ''}. ` +
        `CPU: B kept ${(bCpu / B.wallSeconds.median).toFixed(1)} of ${cores} cores busy (pg_dump ${cpu(B, 'pg_dump').toFixed(1)} + its backend ${cpu(B, 'postgres backends').toFixed(1)} CPU s); ` +
        `C adds the runner's ${cpu(C, 'runner (node)').toFixed(1)} and ${C.processes[S3_SINK_ROLE] ? 'the S3 sink' : 's3rver'}'s ${(cpu(C, 's3rver (node)') + cpu(C, S3_SINK_ROLE)).toFixed(1)} CPU s.`,
    );
  }
  if (A && B) {
    lines.push(
      `- **A / B = ${(A.wallSeconds.median / B.wallSeconds.median).toFixed(2)}:** the most C/A can reach while C is no faster than B is ` +
        `${(B.wallSeconds.median / A.wallSeconds.median).toFixed(2)}. pg_dump's CPU: ${cpu(A, 'pg_dump').toFixed(1)} s with gzip 6, ${cpu(B, 'pg_dump').toFixed(1)} s with pgproof's compression.`,
    );
  }
  const restore = D?.processes.pg_restore;
  const baseRestore = E?.processes.pg_restore;
  if (D && E && restore && baseRestore) {
    const p = D.phases ?? {};
    lines.push(
      `- **D − E = ${sec(D.wallSeconds.median - E.wallSeconds.median)}.** Before pg_restore started: ${sec(restore.firstSeenSeconds)} ` +
        `(node start, finding the manifest, download and SHA-256 ${sec(p.download ?? 0)}, globals). ` +
        `pg_restore ran ${sec(restore.lastSeenSeconds - restore.firstSeenSeconds)} (in E: ${sec(baseRestore.lastSeenSeconds - baseRestore.firstSeenSeconds)}). ` +
        `After it ended: ${sec(D.wallSeconds.median - restore.lastSeenSeconds)} (ANALYZE, then verify ${sec(p.verify ?? 0)}, report).`,
    );
  }
  return lines.length
    ? ['Where the time goes (medians; the parts need not add up exactly):', '', ...lines, '']
    : [];
}

function scaleSection(s: ScaleResult, rounds: number, cores: number): string[] {
  const d = s.dataSet;
  const variants = VARIANT_IDS.map((id) => s.variants[id]).filter((v) => v !== undefined);
  const lines = [
    `## ${d.label.charAt(0).toUpperCase()}${d.label.slice(1)}: ${formatMegabytes(d.bytes)} database`,
    '',
    `\`${d.database}\`: ${d.description}; ${rounds} interleaved rounds.`,
    '',
    '| | variant | wall s, median (min–max) | DB MB/s | output | peak RSS per process | CPU s per process |',
    '| --- | --- | ---: | ---: | ---: | --- | --- |',
    ...variants.map(variantRow),
    '',
  ];
  if (s.ratios.length) {
    lines.push('| ratio | of the medians (and round by round) | target |', '| --- | --- | --- |');
    for (const r of s.ratios) lines.push(`| ${r.name} | ${formatRatio(r)} | ≤ ${r.target.toFixed(2)} |`);
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
  const objects = s.variants.C?.rounds.map((r) => r.dumpObjects ?? 1) ?? [];
  if (objects.some((n) => n > 1)) {
    lines.push(
      `C stored each dump as ${[...new Set(objects)].join(' or ')} segment objects (the large-size regime); D downloaded them all into one file.`,
      '',
    );
  }
  lines.push(...timeBudgetLines(s, cores));
  const phases = variants.flatMap(phaseLines);
  if (phases.length) lines.push('| | phase (median) | s |', '| --- | --- | ---: |', ...phases, '');
  if (s.profiles?.C) lines.push(...profileLines(`C at ${d.label}`, s.profiles.C));
  if (s.profiles?.D) lines.push(...profileLines(`D at ${d.label}`, s.profiles.D));
  return lines;
}

function targetLines(results: BenchResults): string[] {
  const scales = results.scales;
  const header = `| target | ${scales.map((s) => s.dataSet.label).join(' | ')} |`;
  const rule = `| --- | ${scales.map(() => '---').join(' | ')} |`;
  const lines = ['## Targets', '', header, rule];
  for (const name of ['C/B', 'C/A', 'D/E']) {
    const cells = scales.map((s) => {
      const r = s.ratios.find((x) => x.name === name);
      return r ? `${r.value.toFixed(2)} ${r.met ? '✅' : '❌'}` : 'not run';
    });
    const target = scales.flatMap((s) => s.ratios).find((x) => x.name === name)?.target;
    lines.push(`| ${name} ≤ ${target?.toFixed(2) ?? '?'} | ${cells.join(' | ')} |`);
  }
  for (const id of ['C', 'D'] as const) {
    const peaks = scales.map((s) => runnerPeak(s, id));
    const cells = peaks.map((p) =>
      p === undefined ? 'not run' : `${formatMegabytes(p)} ${p < RUNNER_RSS_LIMIT_BYTES ? '✅' : '❌'}`,
    );
    lines.push(
      `| ${id} runner peak RSS < ${formatMegabytes(RUNNER_RSS_LIMIT_BYTES)} | ${cells.join(' | ')} |`,
    );
  }
  if (scales.length > 1) {
    for (const id of ['C', 'D'] as const) {
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

- Each round runs A B C D E back to back; the rounds repeat, so every variant sees the same background load.
  Before the rounds one untimed \`pg_dump\` warms the page cache; after each variant the server checkpoints and \`sync\` runs (untimed).
- C and D run the bundled runners (\`node containers/build.mjs\`, as the container image runs them), configured by
  their environment contract, against s3rver (the test harness's S3-compatible server). s3rver runs in a process of its own,
  so its CPU and memory are reported as \`s3rver (node)\`, apart from the runner's.
- D restores the backup C took in the same round into a new database of the same server; E restores that same archive
  (fetched untimed to a local file) with the same \`pg_restore\` arguments and \`-j\`.
- Peak RSS is each process's kernel high-water mark (VmHWM, sampled from /proc every 100 ms; the servers' marks are reset when a
  variant starts). \`×N\` is how many processes of that kind ran; the peak is the largest single one, CPU is their sum;
  \`–\` marks a process that ended before its first sample (it lived under 100 ms). PostgreSQL backends' RSS includes the shared buffers they touched.
- MB = 10^6 bytes. DB MB/s = \`pg_database_size\` of the source over the median wall time (restores too).
`;

/** The whole RESULTS.md. */
export function renderMarkdown(results: BenchResults): string {
  const m = results.machine;
  const lines = [
    '# pgproof benchmark: backup and restore against plain pg_dump',
    '',
    `Generated by \`${results.command}\` on ${results.generatedAt.slice(0, 16).replace('T', ' ')} UTC. Raw numbers: \`results.json\` beside this file.`,
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
    NOTES,
  ];
  return `${lines.join('\n').trimEnd()}\n`;
}
