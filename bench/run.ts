import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { productionClientBinDir } from '../local/toolchain.ts';
import { systemBinDir } from '../test/support/postgres.ts';
import { startProcess } from '../test/support/processes.ts';
import { s3rverClient } from '../test/support/s3.ts';
import { summarizeProfileFile } from './cpu-profile.ts';
import { BENCH_DATA_DIR, prepareDataSet, startBenchCluster } from './dataset.ts';
import { formatTarget, S3_SINK_ROLE } from './format.ts';
import { describeMachine } from './machine.ts';
import { renderMarkdown } from './markdown.ts';
import { type BenchContext, findPostmasterPid, settle, type VariantRun } from './measured-run.ts';
import { withStreamModel } from './model.ts';
import { type BenchOptions, parseOptions, UsageError, type VariantId } from './options.ts';
import {
  type BenchResults,
  RUNNER_VARIANTS,
  type ScaleResult,
  summarizeVariant,
  targetRatios,
} from './results.ts';
import { runVariant } from './variants.ts';

/**
 * `npm run bench`: builds the data sets, runs the variants in interleaved rounds at each scale, and
 * writes bench/results.json and bench/RESULTS.md. `npm run bench -- --help` lists the flags.
 */

const log = (line: string) =>
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}\n`);

/** The S3 server, running in a process of its own (see s3-server.ts). */
interface S3Process {
  readonly context: BenchContext['s3'];
  stop(): Promise<void>;
}

async function startS3Process(workDir: string, kind: BenchOptions['s3']): Promise<S3Process> {
  const infoFile = join(workDir, 's3-server.json');
  const script = kind === 'sink' ? 'bench/s3-sink.ts' : 'bench/s3-server.ts';
  const child = startProcess(process.execPath, ['--import', 'tsx', script, infoFile], {});
  await child.waitFor(/^ready$/m);
  const info = JSON.parse(await readFile(infoFile, 'utf8')) as {
    endpoint: string;
    bucket: string;
    env: Record<string, string>;
    requestLog: string;
  };
  const client = s3rverClient(info.endpoint);
  return {
    context: {
      client,
      bucket: info.bucket,
      env: info.env,
      pid: child.pid as number,
      requestLog: info.requestLog,
      role: kind === 'sink' ? S3_SINK_ROLE : 's3rver (node)',
    },
    async stop() {
      client.destroy();
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await child.result;
      clearTimeout(timer);
    },
  };
}

/** Runs the runners (C, D, F, I) once more under `node --cpu-prof` and summarises where their CPU went. */
async function profileRunners(
  context: BenchContext,
  round: number,
  variants: readonly VariantId[],
): Promise<ScaleResult['profiles']> {
  const profiles: NonNullable<ScaleResult['profiles']> = {};
  for (const id of RUNNER_VARIANTS.filter((v) => variants.includes(v))) {
    const dir = join(context.workDir, `profile-${id}`);
    await rm(dir, { recursive: true, force: true });
    await runVariant({ ...context, nodeFlags: ['--cpu-prof', `--cpu-prof-dir=${dir}`] }, id, round);
    await settle(context);
    const [file] = await readdir(dir);
    if (!file) throw new Error(`node --cpu-prof wrote no profile for ${id}`);
    const bundle = join(context.distDir, id === 'C' || id === 'F' ? 'pg-dump.mjs' : 'pg-restore.mjs');
    const profile = await summarizeProfileFile(join(dir, file), bundle);
    profiles[id] = profile;
    log(
      `profiled ${id}: ${profile.bySource
        .slice(0, 4)
        .map((s) => `${s.name} ${s.seconds.toFixed(1)}s`)
        .join(', ')}`,
    );
  }
  return profiles;
}

/** All rounds of all variants at one scale. */
async function runScale(options: BenchOptions, context: BenchContext, cores: number): Promise<ScaleResult> {
  const { dataSet } = context;
  log(`warming the page cache: one untimed pg_dump of ${dataSet.database}`);
  const warm = await startProcess(
    join(context.binDir, 'pg_dump'),
    ['--format=custom', '--compress=0', '--no-sync', '--file=/dev/null'],
    context.cluster.env(dataSet.database),
  ).result;
  if (warm.code !== 0) throw new Error(`the warm-up pg_dump failed: ${warm.stderr}`);

  const runs = new Map<VariantId, VariantRun[]>(options.variants.map((id) => [id, []]));
  for (let round = 1; round <= options.rounds; round++) {
    for (const id of options.variants) {
      const run = await runVariant(context, id, round);
      runs.get(id)?.push(run);
      log(
        `${dataSet.label} round ${round}/${options.rounds} ${id}: ${run.wallSeconds.toFixed(2)} s, output ${(run.outputBytes / 1e6).toFixed(1)} MB${(run.dumpObjects ?? 1) > 1 ? ` in ${run.dumpObjects} objects${run.streams ? ` (${run.streams.archiveBytes.length} streams)` : ''}` : ''}`,
      );
      await settle(context);
    }
  }
  const variants: ScaleResult['variants'] = {};
  for (const id of options.variants) {
    const rounds = runs.get(id);
    if (rounds?.length) variants[id] = summarizeVariant(id, rounds, dataSet.bytes, options.streams);
  }
  const ratios = targetRatios(variants);
  for (const r of ratios)
    log(`${dataSet.label} ${r.name} = ${r.value.toFixed(3)} (target ${formatTarget(r)})`);
  const profiles = options.profile
    ? await profileRunners(context, options.rounds + 1, options.variants)
    : undefined;
  const result = withStreamModel(
    { dataSet, variants, ratios, ...(profiles ? { profiles } : {}) },
    cores,
    options.streams,
  );
  const { streamModel } = result;
  if (streamModel) {
    log(`${dataSet.label}: the stream model's assumptions (bench/model.ts):`);
    for (const line of streamModel.assumptions) log(`  - ${line}`);
    for (const p of streamModel.predictions)
      log(
        `  ${streamModel.machine.name}, ${p.streams} stream${p.streams === 1 ? '' : 's'}: ${p.seconds.toFixed(1)} s (${p.bound}), bare pg_dump -j ${p.streams} ${p.bareSeconds.toFixed(1)} s`,
      );
  }
  return result;
}

async function main(options: BenchOptions): Promise<void> {
  const started = Date.now();
  const workRoot = join(process.cwd(), BENCH_DATA_DIR);
  const workDir = join(workRoot, 'work');
  const distDir = join(workRoot, 'dist');
  await rm(workDir, { recursive: true, force: true });
  await mkdir(workDir, { recursive: true });

  log('bundling the runners as the container image does (node containers/build.mjs)');
  const build = await startProcess(process.execPath, ['containers/build.mjs', distDir], {}).result;
  if (build.code !== 0) throw new Error(`bundling the runners failed: ${build.stderr}`);

  // The client production ships, when built: C/A and D/E are then what the image would measure.
  const binDir = options.clientBinDir ?? productionClientBinDir({ build: false }) ?? systemBinDir();
  log(`PostgreSQL client: ${binDir}`);
  log(
    options.reuse
      ? `starting the cluster kept in ${BENCH_DATA_DIR}/postgres`
      : 'starting a throwaway cluster',
  );
  const cluster = await startBenchCluster(options.reuse);
  let s3: S3Process | undefined;
  try {
    s3 = await startS3Process(workDir, options.s3);
    const machine = await describeMachine(cluster, binDir);
    const postmasterPid = await findPostmasterPid(cluster);
    const scales: ScaleResult[] = [];
    for (const scale of options.scales) {
      const dataSet = await prepareDataSet(cluster, options.dataSet, scale, log);
      log(`data set ${dataSet.database}: ${(dataSet.bytes / 1e6).toFixed(0)} MB`);
      const context: BenchContext = {
        cluster,
        dataSet,
        s3: s3.context,
        postmasterPid,
        distDir,
        workDir,
        binDir,
        jobs: availableParallelism(),
        streams: options.streams,
        nodeFlags: [],
        runnerEnv: options.runnerEnv,
      };
      scales.push(await runScale(options, context, machine.cores));
      const results: BenchResults = {
        generatedAt: new Date().toISOString(),
        command: `npm run bench -- ${process.argv.slice(2).join(' ')}`.trim(),
        machine,
        options,
        scales,
      };
      // Written after every scale: a run cut short still leaves what it measured.
      await mkdir(options.outDir, { recursive: true });
      await writeFile(join(options.outDir, 'results.json'), `${JSON.stringify(results, null, 2)}\n`);
      await writeFile(join(options.outDir, 'RESULTS.md'), renderMarkdown(results));
    }
    log(`done in ${((Date.now() - started) / 1000).toFixed(0)} s: ${join(options.outDir, 'RESULTS.md')}`);
  } finally {
    await s3?.stop();
    await cluster.stop();
    await rm(workDir, { recursive: true, force: true });
  }
}

try {
  await main(parseOptions(process.argv.slice(2)));
} catch (error) {
  process.stderr.write(
    `${error instanceof UsageError ? error.message : `bench failed: ${(error as Error).stack ?? error}`}\n`,
  );
  process.exitCode = error instanceof UsageError && /^usage/.test(error.message) ? 0 : 1;
}
