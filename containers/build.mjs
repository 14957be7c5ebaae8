// Bundles the runners into self-contained ES modules (dist/pg-dump.mjs, dist/pg-restore.mjs) for the
// container image: no node_modules, no TypeScript at run time.
import { readFileSync } from 'node:fs';
import { build } from 'esbuild';

const toolchain = JSON.parse(readFileSync(new URL('../scripts/toolchain.json', import.meta.url), 'utf8'));

const entryPoints = {
  'pg-dump': 'containers/pg-dump/main.ts',
  'pg-restore': 'containers/pg-restore/main.ts',
};

await build({
  entryPoints,
  outdir: process.argv[2] ?? 'dist',
  outExtension: { '.js': '.mjs' },
  bundle: true,
  platform: 'node',
  // The Node.js major the image runs (scripts/toolchain.json).
  target: `node${toolchain.nodeMajor}`,
  format: 'esm',
  sourcemap: 'linked',
  // pg's optional native binding is never used.
  external: ['pg-native'],
  // Bundled CommonJS dependencies call require(); give the ES module one.
  banner: {
    js: "import { createRequire as pgproofCreateRequire } from 'node:module'; const require = pgproofCreateRequire(import.meta.url);",
  },
  logLevel: 'warning',
});
