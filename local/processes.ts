import { spawn } from 'node:child_process';

/** What a finished process printed. */
export interface ProcessResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** A started process, for tests that act on it while it runs (signals, killing the server). */
export interface RunningProcess {
  readonly pid: number | undefined;
  readonly result: Promise<ProcessResult>;
  /** Resolves once stdout or stderr has printed a line matching `pattern`. */
  waitFor(pattern: RegExp): Promise<void>;
  kill(signal: NodeJS.Signals): void;
}

/**
 * Starts a TypeScript entrypoint of the repository (as `npm run dump` does) with exactly `env`
 * added to a minimal base environment: nothing of the developer's own AWS or libpq setup leaks in.
 */
export function startScript(script: string, env: Record<string, string>): RunningProcess {
  // `node --import tsx` rather than the tsx CLI: signals reach the program itself, as in a container.
  return startProcess(process.execPath, ['--import', 'tsx', script], env);
}

/**
 * Starts a program with `env` added to a minimal base environment. Always asynchronous: the test's
 * own S3 server runs in the test process and must keep answering.
 */
export function startProcess(
  file: string,
  args: readonly string[],
  env: Record<string, string>,
  cwd = process.cwd(),
): RunningProcess {
  const child = spawn(file, args, {
    cwd,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '/tmp',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  const waiters: { pattern: RegExp; resolve: () => void }[] = [];
  const check = () => {
    for (const w of [...waiters]) {
      if (w.pattern.test(stdout) || w.pattern.test(stderr)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
    }
  };
  child.stdout.on('data', (c: Buffer) => {
    stdout += c.toString();
    check();
  });
  child.stderr.on('data', (c: Buffer) => {
    stderr += c.toString();
    check();
  });
  const result = new Promise<ProcessResult>((resolve) => {
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
  return {
    pid: child.pid,
    result,
    waitFor: (pattern) =>
      new Promise<void>((resolve, reject) => {
        waiters.push({ pattern, resolve });
        check();
        result.then(() =>
          reject(new Error(`process ended before printing ${pattern}:\n${stdout}\n${stderr}`)),
        );
      }),
    kill: (signal) => child.kill(signal),
  };
}

/** Runs a TypeScript entrypoint to its end. */
export function runScript(script: string, env: Record<string, string>): Promise<ProcessResult> {
  return startScript(script, env).result;
}

/** The last non-empty line of a text. */
export function lastLine(text: string): string {
  return text.trim().split('\n').at(-1) ?? '';
}
