import { clientVersion } from '../../engines/backup/pg-tools.ts';
import { restoreArchive } from '../../engines/restore/restore-tools.ts';
import type { PgCluster } from './postgres.ts';

/**
 * Restores an archive file into a database of `cluster` with the pg_restore on PATH (the production
 * client), as a plain `pg_restore --no-owner -j N` would, with the runner's benign-error rules deciding
 * what pg_restore reports (the 17+ client's `transaction_timeout` on older servers). Throws on any other
 * error; returns the ids of the rules that accepted an error.
 */
export async function pgRestoreInto(
  cluster: PgCluster,
  database: string,
  file: string,
  jobs = 1,
): Promise<string[]> {
  const client = await clientVersion('pg_restore');
  // pg_restore takes the password from libpq's environment (every harness cluster has the same one).
  process.env.PGPASSWORD = cluster.password;
  const result = await restoreArchive(
    'pg_restore',
    file,
    { host: cluster.host, port: cluster.port, user: cluster.user, database },
    {
      jobs,
      tables: [],
      schemas: [],
      clean: false,
      noOwner: true,
      noPrivileges: true,
      context: { targetMajor: cluster.major, clientMajor: client.major },
    },
  );
  if (!result.passed) throw new Error(`pg_restore into ${database} failed: ${result.errors.join(' | ')}`);
  return [...new Set(result.ignored.map((e) => e.rule))];
}
