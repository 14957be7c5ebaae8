import { execFileSync } from 'node:child_process';
import {
  cpSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * The package as a CDK app gets it: `npm pack` of the repository, installed with npm into a fresh
 * folder beside aws-cdk-lib, constructs and cdk-nag, and the smallest user app (test/package/app/app.ts:
 * an RDS instance with its secret and an Aurora cluster with IAM authentication) compiled by tsc against
 * the package's declarations and run with plain node: no tsx, esbuild or pgproof sources.
 */

const ROOT = join(import.meta.dirname, '../..');
const FIXTURE = join(import.meta.dirname, 'app');
const npm = (args: string[], cwd: string) =>
  execFileSync('npm', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
const peer = (name: string) =>
  (
    JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
      devDependencies: Record<string, string>;
    }
  ).devDependencies[name] as string;

type Template = { Resources: Record<string, { Type: string; Properties?: Record<string, unknown> }> };

describe('npm pack, installed into a fresh CDK app', () => {
  let work: string;
  let tarball: string;
  let app: string;
  let synth: { stdout: string; templates: Record<string, Template> };

  beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), 'pgproof-pack-'));
    // Pack a copy of the working tree (tracked and new files), so packing never touches the repository's
    // own package.json or dist/ while other tests run.
    const source = join(work, 'source');
    const files = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard', '-z'], {
      cwd: ROOT,
      encoding: 'utf8',
    })
      .split('\0')
      .filter((file) => file !== '');
    for (const file of files) {
      mkdirSync(join(source, dirname(file)), { recursive: true });
      try {
        cpSync(join(ROOT, file), join(source, file));
      } catch (error) {
        // A file deleted in the working tree but not yet in git's index.
        if ((error as { code?: string }).code !== 'ENOENT') throw error;
      }
    }
    symlinkSync(join(ROOT, 'node_modules'), join(source, 'node_modules'));
    npm(['pack', '--silent', '--pack-destination', work], source);
    tarball = join(work, readdirSync(work).find((file) => file.endsWith('.tgz')) ?? 'missing.tgz');

    app = join(work, 'app');
    mkdirSync(app);
    for (const file of ['app.ts', 'tsconfig.json']) cpSync(join(FIXTURE, file), join(app, file));
    writeFileSync(
      join(app, 'package.json'),
      JSON.stringify({ name: 'shop-infra', private: true, type: 'module' }, null, 2),
    );
    // Everything from npm's cache where the repository's own install put it; the registry otherwise.
    npm(
      [
        'install',
        '--prefer-offline',
        '--no-audit',
        '--no-fund',
        '--ignore-scripts',
        tarball,
        `aws-cdk-lib@${peer('aws-cdk-lib')}`,
        `constructs@${peer('constructs')}`,
        `cdk-nag@${(JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string> }).dependencies['cdk-nag']}`,
      ],
      app,
    );
    execFileSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], {
      cwd: app,
      encoding: 'utf8',
    });
    const outdir = join(app, 'cdk.out');
    const stdout = execFileSync(process.execPath, ['build/app.js'], {
      cwd: app,
      encoding: 'utf8',
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', CDK_OUTDIR: outdir },
    });
    const templates = Object.fromEntries(
      ['Shop', 'ShopBackupsReplica'].map((stack) => [
        stack,
        JSON.parse(readFileSync(join(outdir, `${stack}.template.json`), 'utf8')) as Template,
      ]),
    );
    synth = { stdout, templates };
  }, 600_000);
  afterAll(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('ships compiled JavaScript, declarations and the pre-bundled code, not the TypeScript sources', () => {
    const listing = execFileSync('tar', ['-tzf', tarball], { encoding: 'utf8' }).split('\n');
    expect(listing).toEqual(
      expect.arrayContaining([
        'package/dist/cdk/library.js',
        'package/dist/cdk/library.d.ts',
        'package/dist/runner/pg-dump.mjs',
        'package/dist/runner/pg-restore.mjs',
        'package/dist/lambda/start-backup/index.js',
        'package/containers/pg-dump/Dockerfile',
        'package/scripts/toolchain.json',
        'package/bin/pgproof.js',
      ]),
    );
    expect(listing.filter((file) => /\.ts$/.test(file) && !file.endsWith('.d.ts'))).toEqual([]);
    const manifest = JSON.parse(readFileSync(join(app, 'node_modules/pgproof/package.json'), 'utf8'));
    // The repository's production Node for its own npm scripts must not become the app's `node`.
    expect(manifest.optionalDependencies).toBeUndefined();
    expect(Object.keys(manifest.peerDependencies).sort()).toEqual(['aws-cdk-lib', 'constructs']);
    for (const devOnly of ['tsx', 's3rver', 'aws-local-stepfunctions', 'esbuild', 'aws-cdk-lib']) {
      expect(Object.keys(manifest.dependencies)).not.toContain(devOnly);
    }
  });

  it('synthesizes the app cdk-nag-clean, with plain node', () => {
    // cdk-nag reports through the app's validation plugin: a finding fails synth with its rule id.
    expect(synth.stdout).not.toMatch(/AwsSolutions-/);
    expect(Object.keys(synth.templates.Shop?.Resources ?? {}).length).toBeGreaterThan(50);
  });

  it("lets each backup task into its database's port, and only there", () => {
    const resources = Object.values(synth.templates.Shop?.Resources ?? {});
    const ingress = resources.filter((r) => r.Type === 'AWS::EC2::SecurityGroupIngress');
    const descriptions = ingress.map((r) => r.Properties?.Description);
    expect(descriptions).toEqual(
      expect.arrayContaining(['pgproof backup task of orders', 'pgproof backup task of billing']),
    );
  });

  it('gives billing (IAM authentication) no secret, and rds-db:connect as its user only', () => {
    const tasks = Object.values(synth.templates.Shop?.Resources ?? {}).filter(
      (r) => r.Type === 'AWS::ECS::TaskDefinition',
    );
    const billing = tasks.find((task) =>
      JSON.stringify(task.Properties).includes('"BACKUP_NAME","Value":"billing"'),
    );
    const containers = billing?.Properties?.ContainerDefinitions as Record<string, unknown>[] | undefined;
    const container = containers?.[0];
    expect(container?.Secrets).toBeUndefined();
    expect(JSON.stringify(container?.Environment)).toContain('"PG_IAM_AUTH","Value":"true"');
    const policies = JSON.stringify(
      Object.values(synth.templates.Shop?.Resources ?? {}).filter((r) => r.Type === 'AWS::IAM::Policy'),
    );
    expect(policies).toContain('rds-db:connect');
    expect(policies).toMatch(/dbuser:.*\/pgproof_backup/);
  });

  it('replicates into the replica region under its own key', () => {
    const buckets = Object.values(synth.templates.ShopBackupsReplica?.Resources ?? {}).filter(
      (r) => r.Type === 'AWS::S3::Bucket',
    );
    expect(JSON.stringify(buckets)).toContain('shopbackupsrepli-replica-123456789012-eu-central-1');
  });
});
