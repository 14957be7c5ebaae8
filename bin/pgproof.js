#!/usr/bin/env node
// The `pgproof` command. In the repository it runs the TypeScript CLI through tsx's loader (no build
// step); in an installed package, the compiled CLI in dist/ (no TypeScript or tsx needed).
import { existsSync } from 'node:fs';

const major = Number(process.versions.node.split('.')[0]);
if (major < 22) {
  // The AWS SDK and the local Step Functions engine need Node.js 22 or newer.
  console.error(
    `pgproof: needs Node.js 22 or newer, this is ${process.version}; in the repository, \`npm ci\` installs Node.js 24 and \`npx pgproof\` / \`npm run demo\` use it`,
  );
  process.exit(1);
}
const fromSources = existsSync(new URL('../cli/main.ts', import.meta.url));
if (fromSources) {
  const { register } = await import('tsx/esm/api');
  register();
}
const { runCli } = await import(fromSources ? '../cli/main.ts' : '../dist/cli/main.js');
process.exitCode = await runCli(process.argv.slice(2));
