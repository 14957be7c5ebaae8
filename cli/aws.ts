import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { ECSClient } from '@aws-sdk/client-ecs';
import { LambdaClient } from '@aws-sdk/client-lambda';
import type { S3Client } from '@aws-sdk/client-s3';
import { SchedulerClient } from '@aws-sdk/client-scheduler';
import { SFNClient } from '@aws-sdk/client-sfn';
import { fromNodeProviderChain } from '@aws-sdk/credential-providers';
import { createS3Client } from '../core/s3-client.ts';

/** The AWS clients of the CLI, created once with the standard credential chain. */
export interface AwsClients {
  readonly cloudFormation: CloudFormationClient;
  readonly lambda: LambdaClient;
  readonly sfn: SFNClient;
  readonly ecs: ECSClient;
  readonly scheduler: SchedulerClient;
  readonly s3: S3Client;
}

/** Clients for `--region` and `--profile` (else the SDK's environment and config files). */
export function createAwsClients(options: { region?: string; profile?: string }): AwsClients {
  const config = {
    ...(options.region ? { region: options.region } : {}),
    ...(options.profile ? { credentials: fromNodeProviderChain({ profile: options.profile }) } : {}),
  };
  const s3 = createS3Client(config);
  return {
    cloudFormation: new CloudFormationClient(config),
    lambda: new LambdaClient(config),
    sfn: new SFNClient(config),
    ecs: new ECSClient(config),
    scheduler: new SchedulerClient(config),
    s3,
  };
}
