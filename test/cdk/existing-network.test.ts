import { Match, type Template } from 'aws-cdk-lib/assertions';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exampleConfigJson, type SynthesizedDeployment, synthesize } from './synth.ts';

/** An existing VPC without NAT (interface endpoints wanted) and one x86 database without a security group. */
const config = {
  ...exampleConfigJson(),
  network: {
    type: 'existing',
    vpcId: 'vpc-0123456789abcdef0',
    subnets: [
      {
        subnetId: 'subnet-0aaaaaaaaaaaaaaa1',
        availabilityZone: 'eu-west-1a',
        routeTableId: 'rtb-0aaaaaaaaaaaaaaa1',
      },
      {
        subnetId: 'subnet-0bbbbbbbbbbbbbbb2',
        availabilityZone: 'eu-west-1b',
        routeTableId: 'rtb-0bbbbbbbbbbbbbbb2',
      },
    ],
    interfaceEndpoints: true,
  },
  notificationEmails: [],
  databases: [
    {
      name: 'legacy_db',
      host: '10.0.12.7',
      port: 6432,
      database: 'legacy',
      secretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:legacy-Xy12Zz',
      secretKeyArn: 'arn:aws:kms:eu-west-1:123456789012:key/11111111-2222-3333-4444-555555555555',
      schedule: 'cron(0 3 ? * SUN *)',
      timeZone: 'UTC',
      rpoHours: 168,
      task: { cpu: 512, memoryMiB: 1024, architecture: 'X86_64' },
    },
  ],
};

let deployment: SynthesizedDeployment;
let template: Template;

beforeAll(() => {
  deployment = synthesize(config, (architecture) =>
    ecs.ContainerImage.fromRegistry(
      `public.ecr.aws/pgproof/runner:${architecture === ecs.CpuArchitecture.ARM64 ? 'arm64' : 'x86_64'}`,
    ),
  );
  template = deployment.primary;
});
afterAll(() => deployment.cleanup());

describe('primary stack in an existing VPC', () => {
  it('passes cdk-nag AwsSolutions with no unsuppressed finding', () => {
    expect(deployment.nagFindings).toEqual([]);
  });

  it('creates no VPC and places tasks in the configured subnets', () => {
    template.resourceCountIs('AWS::EC2::VPC', 0);
    template.resourceCountIs('AWS::EC2::Subnet', 0);
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: Match.objectLike({ SUBNET_IDS: 'subnet-0aaaaaaaaaaaaaaa1,subnet-0bbbbbbbbbbbbbbb2' }),
      },
    });
  });

  it('adds the S3 gateway endpoint to the subnets route tables and the interface endpoints to the VPC', () => {
    template.hasResourceProperties('AWS::EC2::VPCEndpoint', {
      VpcEndpointType: 'Gateway',
      VpcId: 'vpc-0123456789abcdef0',
      RouteTableIds: ['rtb-0aaaaaaaaaaaaaaa1', 'rtb-0bbbbbbbbbbbbbbb2'],
    });
    expect(
      Object.keys(
        template.findResources('AWS::EC2::VPCEndpoint', { Properties: { VpcEndpointType: 'Interface' } }),
      ),
    ).toHaveLength(5);
  });

  it('runs an X86_64 task of the configured size on the configured port', () => {
    template.hasResourceProperties('AWS::ECS::TaskDefinition', {
      Cpu: '512',
      Memory: '1024',
      RuntimePlatform: { CpuArchitecture: 'X86_64', OperatingSystemFamily: 'LINUX' },
      ContainerDefinitions: [
        Match.objectLike({
          Image: 'public.ecr.aws/pgproof/runner:x86_64',
          Environment: Match.arrayWith([
            { Name: 'PGPORT', Value: '6432' },
            { Name: 'BACKUP_NAME', Value: 'legacy_db' },
          ]),
        }),
      ],
    });
    // Only the endpoints' rule: no database security group was configured.
    template.resourceCountIs('AWS::EC2::SecurityGroupIngress', 1);
  });

  it('lets the execution role decrypt the secret with its customer-managed key', () => {
    template.hasResourceProperties('AWS::IAM::Policy', {
      Roles: [{ Ref: Match.stringLikeRegexp('^DatabaseLegacyDbTaskExecutionRole') }],
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Action: 'kms:Decrypt',
            Resource: 'arn:aws:kms:eu-west-1:123456789012:key/11111111-2222-3333-4444-555555555555',
          }),
        ]),
      },
    });
  });

  it('alarms after a week without a successful backup and subscribes no email', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'BackupSucceeded',
      EvaluationPeriods: 168,
      Period: 3600,
    });
    template.resourceCountIs('AWS::SNS::Subscription', 0);
  });
});
