import { DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { ConfigError, PgproofError } from '../core/errors.ts';
import { type DatabaseSchedule, databaseSchedulesSchema, STACK_OUTPUTS } from '../core/stack-outputs.ts';
import type { AwsClients } from './aws.ts';
import { parseJsonResponse } from './aws-response.ts';

/**
 * Where a deployment's pieces are: read from the primary stack's outputs (`cdk deploy` prints the
 * same), or given as flags. The output keys are the contract between the stack and the CLI.
 */

export { type DatabaseSchedule, STACK_OUTPUTS };

/** What the commands need to find. */
export interface Deployment {
  readonly stack: string | undefined;
  readonly bucket: string;
  readonly prefix: string;
  readonly launcherFunction: string | undefined;
  readonly stateMachineArn: string | undefined;
  readonly databases: Readonly<Record<string, DatabaseSchedule>> | undefined;
}

/** Flags that override or replace the stack's outputs. */
export interface DeploymentFlags {
  readonly stack: string;
  readonly bucket?: string | undefined;
  readonly prefix?: string | undefined;
}

/** The stack could not be read: not deployed, wrong region, no credentials. */
export class DeploymentNotFoundError extends PgproofError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'DeploymentNotFoundError';
  }
}

function stackNotDeployed(stack: string, region: string, options?: ErrorOptions): DeploymentNotFoundError {
  return new DeploymentNotFoundError(
    `stack ${stack} is not deployed in ${region}: deploy it with \`npx cdk deploy --all\`, or pass --region/--stack (or --bucket for S3-only commands)`,
    options,
  );
}

/** Turns an SDK error of a stack lookup into advice. */
function describeLookupError(error: unknown, stack: string, region: string): PgproofError {
  const e = error instanceof Error ? error : { name: undefined, message: String(error) };
  if (e.name === 'CredentialsProviderError' || /credential/i.test(e.message ?? '')) {
    return new DeploymentNotFoundError(
      'no AWS credentials found: set AWS_PROFILE (or pass --profile), run `aws sso login`, or export AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY',
      { cause: error },
    );
  }
  if (e.name === 'ValidationError' && /does not exist/.test(e.message ?? '')) {
    return stackNotDeployed(stack, region, { cause: error });
  }
  if (/region/i.test(e.message ?? '') && /missing|not configured/i.test(e.message ?? '')) {
    return new DeploymentNotFoundError('no AWS region set: pass --region or set AWS_REGION', {
      cause: error,
    });
  }
  return new DeploymentNotFoundError(`cannot read stack ${stack}: ${e.message ?? String(error)}`, {
    cause: error,
  });
}

/**
 * Finds the deployment. With `--bucket`, S3-only commands need no stack at all; otherwise the stack's
 * outputs fill in what the flags leave open.
 */
export async function resolveDeployment(
  flags: DeploymentFlags,
  clients: AwsClients,
  needs: { stack: boolean },
): Promise<Deployment> {
  if (flags.bucket && !needs.stack) {
    return {
      stack: undefined,
      bucket: flags.bucket,
      prefix: flags.prefix ?? '',
      launcherFunction: undefined,
      stateMachineArn: undefined,
      databases: undefined,
    };
  }
  const region = (await clients.cloudFormation.config.region().catch(() => undefined)) ?? '(no region)';
  const stack = await clients.cloudFormation.send(new DescribeStacksCommand({ StackName: flags.stack })).then(
    (response) => response.Stacks?.[0],
    (error) => {
      throw describeLookupError(error, flags.stack, region);
    },
  );
  if (!stack) throw stackNotDeployed(flags.stack, region);
  const outputs = Object.fromEntries(
    (stack.Outputs ?? []).map((o) => [o.OutputKey ?? '', o.OutputValue ?? '']),
  );
  const bucket = flags.bucket ?? outputs[STACK_OUTPUTS.bucket];
  if (!bucket) {
    throw new DeploymentNotFoundError(
      `stack ${flags.stack} has no ${STACK_OUTPUTS.bucket} output: is it a pgproof primary stack? Pass --stack or --bucket`,
    );
  }
  const databasesJson = outputs[STACK_OUTPUTS.databases];
  const databases = databasesJson
    ? parseJsonResponse(
        databaseSchedulesSchema,
        databasesJson,
        `stack ${flags.stack}'s ${STACK_OUTPUTS.databases} output`,
        'redeploy pgproof, or pass --stack for a pgproof primary stack',
      )
    : undefined;
  return {
    stack: flags.stack,
    bucket,
    prefix: flags.prefix ?? outputs[STACK_OUTPUTS.prefix] ?? '',
    launcherFunction: outputs[STACK_OUTPUTS.launcher],
    stateMachineArn: outputs[STACK_OUTPUTS.stateMachine],
    databases,
  };
}

/** Checks that the deployment backs up `database`; names the ones it does otherwise. */
export function requireDatabase(deployment: Deployment, database: string): DatabaseSchedule {
  const schedule = deployment.databases?.[database];
  if (!schedule) {
    const known = Object.keys(deployment.databases ?? {});
    throw new ConfigError(
      `database "${database}" is not in the deployment${deployment.stack ? ` ${deployment.stack}` : ''} (it backs up: ${known.join(', ') || 'nothing'}); add it to pgproof.config.json and deploy, or check the name`,
    );
  }
  return schedule;
}
