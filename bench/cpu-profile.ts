import { readFile } from 'node:fs/promises';

/**
 * Where a runner's CPU goes, from a V8 CPU profile (`node --cpu-prof`) of the bundled runner. The
 * bundle keeps esbuild's `// node_modules/<package>/...` and `// engines/...` markers before each
 * module, so every sampled function is attributed to the source module (and package) it came from.
 */

/** The parts of a `.cpuprofile` this reads. */
export interface CpuProfile {
  readonly nodes: readonly {
    readonly id: number;
    readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
  }[];
  readonly samples: readonly number[];
  /** Microseconds before each sample. */
  readonly timeDeltas: readonly number[];
  readonly startTime: number;
  readonly endTime: number;
}

/** The module each line range of a bundle came from: esbuild's marker comments, in line order. */
export function bundleModules(bundle: string): { readonly line: number; readonly module: string }[] {
  const modules: { line: number; module: string }[] = [];
  bundle.split('\n').forEach((text, index) => {
    const match = /^\/\/ ((?:node_modules|engines|containers|core)\/\S+)$/.exec(text);
    if (match?.[1]) modules.push({ line: index, module: match[1] });
  });
  return modules;
}

/** `node_modules/@aws-sdk/client-s3/dist-es/x.js` -> `@aws-sdk/client-s3`; our own files stay as they are. */
export function packageOf(module: string): string {
  const match = /^node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(module);
  return match?.[1] ?? module;
}

/** One line of a breakdown. */
export interface CpuShare {
  readonly name: string;
  readonly seconds: number;
  /** Of the profile's whole duration (idle included). */
  readonly share: number;
}

/** A profile's breakdown by where the code came from, and its busiest functions. */
export interface CpuBreakdown {
  readonly wallSeconds: number;
  /** Time the main thread waited (event loop idle). */
  readonly idleSeconds: number;
  readonly bySource: readonly CpuShare[];
  readonly topFunctions: readonly CpuShare[];
}

/** V8's pseudo-frames, named as the profile names them. */
const PSEUDO = new Set(['(idle)', '(program)', '(garbage collector)', '(root)']);

/**
 * Summarises a profile. `modules` maps the bundle's lines to modules (see {@link bundleModules});
 * `bundleUrl` tells bundle frames from Node's own.
 */
export function summarizeProfile(
  profile: CpuProfile,
  bundleUrl: string,
  modules: readonly { line: number; module: string }[],
  top = 12,
): CpuBreakdown {
  const nodes = new Map(profile.nodes.map((n) => [n.id, n.callFrame]));
  const selfMicros = new Map<number, number>();
  profile.samples.forEach((id, i) => {
    selfMicros.set(id, (selfMicros.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  });
  const wallMicros = profile.endTime - profile.startTime;
  const moduleAt = (line: number): string => {
    let low = 0;
    let high = modules.length - 1;
    let found = '(bundle prelude)';
    while (low <= high) {
      const mid = (low + high) >> 1;
      const entry = modules[mid] as { line: number; module: string };
      if (entry.line <= line) {
        found = entry.module;
        low = mid + 1;
      } else high = mid - 1;
    }
    return found;
  };
  const bySource = new Map<string, number>();
  const byFunction = new Map<string, number>();
  let idle = 0;
  for (const [id, micros] of selfMicros) {
    const frame = nodes.get(id);
    if (!frame) continue;
    let source: string;
    let where: string;
    if (PSEUDO.has(frame.functionName)) {
      source = frame.functionName;
      where = frame.functionName;
      if (frame.functionName === '(idle)') idle += micros;
    } else if (frame.url === bundleUrl || frame.url.endsWith(bundleUrl)) {
      const module = moduleAt(frame.lineNumber);
      source = packageOf(module);
      where = `${frame.functionName || '(anonymous)'} (${module.replace(/^node_modules\//, '')})`;
    } else if (frame.url === '' || frame.url.startsWith('node:')) {
      source = 'node (built-in)';
      where = `${frame.functionName || '(anonymous)'} (${frame.url || 'native'})`;
    } else {
      source = frame.url;
      where = `${frame.functionName || '(anonymous)'} (${frame.url})`;
    }
    bySource.set(source, (bySource.get(source) ?? 0) + micros);
    if (!PSEUDO.has(source)) byFunction.set(where, (byFunction.get(where) ?? 0) + micros);
  }
  const shares = (map: Map<string, number>, limit: number): CpuShare[] =>
    [...map]
      .sort((a, b) => b[1] - a[1])
      .slice(0, limit)
      .map(([name, micros]) => ({
        name,
        seconds: micros / 1e6,
        share: wallMicros > 0 ? micros / wallMicros : 0,
      }));
  return {
    wallSeconds: wallMicros / 1e6,
    idleSeconds: idle / 1e6,
    bySource: shares(bySource, top),
    topFunctions: shares(byFunction, top),
  };
}

/** Reads and summarises a profile written by a run of `bundlePath`. */
export async function summarizeProfileFile(profilePath: string, bundlePath: string): Promise<CpuBreakdown> {
  const [profile, bundle] = await Promise.all([readFile(profilePath, 'utf8'), readFile(bundlePath, 'utf8')]);
  const name = bundlePath.split('/').at(-1) ?? bundlePath;
  return summarizeProfile(JSON.parse(profile) as CpuProfile, name, bundleModules(bundle));
}
