import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';

/**
 * The toolchain production runs, read from `scripts/toolchain.json` (the one place it is written), and
 * the PostgreSQL client of that major as `scripts/postgres-client.sh` builds it on this machine.
 */

const toolchainFile = fileURLToPath(new URL('../scripts/toolchain.json', import.meta.url));
const clientScript = fileURLToPath(new URL('../scripts/postgres-client.sh', import.meta.url));

const toolchainSchema = z.object({
  postgresClientMajor: z.number().int().min(10),
  postgresServerMajors: z.array(z.number().int().min(10)).min(1),
  nodeMajor: z.number().int().min(20),
});

/** What production runs: the client major the image installs, the server majors tested, Node's major. */
export type Toolchain = z.infer<typeof toolchainSchema>;

/** The production toolchain (`scripts/toolchain.json`). */
export const toolchain: Toolchain = toolchainSchema.parse(JSON.parse(readFileSync(toolchainFile, 'utf8')));

/**
 * The bin folder of the production PostgreSQL client (pg_dump, pg_dumpall, pg_restore, psql).
 * `build: true` builds it when missing (about 30 s and 200 MB once, as root); `build: false` returns
 * `undefined` when it has not been built.
 */
export function productionClientBinDir(options: { build: boolean }): string | undefined {
  const args = options.build ? [clientScript] : [clientScript, '--if-built'];
  const stdout = execFileSync('bash', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  return stdout.trim().split('\n').at(-1) || undefined;
}
