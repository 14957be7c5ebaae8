import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { availableParallelism, release, totalmem } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { PgCluster } from '../test/support/postgres.ts';

/** The machine a run measured, as RESULTS.md states it. */
export interface Machine {
  readonly cpu: string;
  readonly cores: number;
  readonly memoryBytes: number;
  readonly kernel: string;
  readonly postgresServer: string;
  readonly postgresClient: string;
  readonly node: string;
}

/** Describes this machine and the PostgreSQL server and client the run used. */
export async function describeMachine(cluster: PgCluster, binDir: string): Promise<Machine> {
  const cpuinfo = await readFile('/proc/cpuinfo', 'utf8').catch(() => '');
  const [server] = await cluster.query<{ version: string }>(
    'postgres',
    "SELECT current_setting('server_version') AS version",
  );
  const { stdout } = await promisify(execFile)(join(binDir, 'pg_dump'), ['--version']);
  return {
    cpu: /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? 'unknown',
    cores: availableParallelism(),
    memoryBytes: totalmem(),
    kernel: `Linux ${release()}`,
    postgresServer: server?.version ?? 'unknown',
    postgresClient: stdout.trim(),
    node: process.version,
  };
}
