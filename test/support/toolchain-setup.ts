import { motoServerBinDir } from '../../local/moto-server.ts';
import { productionClientBinDir } from '../../local/toolchain.ts';

/**
 * vitest global setup: every test runs the PostgreSQL client production ships. The client is built when
 * missing, and its bin folder goes first on PATH, so `pg_dump`, `pg_restore` and `psql` (the runners'
 * default when PG_BIN_DIR is unset) are that client in this process and in every child it starts.
 * Tests that want another client (the version matrix's Debian rows) pass PG_BIN_DIR.
 *
 * moto's S3 server (scripts/moto-server.sh) is built here too, once, so no test file waits for it;
 * `startMoto` finds it through PGPROOF_MOTO_BIN_DIR.
 */
export default function setup(): void {
  const binDir = productionClientBinDir({ build: true });
  if (!binDir) throw new Error('scripts/postgres-client.sh printed no bin folder');
  process.env.PATH = `${binDir}:${process.env.PATH ?? ''}`;
  process.env.PGPROOF_PRODUCTION_CLIENT_BIN_DIR = binDir;
  const motoBinDir = motoServerBinDir({ build: true });
  if (!motoBinDir) throw new Error('scripts/moto-server.sh printed no bin folder');
  process.env.PGPROOF_MOTO_BIN_DIR = motoBinDir;
}
