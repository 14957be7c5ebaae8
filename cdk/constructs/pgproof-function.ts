import { join } from 'node:path';
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import { toolchain } from '../../core/toolchain.ts';
import { PACKAGE_ROOT, packedLambdaFolder, RUNS_FROM_PACKAGE } from './package-assets.ts';

/** Lambda's Node.js runtime of the production Node major (scripts/toolchain.json), as the runner image runs. */
export const LAMBDA_RUNTIME: lambda.Runtime = (() => {
  const name = `nodejs${toolchain.nodeMajor}.x`;
  const runtime = lambda.Runtime.ALL.find((r) => r.name === name);
  if (!runtime) {
    throw new Error(
      `aws-cdk-lib knows no Lambda runtime ${name} (scripts/toolchain.json nodeMajor ${toolchain.nodeMajor}); set nodeMajor to a major Lambda runs, or update aws-cdk-lib`,
    );
  }
  return runtime;
})();

/**
 * How every Lambda is bundled, at synth (NodejsFunction) and when the package is packed
 * (scripts/build-package.mjs reads the same settings).
 */
export const LAMBDA_BUNDLING = { bundleAwsSDK: true, minify: true, sourceMap: true } as const;

/** Options of {@link addPgproofFunction}. */
export interface PgproofFunctionOptions {
  /** The handler's file under `functions/`. */
  readonly file: string;
  readonly description: string;
  /** @default - the function's description */
  readonly roleDescription?: string;
  readonly logRetention: logs.RetentionDays;
  readonly environment: Record<string, string>;
}

/**
 * Adds one pgproof Lambda to `scope` as `<idPrefix>Logs`, `<idPrefix>Role` and `<idPrefix>Function`:
 * Node.js 24 on ARM64, JSON logs to its own retained log group, an explicit role (the default one carries
 * the AWS-managed basic execution policy, logs:* on *), and the code bundled by esbuild with the AWS SDK
 * inside, so it runs against the SDK versions it was tested with: at synth from the repository's sources,
 * or, in the installed package, the bundle its prepack made with the same settings
 * ({@link LAMBDA_BUNDLING}).
 */
export function addPgproofFunction(
  scope: Construct,
  idPrefix: string,
  options: PgproofFunctionOptions,
): { readonly function: lambda.Function; readonly role: iam.Role; readonly logGroup: logs.LogGroup } {
  const logGroup = new logs.LogGroup(scope, `${idPrefix}Logs`, {
    retention: options.logRetention,
    removalPolicy: RemovalPolicy.RETAIN,
  });
  const role = new iam.Role(scope, `${idPrefix}Role`, {
    assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
    description: options.roleDescription ?? options.description,
  });
  logGroup.grantWrite(role);
  const common = {
    description: options.description,
    runtime: LAMBDA_RUNTIME,
    architecture: lambda.Architecture.ARM_64,
    memorySize: 256,
    timeout: Duration.minutes(1),
    role,
    logGroup,
    loggingFormat: lambda.LoggingFormat.JSON,
  } satisfies Partial<lambda.FunctionProps>;
  const fn = RUNS_FROM_PACKAGE
    ? new lambda.Function(scope, `${idPrefix}Function`, {
        ...common,
        code: lambda.Code.fromAsset(packedLambdaFolder(options.file)),
        handler: 'index.handler',
        // What NodejsFunction sets for a bundle with a source map.
        environment: { ...options.environment, NODE_OPTIONS: '--enable-source-maps' },
      })
    : new nodejs.NodejsFunction(scope, `${idPrefix}Function`, {
        ...common,
        entry: join(PACKAGE_ROOT, 'functions', options.file),
        handler: 'handler',
        environment: options.environment,
        bundling: { ...LAMBDA_BUNDLING, forceDockerBundling: false },
      });
  return { function: fn, role, logGroup };
}
