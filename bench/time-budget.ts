import { formatSeconds, S3_SINK_ROLE } from './format.ts';
import type { ScaleResult, VariantResult } from './results.ts';

/**
 * Where a variant's time goes: its phases, and what separates each runner from its bare baseline (C from B,
 * F from G, D and I from E), from what was measured.
 */

/** A variant's phases as rows of the phase table: the runners' logs and reports. */
export function phaseLines(v: VariantResult): string[] {
  if (!v.phases) return [];
  if (v.id === 'C' || v.id === 'F') {
    const p = v.phases;
    const at = (m: string) => p[m];
    // F plans its streams after the snapshot: sizing the tables is a step of its own (none in C).
    const planned = at('backup streams');
    const dumping = planned ?? at('snapshot exported');
    const steps: [string, number | undefined, number | undefined][] = [
      ['node start, bundle load, settings', 0, at('backup started')],
      ['HEAD manifest, snapshot export', at('backup started'), at('snapshot exported')],
      ['sizing the tables, planning the streams', at('snapshot exported'), planned],
      [
        'globals, pg_dump streamed through SHA-256 to S3, row counts, manifest',
        dumping,
        at('backup succeeded'),
      ],
      ['metrics, exit', at('backup succeeded'), v.wallSeconds.median],
    ];
    return steps
      .filter(([, from, to]) => from !== undefined && to !== undefined)
      .map(
        ([name, from, to]) =>
          `| ${v.id} | ${name} | ${formatSeconds(Math.max(0, (to as number) - (from as number)))} |`,
      );
  }
  // A restore's report: the parts of its restore and verify phases are listed under them.
  const parts = new Set(['globals', 'pre-data', 'data', 'post-data', 'analyze']);
  return Object.entries(v.phases)
    .filter(([name]) => name !== 'total')
    .map(
      ([name, seconds]) =>
        `| ${v.id} | ${parts.has(name) ? `… ${name}` : name} | ${formatSeconds(seconds)} |`,
    );
}

/** CPU seconds of a role in a variant. */
const cpu = (v: VariantResult, role: string) => v.processes[role]?.cpuSeconds ?? 0;
/** Seconds as the report writes them, with the unit. */
const sec = (n: number) => `${formatSeconds(n)} s`;

/**
 * Where the difference between a runner and its baseline goes, from what was measured: when the
 * client program ran inside the runner, the S3 server's requests, and the CPU every process used.
 * Medians of different things: the parts need not add up exactly.
 */
export function timeBudgetLines(s: ScaleResult, cores: number): string[] {
  const { A, B, C, D, E, F, G, I } = s.variants;
  const lines = [...(C && B ? backupBudget(C, B, cores) : []), ...(F && G ? backupBudget(F, G, cores) : [])];
  if (A && B) {
    lines.push(
      `- **A / B = ${(A.wallSeconds.median / B.wallSeconds.median).toFixed(2)}:** the most C/A can reach while C is no faster than B is ` +
        `${(B.wallSeconds.median / A.wallSeconds.median).toFixed(2)}. pg_dump's CPU: ${cpu(A, 'pg_dump').toFixed(1)} s with gzip 6, ${cpu(B, 'pg_dump').toFixed(1)} s with pgproof's compression.`,
    );
  }
  lines.push(...(D && E ? restoreBudget(D, E) : []), ...(I && E ? restoreBudget(I, E) : []));
  return lines.length
    ? ['Where the time goes (medians; the parts need not add up exactly):', '', ...lines, '']
    : [];
}

/** A backup runner (C, F) against its bare baseline (B, G): before, during and after pg_dump, and CPU. */
function backupBudget(runner: VariantResult, bare: VariantResult, cores: number): string[] {
  const dump = runner.processes.pg_dump;
  const baseDump = bare.processes.pg_dump;
  if (!dump || !baseDump) return [];
  const complete = runner.s3Operations?.CompleteMultipartUpload?.serverSeconds;
  const bareCpu = cpu(bare, 'pg_dump') + cpu(bare, 'postgres backends');
  const id = `${runner.id} − ${bare.id}`;
  return [
    `- **${id} = ${sec(runner.wallSeconds.median - bare.wallSeconds.median)}.** Before pg_dump started: ${sec(dump.firstSeenSeconds)} ` +
      `(node start and bundle load ${sec(runner.phases?.['backup started'] ?? 0)}, then HEAD, snapshot, ${runner.phases?.['backup streams'] === undefined ? '' : 'sizing the tables, '}globals). ` +
      `pg_dump ran ${sec(dump.lastSeenSeconds - dump.firstSeenSeconds)} (in ${bare.id}: ${sec(baseDump.lastSeenSeconds - baseDump.firstSeenSeconds)}). ` +
      `After it ended: ${sec(runner.wallSeconds.median - dump.lastSeenSeconds)}` +
      `${complete !== undefined ? `, of which the S3 server's CompleteMultipartUpload ${sec(complete)}` : ''}. ` +
      `CPU: ${bare.id} kept ${(bareCpu / bare.wallSeconds.median).toFixed(1)} of ${cores} cores busy (pg_dump ${cpu(bare, 'pg_dump').toFixed(1)} + its backends ${cpu(bare, 'postgres backends').toFixed(1)} CPU s); ` +
      `${runner.id} used pg_dump ${cpu(runner, 'pg_dump').toFixed(1)} + backends ${cpu(runner, 'postgres backends').toFixed(1)}, and adds the runner's ${cpu(runner, 'runner (node)').toFixed(1)} and ${runner.processes[S3_SINK_ROLE] ? 'the S3 sink' : 's3rver'}'s ${(cpu(runner, 's3rver (node)') + cpu(runner, S3_SINK_ROLE)).toFixed(1)} CPU s.`,
  ];
}

/** A restore runner (D, I) against bare pg_restore (E): before, during and after pg_restore. */
function restoreBudget(runner: VariantResult, bare: VariantResult): string[] {
  const restore = runner.processes.pg_restore;
  const baseRestore = bare.processes.pg_restore;
  if (!restore || !baseRestore) return [];
  const p = runner.phases ?? {};
  return [
    `- **${runner.id} − ${bare.id} = ${sec(runner.wallSeconds.median - bare.wallSeconds.median)}.** Before pg_restore started: ${sec(restore.firstSeenSeconds)} ` +
      `(node start, finding the manifest, download and SHA-256 ${sec(p.download ?? 0)}, globals). ` +
      `pg_restore ran ${sec(restore.lastSeenSeconds - restore.firstSeenSeconds)}${p.data === undefined ? '' : ` (data ${sec(p.data)})`} (in ${bare.id}: ${sec(baseRestore.lastSeenSeconds - baseRestore.firstSeenSeconds)}). ` +
      `After it ended: ${sec(runner.wallSeconds.median - restore.lastSeenSeconds)} (${p['post-data'] === undefined ? '' : `post-data ${sec(p['post-data'])} in a pg_restore of its own, then `}ANALYZE alongside verify ${sec(p.verify ?? 0)}, report).`,
  ];
}
