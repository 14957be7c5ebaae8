import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { backupKeys } from '../../../core/layout.ts';
import { type Manifest, parseManifest } from '../../../core/manifest.ts';
import { runBackup } from '../../../engines/backup/backup.ts';
import type { AuthTokenProvider } from '../../../engines/backup/iam-token.ts';
import { readSettings } from '../../../engines/backup/settings.ts';
import { type MotoServer, startMoto } from '../../support/moto.ts';
import { type PgCluster, startPostgres } from '../../support/postgres.ts';
import { lastLine, runScript } from '../../support/processes.ts';
import { seedRichDatabase } from '../../support/seed.ts';

const RUNNER = 'containers/pg-dump/main.ts';
const USER = 'pgproof_backup';

/** A certificate authority, and a server certificate for `localhost` it signed, made with openssl. */
function makeCertificates(dir: string): { ca: string; otherCa: string; cert: string; key: string } {
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  for (const name of ['ca', 'other-ca']) {
    openssl(
      'req', '-x509', ...ec, '-keyout', `${name}.key`, '-out', `${name}.crt`, '-days', '2',
      '-subj', `/CN=pgproof test ${name}`,
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
    ); // biome-ignore format: openssl arguments read best as one command line
  }
  openssl('req', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost');
  writeFileSync(
    join(dir, 'server.ext'),
    'subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n',
  );
  openssl(
    'x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial',
    '-out', 'server.crt', '-days', '2', '-extfile', 'server.ext',
  ); // biome-ignore format: openssl arguments read best as one command line
  // The server runs as `postgres` when the tests run as root: it must own its key (mode 600) and reach the folder.
  chmodSync(dir, 0o755);
  chmodSync(join(dir, 'server.key'), 0o600);
  if (process.getuid?.() === 0) {
    const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }).trim());
    chownSync(join(dir, 'server.key'), id('-u'), id('-g'));
  }
  return {
    ca: join(dir, 'ca.crt'),
    otherCa: join(dir, 'other-ca.crt'),
    cert: join(dir, 'server.crt'),
    key: join(dir, 'server.key'),
  };
}

/**
 * IAM database authentication against a real PostgreSQL with TLS on a certificate authority of the
 * test's own: the backup role's password is what the injected token provider hands out, so a connection
 * that logs in took the provided token; the role may log in over TLS only.
 */
describe('backup runner with IAM database authentication', () => {
  let cluster: PgCluster;
  let s3: MotoServer;
  let dir: string;
  let tls: ReturnType<typeof makeCertificates>;
  // Shaped like a real token (a presigned URL); the role's password.
  const TOKEN = `localhost:5432/?Action=connect&DBUser=${USER}&X-Amz-Expires=900&X-Amz-Signature=${'5eed'.repeat(16)}`;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pgproof-iam-'));
    tls = makeCertificates(dir);
    [cluster, s3] = await Promise.all([
      startPostgres({ settings: { ssl: 'on', ssl_cert_file: tls.cert, ssl_key_file: tls.key } }),
      startMoto(),
    ]);
    await seedRichDatabase(cluster, 'shop', 200);
    await cluster.query(
      'shop',
      // pg_read_all_data covers tables, views and sequences; large objects need a grant of their own.
      `CREATE ROLE ${USER} LOGIN PASSWORD '${TOKEN}';
       GRANT pg_read_all_data TO ${USER};
       DO $$ DECLARE lo oid; BEGIN
         FOR lo IN SELECT oid FROM pg_largeobject_metadata LOOP
           EXECUTE format('GRANT SELECT ON LARGE OBJECT %s TO ${USER}', lo);
         END LOOP;
       END $$;`,
    );
    // As RDS with rds.force_ssl: the backup role is refused without TLS.
    const [hba] = await cluster.query<{ hba_file: string }>('postgres', 'SHOW hba_file');
    const file = hba?.hba_file ?? '';
    writeFileSync(file, `hostnossl all ${USER} all reject\n${readFileSync(file, 'utf8')}`);
    await cluster.query('postgres', 'SELECT pg_reload_conf()');
  });
  afterAll(async () => {
    await Promise.all([cluster?.stop(), s3?.stop()]);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** The runner's environment: libpq's variables as ECS gives them, without a password. */
  const environment = (id: string, extra: Record<string, string> = {}): Record<string, string> => ({
    PGHOST: 'localhost',
    PGPORT: String(cluster.port),
    PGUSER: USER,
    PGDATABASE: 'shop',
    PGSSLMODE: 'verify-full',
    PGSSLROOTCERT: tls.ca,
    PG_IAM_AUTH: 'true',
    // Nothing but the token may log in: no password file either.
    PGPASSFILE: join(dir, 'no-such-pgpass'),
    ...s3.env,
    BACKUP_ID: id,
    ...extra,
  });

  describe('in process, with an injected token provider', () => {
    const logs: string[] = [];
    beforeEach(() => {
      logs.length = 0;
    });
    afterEach(() => {
      vi.unstubAllEnvs();
    });

    /**
     * Runs the backup core as main.ts does. pg_dump and pg_dumpall read libpq's variables from this
     * process's environment, as they do from the container's.
     */
    const backUp = (env: Record<string, string>, authToken: AuthTokenProvider): Promise<Manifest> => {
      for (const [name, value] of Object.entries(env)) vi.stubEnv(name, value);
      const settings = readSettings(env, new Date());
      return runBackup(settings, {
        s3: s3.client,
        authToken,
        now: () => new Date(),
        signal: new AbortController().signal,
        log: (message, fields) => logs.push(JSON.stringify({ message, ...fields })),
      });
    };

    it('backs up with a fresh token for each connection: the snapshot, the counting session, pg_dumpall and pg_dump', async () => {
      let calls = 0;
      const manifest = await backUp(environment('20261121T020000Z'), async () => {
        calls += 1;
        return TOKEN;
      });
      // The seed's tables are small: one statement counts them all, in one session.
      expect(calls).toBe(4);
      expect(manifest.tables.find((t) => t.schema === 'public' && t.name === 'customers')?.rows).toBe(200);
      const keys = backupKeys('', 'shop', '20261121T020000Z');
      const globals = (await s3.get(keys.globals)).toString();
      expect(globals).toContain(`CREATE ROLE ${USER}`);
      const stored = (await s3.get(keys.manifest)).toString();
      expect(parseManifest(stored, keys.manifest).dump.bytes).toBeGreaterThan(0);
      // Never an argument, never logged, never in this process's own environment.
      expect(stored).not.toContain('X-Amz-Signature');
      expect(logs.join('\n')).not.toContain('X-Amz-Signature');
      expect(process.env.PGPASSWORD).toBeUndefined();
    });

    it('fails when a later connection gets a token the server does not take: no program reuses an earlier one', async () => {
      let calls = 0;
      const stale = `${TOKEN.slice(0, -4)}dead`;
      await expect(
        backUp(environment('20261121T030000Z'), async () => {
          calls += 1;
          return calls === 1 ? TOKEN : stale;
        }),
      ).rejects.toThrow(
        // Whichever program connects first fails; pg_dumpall does not say why it could not connect.
        new RegExp(
          `^(pg_dump failed \\(exit 1\\): .*password authentication failed for user "${USER}"|pg_dumpall --globals-only failed \\(exit 1\\): pg_dumpall: error: could not connect to database "shop")`,
        ),
      );
      expect(await s3.keys('shop/20261121T030000Z/')).not.toContain('shop/20261121T030000Z/manifest.json');
      expect(logs.join('\n')).not.toContain('dead');
    });

    it('fails with a certificate authority that did not sign the server certificate, before logging in', async () => {
      let calls = 0;
      await expect(
        backUp(environment('20261121T040000Z', { PGSSLROOTCERT: tls.otherCa }), async () => {
          calls += 1;
          return TOKEN;
        }),
      ).rejects.toThrow(
        new RegExp(
          `^cannot verify the TLS certificate of PostgreSQL at localhost:${cluster.port} \\(unable to verify the first certificate\\); set PGSSLROOTCERT to the certificate authority that signed it \\(the image trusts the Amazon RDS ones\\)$`,
        ),
      );
      expect(calls).toBe(0);
    });

    it('fails naming rds_iam when the server refuses the token', async () => {
      await expect(backUp(environment('20261121T050000Z'), async () => 'not-the-token')).rejects.toThrow(
        `cannot log in to PostgreSQL at localhost:${cluster.port} as "${USER}" with an IAM token: password authentication failed for user "${USER}"; grant the user rds_iam (GRANT rds_iam TO ${USER}) and let the task role rds-db:connect as it`,
      );
    });
  });

  describe('as the runner process, with the real signer', () => {
    it('refuses PGPASSWORD alongside it, before connecting', async () => {
      const result = await runScript(RUNNER, environment('20261121T060000Z', { PGPASSWORD: TOKEN }));
      expect(result.code, result.stderr).toBe(1);
      expect(lastLine(result.stderr)).toBe(
        'pgproof backup failed: invalid environment: PGPASSWORD must not be set with PG_IAM_AUTH=true (each connection logs in with a signed IAM token): remove PGPASSWORD, or set PG_IAM_AUTH=false to log in with it',
      );
      expect(result.stdout + result.stderr).not.toContain('opening the dump snapshot');
      expect(await s3.keys('shop/20261121T060000Z/')).toEqual([]);
    });

    it('signs a token the server does not know, and never prints it', async () => {
      const result = await runScript(
        RUNNER,
        environment('20261121T070000Z', {
          AWS_ACCESS_KEY_ID: 'AKIAEXAMPLEEXAMPLE',
          AWS_SECRET_ACCESS_KEY: 'example-secret',
        }),
      );
      expect(result.code, result.stderr).toBe(1);
      expect(lastLine(result.stderr)).toMatch(
        new RegExp(
          `^pgproof backup failed: cannot log in to PostgreSQL at localhost:${cluster.port} as "${USER}" with an IAM token: password authentication failed`,
        ),
      );
      expect(result.stdout).toContain('"authentication":"iam"');
      expect(result.stdout + result.stderr).not.toMatch(/X-Amz-|Action=connect|AKIAEXAMPLE/);
    });
  });
});
