import { join } from 'node:path';
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import { toolchain } from '../../core/toolchain.ts';

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
 * the AWS-managed basic execution policy, logs:* on *), and the code bundled by the local esbuild with
 * the AWS SDK inside, so it runs against the SDK versions it was tested with.
 */
export function addPgproofFunction(
  scope: Construct,
  idPrefix: string,
  options: PgproofFunctionOptions,
): { readonly function: nodejs.NodejsFunction; readonly role: iam.Role; readonly logGroup: logs.LogGroup } {
  const logGroup = new logs.LogGroup(scope, `${idPrefix}Logs`, {
    retention: options.logRetention,
    removalPolicy: RemovalPolicy.RETAIN,
  });
  const role = new iam.Role(scope, `${idPrefix}Role`, {
    assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
    description: options.roleDescription ?? options.description,
  });
  logGroup.grantWrite(role);
  const fn = new nodejs.NodejsFunction(scope, `${idPrefix}Function`, {
    description: options.description,
    entry: join(import.meta.dirname, '../../functions', options.file),
    handler: 'handler',
    runtime: LAMBDA_RUNTIME,
    architecture: lambda.Architecture.ARM_64,
    memorySize: 256,
    timeout: Duration.minutes(1),
    role,
    logGroup,
    loggingFormat: lambda.LoggingFormat.JSON,
    environment: options.environment,
    bundling: { bundleAwsSDK: true, minify: true, sourceMap: true, forceDockerBundling: false },
  });
  return { function: fn, role, logGroup };
}
