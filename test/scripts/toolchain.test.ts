import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LAMBDA_RUNTIME } from '../../cdk/constructs/pgproof-function.ts';
import { toolchain } from '../../core/toolchain.ts';
import { clientVersion } from '../../engines/backup/pg-tools.ts';
import { embeddedBinDir, startPostgres } from '../support/postgres.ts';

/** scripts/toolchain.json is the one place production's toolchain is written: everything follows it. */
describe('the production toolchain', () => {
  it('runs these tests under the Node.js major of the image and the Lambda functions', () => {
    expect(Number(process.versions.node.split('.')[0])).toBe(toolchain.nodeMajor);
    expect(LAMBDA_RUNTIME.name).toBe(`nodejs${toolchain.nodeMajor}.x`);
  });

  it('puts the production PostgreSQL client first on PATH for every test', async () => {
    for (const program of ['pg_dump', 'pg_dumpall', 'pg_restore', 'psql']) {
      expect((await clientVersion(program)).major, program).toBe(toolchain.postgresClientMajor);
    }
  });

  it('is what the runner image installs', () => {
    const dockerfile = readFileSync('containers/pg-dump/Dockerfile', 'utf8');
    expect(dockerfile).toContain(
      `RUN PG_MAJOR="$(node -p "require('/usr/share/pgproof/toolchain.json').postgresClientMajor")"`,
    );
    expect(dockerfile).toMatch(
      /apt-get install -y --no-install-recommends "postgresql-client-\$\{PG_MAJOR\}"/,
    );
    expect(dockerfile).not.toMatch(/postgresql-client-\d/);
    expect(dockerfile).toContain(`ARG NODE_MAJOR=${toolchain.nodeMajor}\n`);
    // Both runners get the Node options the benchmark measures them with.
    expect(dockerfile).toContain(`ARG RUNNER_NODE_OPTIONS=${toolchain.runnerNodeOptions}\n`);
    expect(dockerfile).toMatch(/^ENV NODE_OPTIONS=\$\{RUNNER_NODE_OPTIONS\} \\$/m);
    expect(dockerfile.match(/^FROM node:\$\{NODE_MAJOR\}-bookworm-slim/gm)).toHaveLength(2);
  });

  it('has a server of every supported major from npm', async () => {
    for (const major of toolchain.postgresServerMajors) {
      const version = execFileSync(join(embeddedBinDir(major), 'postgres'), ['--version'], {
        encoding: 'utf8',
      });
      expect(version).toMatch(new RegExp(`\\(PostgreSQL\\) ${major}\\.`));
    }
  });
});

describe('scripts/postgres-client.sh', () => {
  const work = mkdtempSync(join(tmpdir(), 'pgproof-toolchain-'));
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  /** The script (and the library it sources) beside a toolchain.json of its own, with its own cache folder. */
  const scriptWith = (major: number) => {
    const dir = mkdtempSync(join(work, 'scripts-'));
    for (const file of ['postgres-client.sh', 'debian-root.sh']) cpSync(`scripts/${file}`, join(dir, file));
    writeFileSync(join(dir, 'toolchain.json'), JSON.stringify({ ...toolchain, postgresClientMajor: major }));
    return (...args: string[]) =>
      spawnSync('bash', [join(dir, 'postgres-client.sh'), ...args], {
        encoding: 'utf8',
        env: { ...process.env, PGPROOF_TOOLCHAIN_DIR: join(dir, 'cache') },
      });
  };

  it('prints nothing with --if-built when the client is not built yet', () => {
    const result = scriptWith(toolchain.postgresClientMajor)('--if-built');
    expect(result.status).toBe(0);
    expect(result.stdout).toBe('');
  });

  it('builds a client whose pg_dumpall finds its pg_dump (it execs it) and dumps a server', async () => {
    const binDir = process.env.PGPROOF_PRODUCTION_CLIENT_BIN_DIR ?? '';
    expect(binDir).not.toBe('');
    const cluster = await startPostgres();
    try {
      const globals = execFileSync(join(binDir, 'pg_dumpall'), ['--globals-only', '--no-role-passwords'], {
        encoding: 'utf8',
        env: { ...process.env, ...cluster.env('postgres') },
      });
      expect(globals).toContain('CREATE ROLE postgres;');
    } finally {
      await cluster.stop();
    }
  });

  it('fails in one line naming the package and the constant when Debian does not carry that major', () => {
    const result = scriptWith(99)();
    expect(result.status).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr.trim().split('\n').at(-1)).toBe(
      'pgproof toolchain: Debian (trixie sid) does not carry postgresql-client-99 (any more): change postgresClientMajor in scripts/toolchain.json to a major it carries; the runner image installs the same major',
    );
  }, 120_000);
});
