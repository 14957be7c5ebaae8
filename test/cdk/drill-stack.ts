import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sns from 'aws-cdk-lib/aws-sns';
import { AwsSolutionsChecks } from 'cdk-nag';
import {
  type DrillDatabaseProps,
  RestoreDrill,
  type RestoreDrillProps,
} from '../../cdk/constructs/restore-drill.ts';

/** A stack holding only a {@link RestoreDrill} and the resources it takes, synthesized offline. */
export interface DrillStack {
  readonly drill: RestoreDrill;
  readonly template: Template;
  /** `<rule id> at <construct path>` for every unsuppressed cdk-nag finding inside the drill. */
  readonly nagFindings: readonly string[];
  /** Removes the synthesized outdir. */
  cleanup(): void;
}

/** The databases of the test drill. */
export const TEST_DATABASES: readonly DrillDatabaseProps[] = [
  {
    name: 'shop',
    rto: Duration.minutes(30),
    schedule: 'cron(0 5 ? * SUN *)',
    timeZone: 'Europe/Berlin',
    maxDaysWithoutSuccess: 7,
    checks: [{ name: 'orders exist', sql: 'SELECT count(*) > 0 FROM sales.orders' }],
  },
  { name: 'billing_v2', rto: Duration.hours(2), maxDaysWithoutSuccess: 3 },
];

/**
 * Synthesizes a test stack with a drill of {@link TEST_DATABASES} (or `change`d props), after
 * `extend` (e.g. adding databases) if given.
 */
export function synthesizeDrill(
  change: Partial<RestoreDrillProps> = {},
  extend: (drill: RestoreDrill) => void = () => {},
): DrillStack {
  const outdir = mkdtempSync(join(tmpdir(), 'pgproof-drill-cdk-'));
  try {
    return synthesizeInto(outdir, change, extend);
  } catch (error) {
    rmSync(outdir, { recursive: true, force: true });
    throw error;
  }
}

function synthesizeInto(
  outdir: string,
  change: Partial<RestoreDrillProps>,
  extend: (drill: RestoreDrill) => void,
): DrillStack {
  const app = new App({ outdir });
  const stack = new Stack(app, 'DrillTest', { env: { account: '123456789012', region: 'eu-west-1' } });
  const vpc = new ec2.Vpc(stack, 'Vpc', {
    maxAzs: 2,
    natGateways: 0,
    subnetConfiguration: [{ name: 'private', subnetType: ec2.SubnetType.PRIVATE_ISOLATED }],
  });
  const key = new kms.Key(stack, 'Key', { enableKeyRotation: true, removalPolicy: RemovalPolicy.DESTROY });
  const bucket = new s3.Bucket(stack, 'Bucket', { encryption: s3.BucketEncryption.KMS, encryptionKey: key });
  const topic = new sns.Topic(stack, 'Topic', {
    masterKey: new kms.Key(stack, 'TopicKey', { enableKeyRotation: true }),
  });
  const cluster = new ecs.Cluster(stack, 'Cluster', { vpc });
  const drill = new RestoreDrill(stack, 'Drill', {
    bucket,
    key,
    prefix: 'pg/',
    cluster,
    vpc,
    subnets: { subnetType: ec2.SubnetType.PRIVATE_ISOLATED },
    image: ecs.ContainerImage.fromRegistry(
      '123456789012.dkr.ecr.eu-west-1.amazonaws.com/pgproof-runner:test',
    ),
    topic,
    databases: TEST_DATABASES,
    postgresMajors: [15, 17],
    ...change,
  });
  extend(drill);
  app.synth();
  const nagFindings = new AwsSolutionsChecks()
    .validateScope(app)
    .violations.flatMap((violation) =>
      violation.violatingResources.map(
        (resource) => `${violation.ruleName} at ${(resource as { constructPath?: string }).constructPath}`,
      ),
    )
    .filter((finding) => finding.includes('/Drill/'));
  return {
    drill,
    template: Template.fromStack(stack),
    nagFindings,
    cleanup: () => rmSync(outdir, { recursive: true, force: true }),
  };
}
