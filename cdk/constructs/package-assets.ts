import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Platform } from 'aws-cdk-lib/aws-ecr-assets';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import { toolchain } from '../../core/toolchain.ts';

/**
 * Where the code pgproof deploys comes from. The constructs run in two forms:
 * - from the repository's TypeScript (`npm run synth`, the tests): the runner image is built from the
 *   sources and the Lambdas are bundled by esbuild at synth;
 * - compiled, from the package a CDK app installed (`pgproof/cdk`): the runner and the Lambdas were
 *   bundled when the package was packed (`npm pack` runs scripts/build-package.mjs), so the app needs no
 *   esbuild, tsx or TypeScript of pgproof's.
 * The form is this module's own file name: a compiled copy ends in `.js`.
 */

/** True when the constructs run compiled from the package (dist/), false from the TypeScript sources. */
export const RUNS_FROM_PACKAGE = import.meta.url.endsWith('.js');

/** The folder holding pgproof's package.json: the repository root, or the installed package's root. */
export const PACKAGE_ROOT: string = (() => {
  let folder = import.meta.dirname;
  while (!existsSync(join(folder, 'containers/pg-dump/Dockerfile'))) {
    const parent = dirname(folder);
    if (parent === folder) {
      throw new Error(
        `pgproof: containers/pg-dump/Dockerfile not found above ${import.meta.dirname}; reinstall the pgproof package`,
      );
    }
    folder = parent;
  }
  return folder;
})();

/** Where the packed Lambda bundles are: `<root>/dist/lambda/<handler file without .ts>/index.js`. */
export const PACKED_LAMBDA_FOLDER = 'dist/lambda';

/** Where the packed runner bundles are (pg-dump.mjs, pg-restore.mjs). */
export const PACKED_RUNNER_FOLDER = 'dist/runner';

/** What the image build from the repository never needs; keeps the asset hash stable across unrelated edits. */
const SOURCE_IMAGE_EXCLUDES = [
  'node_modules',
  'cdk.out',
  'cdk.out*',
  '.git',
  '.ci',
  'test',
  'bench',
  '.bench-data',
  'coverage',
  // A packed build is never what a source synth deploys: the image is built from the sources.
  'dist',
  '*.tgz',
  '*.log',
  'cdk.context*.json',
  'pgproof.config*.json',
];

/** The installed package holds its compiled library too; the image takes only the runner bundles. */
const PACKAGE_IMAGE_EXCLUDES = ['node_modules', 'bin', `dist/*`, `!${PACKED_RUNNER_FOLDER}`];

/**
 * The runner image (containers/pg-dump/Dockerfile) for an architecture, built from this package: from
 * the sources in the repository, from the packed runner bundles in an installed package.
 */
export function runnerImageAsset(architecture: ecs.CpuArchitecture): ecs.ContainerImage {
  return ecs.ContainerImage.fromAsset(PACKAGE_ROOT, {
    file: 'containers/pg-dump/Dockerfile',
    platform: architecture === ecs.CpuArchitecture.ARM64 ? Platform.LINUX_ARM64 : Platform.LINUX_AMD64,
    exclude: RUNS_FROM_PACKAGE ? PACKAGE_IMAGE_EXCLUDES : SOURCE_IMAGE_EXCLUDES,
    buildArgs: {
      NODE_MAJOR: String(toolchain.nodeMajor),
      RUNNER_NODE_OPTIONS: toolchain.runnerNodeOptions,
      RUNNER_BUNDLE: RUNS_FROM_PACKAGE ? 'packed' : 'source',
    },
  });
}

/** The packed bundle folder of a Lambda handler file (`start-backup.ts` → dist/lambda/start-backup). */
export function packedLambdaFolder(handlerFile: string): string {
  const folder = join(PACKAGE_ROOT, PACKED_LAMBDA_FOLDER, handlerFile.replace(/\.ts$/, ''));
  if (!existsSync(join(folder, 'index.js'))) {
    throw new Error(
      `pgproof: the packed Lambda bundle ${folder}/index.js is missing; the package was not built by its prepack script (npm pack runs scripts/build-package.mjs)`,
    );
  }
  return folder;
}
