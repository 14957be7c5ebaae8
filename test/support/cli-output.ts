import type { Output, Progress } from '../../cli/output.ts';

/** An Output that records what a CLI command printed. */
export interface RecordedOutput extends Output {
  readonly stdout: string[];
  readonly stderr: string[];
}

/** Records stdout and stderr lines; progress is silent. */
export function recordOutput(json = false): RecordedOutput {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const silent: Progress = { update() {}, done() {} };
  return {
    json,
    stdout,
    stderr,
    out: (line) => stdout.push(...line.split('\n')),
    err: (line) => stderr.push(...line.split('\n')),
    progress: () => silent,
  };
}
