import { readdirSync, readFileSync, writeFileSync } from 'node:fs';

/**
 * Memory and CPU of every process a variant involves, read from /proc while it runs: the variant's
 * own process tree (pg_dump, the runner and what it starts), the S3 server's and the PostgreSQL
 * server's. Peak memory is the kernel's own high-water mark (VmHWM), so a short spike between two
 * samples is not missed; long-lived processes (the servers) have theirs reset when a window opens
 * (`/proc/<pid>/clear_refs`), so each variant sees only its own peak.
 */

/** One process as /proc shows it. */
export interface ProcessStat {
  readonly pid: number;
  readonly ppid: number;
  /** The executable's name (`/proc/<pid>/stat`'s comm), e.g. `pg_dump`, `node`, `postgres`. */
  readonly comm: string;
  /** User plus system CPU, in clock ticks. */
  readonly cpuTicks: number;
}

/** Parses `/proc/<pid>/stat`; comm may hold spaces and parentheses, so it is cut at the last `)`. */
export function parseStat(text: string): ProcessStat | undefined {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) return undefined;
  const rest = text.slice(close + 2).split(' ');
  // rest[0] is field 3 (state): ppid is field 4, utime 14, stime 15.
  const ppid = Number(rest[1]);
  const utime = Number(rest[11]);
  const stime = Number(rest[12]);
  if (!Number.isFinite(ppid) || !Number.isFinite(utime) || !Number.isFinite(stime)) return undefined;
  return {
    pid: Number(text.slice(0, open)),
    ppid,
    comm: text.slice(open + 1, close),
    cpuTicks: utime + stime,
  };
}

/** VmHWM and VmRSS of `/proc/<pid>/status`, in bytes. */
export function parseStatusMemory(text: string): { hwm: number; rss: number } {
  const kb = (field: string) =>
    Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? 0) * 1024;
  return { hwm: kb('VmHWM'), rss: kb('VmRSS') };
}

/**
 * Every process's parent, name and CPU: one pass over /proc. Synchronous on purpose: on this 2-core
 * machine the sampler must cost little (about 1 ms of CPU a pass; the same with promises costs ten times
 * that in thread-pool hops), and nothing in the bench process needs to answer meanwhile.
 */
function scanProcesses(): Map<number, ProcessStat> {
  const byPid = new Map<number, ProcessStat>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = readOptional(`/proc/${entry}/stat`);
    const parsed = stat === undefined ? undefined : parseStat(stat);
    if (parsed) byPid.set(parsed.pid, parsed);
  }
  return byPid;
}

/**
 * CPU the machine has been busy since boot, all cores together (`/proc/stat`: user, nice, system, irq,
 * softirq, steal), seconds: what other work on a shared machine took is this less the watched processes'.
 */
export function machineBusySeconds(stat = readOptional('/proc/stat') ?? ''): number {
  const fields = /^cpu\s+(.*)$/m.exec(stat)?.[1]?.split(/\s+/).map(Number) ?? [];
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = fields;
  return (user + nice + system + irq + softirq + steal) / TICKS_PER_SECOND;
}

/** A /proc file's text, or undefined when the process has gone. */
function readOptional(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** The pids of `root` and all its descendants. */
export function descendants(root: number, processes: ReadonlyMap<number, ProcessStat>): number[] {
  const children = new Map<number, number[]>();
  for (const p of processes.values()) {
    const list = children.get(p.ppid) ?? [];
    list.push(p.pid);
    children.set(p.ppid, list);
  }
  const found: number[] = [];
  const queue = processes.has(root) ? [root] : [];
  while (queue.length) {
    const pid = queue.shift() as number;
    found.push(pid);
    queue.push(...(children.get(pid) ?? []));
  }
  return found;
}

/** A process tree to watch, and what its processes are called in the report. */
export interface WatchedTree {
  readonly pid: number;
  /**
   * The report's name for a process of this tree, from its executable name and command line; undefined
   * while the process does not say yet (a server's child between fork and setting its title), when it is
   * asked again at the next sample.
   */
  readonly role: (comm: string, cmdline: string) => string | undefined;
  /** The name of a process whose role never said (default: the tree's name for its root). */
  readonly fallbackRole?: string;
}

/** What one process used during a window. */
export interface ProcessUsage {
  readonly pid: number;
  readonly role: string;
  /** Peak resident memory during the window, bytes. */
  readonly peakRssBytes: number;
  /** CPU (user + system) used during the window, seconds. */
  readonly cpuSeconds: number;
  /** When it was first and last seen alive, seconds after the window opened. */
  readonly firstSeenSeconds: number;
  readonly lastSeenSeconds: number;
  /** Largest sampled RSS in each quarter of its observed life, bytes: flat when memory does not grow. */
  readonly rssByQuarter: readonly number[];
  /** CPU of its main thread (all of it, for a single-threaded program), seconds. */
  readonly mainThreadCpuSeconds: number;
  /**
   * CPU used since the window opened, as sampled: [seconds after the window opened, CPU seconds, of which
   * its main thread's].
   */
  readonly cpuSamples: readonly (readonly [number, number, number])[];
}

/** CPU seconds, all threads' and the main thread's. */
export interface CpuUse {
  readonly cpuSeconds: number;
  readonly mainThreadCpuSeconds: number;
}

/** The time from the first start to the last end of a role's processes, seconds after the window opened. */
export interface Span {
  readonly from: number;
  readonly to: number;
}

/**
 * When a role's processes ran, from the first one's start to the last one's end; processes seen in one
 * sample only (a `pg_dump --version` check) do not count. Undefined when none ran longer.
 */
export function roleSpan(usages: readonly ProcessUsage[], role: string): Span | undefined {
  const lived = usages.filter((u) => u.role === role && u.lastSeenSeconds > u.firstSeenSeconds);
  if (lived.length === 0) return undefined;
  return {
    from: Math.min(...lived.map((u) => u.firstSeenSeconds)),
    to: Math.max(...lived.map((u) => u.lastSeenSeconds)),
  };
}

/** The CPU a process used within a span, from its samples (to the 100 ms they are apart). */
export function cpuWithin(usage: ProcessUsage, span: Span): CpuUse {
  const at = (t: number) => {
    let sample: readonly [number, number, number] = [0, 0, 0];
    for (const s of usage.cpuSamples) if (s[0] <= t) sample = s;
    return sample;
  };
  const [, fromAll, fromMain] = at(span.from);
  const [, toAll, toMain] = at(span.to);
  return { cpuSeconds: Math.max(0, toAll - fromAll), mainThreadCpuSeconds: Math.max(0, toMain - fromMain) };
}

/** The largest value in each quarter of the time the samples span. */
export function maxByQuarter(samples: readonly (readonly [number, number])[]): number[] {
  const quarters = [0, 0, 0, 0];
  const first = samples[0]?.[0];
  const last = samples.at(-1)?.[0];
  if (first === undefined || last === undefined) return quarters;
  const span = Math.max(last - first, 1e-9);
  for (const [t, value] of samples) {
    const q = Math.min(3, Math.floor(((t - first) / span) * 4));
    quarters[q] = Math.max(quarters[q] as number, value);
  }
  return quarters;
}

/** Resets a live process's peak RSS (VmHWM) to its current RSS; false when not allowed. */
function resetPeak(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

interface Tracked {
  role: string | undefined;
  fallbackRole: string;
  /** The name the role was given for: a child caught between fork and exec still has its parent's. */
  comm: string;
  startTicks: number;
  lastTicks: number;
  mainStartTicks: number;
  mainLastTicks: number;
  peak: number;
  /** Its high-water mark covers only this window (born in it, or reset at its start). */
  hwmIsWindowed: boolean;
  firstSeenMs: number;
  lastSeenMs: number;
  rssSamples: [number, number][];
  cpuSamples: [number, number, number][];
}

const TICKS_PER_SECOND = 100;

/** One measurement window: sample until {@link MonitorWindow.close}. */
export class MonitorWindow {
  private readonly tracked = new Map<number, Tracked>();
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly openedAt = performance.now();
  private readonly machineBusyAtOpen = machineBusySeconds();
  /** CPU the whole machine used while the window was open (every process, watched or not), seconds. */
  machineCpuSeconds = 0;

  private constructor(
    private readonly trees: () => readonly WatchedTree[],
    private readonly intervalMs: number,
  ) {}

  /**
   * Opens a window over the trees `trees()` returns (asked at every sample, so a tree whose root
   * starts later is picked up). Processes alive now have their peak reset (root only) or, failing
   * that, are judged by their sampled RSS.
   */
  static open(trees: () => readonly WatchedTree[], intervalMs = 100): MonitorWindow {
    const window = new MonitorWindow(trees, intervalMs);
    window.sample(true);
    window.schedule();
    return window;
  }

  private schedule(): void {
    this.timer = setTimeout(() => {
      this.sample(false);
      if (!this.closed) this.schedule();
    }, this.intervalMs);
  }

  private sample(first: boolean): void {
    const processes = scanProcesses();
    const now = performance.now() - this.openedAt;
    for (const tree of this.trees()) {
      for (const pid of descendants(tree.pid, processes)) {
        const stat = processes.get(pid) as ProcessStat;
        // The main thread is the task whose id is the process's (a Node.js runner's event loop).
        const mainTicks = parseStat(readOptional(`/proc/${pid}/task/${pid}/stat`) ?? '')?.cpuTicks ?? 0;
        const role = () =>
          tree.role(stat.comm, (readOptional(`/proc/${pid}/cmdline`) ?? '').replaceAll('\0', ' ').trim());
        let entry = this.tracked.get(pid);
        if (!entry) {
          entry = {
            role: role(),
            fallbackRole: tree.fallbackRole ?? 'unknown',
            comm: stat.comm,
            startTicks: first ? stat.cpuTicks : 0,
            lastTicks: stat.cpuTicks,
            mainStartTicks: first ? mainTicks : 0,
            mainLastTicks: mainTicks,
            peak: 0,
            // Born in the window, or alive and reset now ("5" resets the peak RSS): the mark is this window's.
            hwmIsWindowed: !first || resetPeak(pid),
            firstSeenMs: now,
            lastSeenMs: now,
            rssSamples: [],
            cpuSamples: [],
          };
          this.tracked.set(pid, entry);
        } else if (entry.comm !== stat.comm) {
          // First seen between fork and exec, under its parent's name and memory: start over as itself.
          entry.role = role();
          entry.comm = stat.comm;
          entry.peak = 0;
          entry.rssSamples = [];
        } else if (entry.role === undefined) {
          entry.role = role();
        }
        entry.lastTicks = Math.max(entry.lastTicks, stat.cpuTicks);
        entry.lastSeenMs = now;
        entry.mainLastTicks = Math.max(entry.mainLastTicks, mainTicks);
        entry.cpuSamples.push([
          now / 1000,
          (entry.lastTicks - entry.startTicks) / TICKS_PER_SECOND,
          (entry.mainLastTicks - entry.mainStartTicks) / TICKS_PER_SECOND,
        ]);
        const status = readOptional(`/proc/${pid}/status`);
        const memory = status === undefined ? undefined : parseStatusMemory(status);
        if (memory && memory.rss > 0) {
          entry.peak = Math.max(entry.peak, entry.hwmIsWindowed ? memory.hwm : memory.rss);
          entry.rssSamples.push([now, memory.rss]);
        }
      }
    }
  }

  /** Takes a last sample and returns what every process seen used. */
  close(): ProcessUsage[] {
    this.closed = true;
    clearTimeout(this.timer);
    this.sample(false);
    this.machineCpuSeconds = machineBusySeconds() - this.machineBusyAtOpen;
    return [...this.tracked].map(([pid, t]) => ({
      pid,
      role: t.role ?? t.fallbackRole,
      peakRssBytes: t.peak,
      cpuSeconds: (t.lastTicks - t.startTicks) / TICKS_PER_SECOND,
      mainThreadCpuSeconds: (t.mainLastTicks - t.mainStartTicks) / TICKS_PER_SECOND,
      firstSeenSeconds: t.firstSeenMs / 1000,
      lastSeenSeconds: t.lastSeenMs / 1000,
      rssByQuarter: maxByQuarter(t.rssSamples),
      cpuSamples: t.cpuSamples,
    }));
  }
}

/** Usage of all processes of one role. */
export interface RoleUsage {
  /** How many processes of this role ran (pg_restore -j forks workers, a server has backends). */
  readonly processes: number;
  /** The largest peak of any one of them, bytes. */
  readonly peakRssBytes: number;
  /** Their CPU together, seconds. */
  readonly cpuSeconds: number;
  /** When the longest-lived of them started and ended, as sampled: seconds after the variant started. */
  readonly firstSeenSeconds: number;
  readonly lastSeenSeconds: number;
  /** Of the process with the largest peak: see {@link ProcessUsage.rssByQuarter}. */
  readonly rssByQuarter: readonly number[];
  /** Their main threads' CPU together, seconds (the part one thread must do in turn). */
  readonly mainThreadCpuSeconds: number;
  /** Their CPU together within the span `byRole` was given (while the variant's pg_dump ran). */
  readonly inSpan?: CpuUse;
}

function addCpu(a: CpuUse | undefined, b: CpuUse): CpuUse {
  return {
    cpuSeconds: (a?.cpuSeconds ?? 0) + b.cpuSeconds,
    mainThreadCpuSeconds: (a?.mainThreadCpuSeconds ?? 0) + b.mainThreadCpuSeconds,
  };
}

/**
 * Groups processes by role. Processes that used no CPU and hold no memory of note are kept: they ran.
 * With a `span`, each role's CPU within it too.
 */
export function byRole(usages: readonly ProcessUsage[], span?: Span): Record<string, RoleUsage> {
  const roles: Record<string, RoleUsage> = {};
  for (const u of usages) {
    const r = roles[u.role];
    roles[u.role] = {
      processes: (r?.processes ?? 0) + 1,
      peakRssBytes: Math.max(r?.peakRssBytes ?? 0, u.peakRssBytes),
      cpuSeconds: (r?.cpuSeconds ?? 0) + u.cpuSeconds,
      mainThreadCpuSeconds: (r?.mainThreadCpuSeconds ?? 0) + u.mainThreadCpuSeconds,
      ...(span ? { inSpan: addCpu(r?.inSpan, cpuWithin(u, span)) } : {}),
      // The main process's span (the longest-lived: pg_dump's dump, not its --version check).
      ...(r && r.lastSeenSeconds - r.firstSeenSeconds >= u.lastSeenSeconds - u.firstSeenSeconds
        ? { firstSeenSeconds: r.firstSeenSeconds, lastSeenSeconds: r.lastSeenSeconds }
        : { firstSeenSeconds: u.firstSeenSeconds, lastSeenSeconds: u.lastSeenSeconds }),
      rssByQuarter: r && r.peakRssBytes >= u.peakRssBytes ? r.rssByQuarter : u.rssByQuarter,
    };
  }
  return roles;
}
