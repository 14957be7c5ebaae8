/**
 * What the CLI prints: tables, sizes and ages a person reads at a glance, JSON for scripts, and a
 * progress bar on stderr when it is a terminal.
 */

/** Where a command writes: stdout for results, stderr for progress and errors. */
export interface Output {
  readonly json: boolean;
  out(line: string): void;
  err(line: string): void;
  /** A progress display; silent when stderr is not a terminal or output is JSON. */
  progress(label: string): Progress;
}

/** A progress bar for one task. */
export interface Progress {
  update(done: number, total: number): void;
  done(message?: string): void;
}

const silent: Progress = { update() {}, done() {} };

/** The process's output. */
export function processOutput(json: boolean): Output {
  const tty = Boolean(process.stderr.isTTY) && !json;
  return {
    json,
    out: (line) => process.stdout.write(`${line}\n`),
    err: (line) => process.stderr.write(`${line}\n`),
    progress(label) {
      if (!tty) return silent;
      let last = 0;
      return {
        update(done, total) {
          const now = Date.now();
          if (now - last < 100 && done < total) return;
          last = now;
          process.stderr.write(`\r${progressLine(label, done, total, 30)}`);
        },
        done(message) {
          process.stderr.write(`\r\x1b[2K${message ? `${label}: ${message}\n` : ''}`);
        },
      };
    },
  };
}

/** `label [#########.........]  45% 1.2 GB / 2.7 GB`; `label ...` when the total is unknown. */
export function progressLine(label: string, done: number, total: number, width: number): string {
  // No size known (a phase such as the restore itself): say it is under way.
  if (total <= 0) return `${label} ...`;
  const fraction = total > 0 ? Math.min(1, done / total) : 1;
  const filled = Math.round(fraction * width);
  const percent = `${Math.floor(fraction * 100)}%`.padStart(4);
  return `${label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${percent} ${formatBytes(done)} / ${formatBytes(total)}`;
}

/** 1536 → `1.5 KB` (decimal units, as S3's console shows). */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

/** An age: `45s`, `12m`, `5h`, `3d 4h`. */
export function formatAge(milliseconds: number): string {
  const seconds = Math.max(0, Math.round(milliseconds / 1000));
  if (seconds < 60) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours}h`;
  const days = Math.floor(hours / 24);
  return hours % 24 ? `${days}d ${hours % 24}h` : `${days}d`;
}

/** Aligns rows under a header, two spaces between columns. */
export function formatTable(header: readonly string[], rows: readonly (readonly string[])[]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)];
}
