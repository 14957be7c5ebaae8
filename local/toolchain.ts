import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export { type Toolchain, toolchain } from '../core/toolchain.ts';

const clientScript = fileURLToPath(new URL('../scripts/postgres-client.sh', import.meta.url));

/**
 * The bin folder of the production PostgreSQL client (pg_dump, pg_dumpall, pg_restore, psql) as
 * `scripts/postgres-client.sh` builds it on this machine. `build: true` builds it when missing (about
 * 30 s and 200 MB once, as root); `build: false` returns `undefined` when it has not been built.
 */
export function productionClientBinDir(options: { build: boolean }): string | undefined {
  const args = options.build ? [clientScript] : [clientScript, '--if-built'];
  const stdout = execFileSync('bash', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  return stdout.trim().split('\n').at(-1) || undefined;
}
