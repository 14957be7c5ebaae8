import { Stack, Token, Validations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import * as cr from 'aws-cdk-lib/custom-resources';
import { Construct } from 'constructs';
import { revokeDefaultEgress } from './egress.ts';

/** Props of {@link BackupNetwork}; all optional: by default a new isolated VPC. */
export interface BackupNetworkProps {
  /**
   * The VPC the backup tasks run in.
   * @default - a new VPC with isolated subnets only (no internet route at all) and flow logs
   */
  readonly vpc?: ec2.IVpc;
  /**
   * The subnets of {@link vpc} the tasks run in; they get no public IP.
   * @default - the isolated subnets of the new VPC, or the private subnets of a given one
   */
  readonly subnets?: ec2.SubnetSelection;
  /**
   * Address range of the new VPC; ignored with {@link vpc}.
   * @default '10.80.0.0/24'
   */
  readonly cidr?: string;
  /**
   * Availability zones of the new VPC; ignored with {@link vpc}.
   * @default 2
   */
  readonly maxAzs?: number;
  /**
   * Add an S3 gateway endpoint to the subnets' route tables. Turn off when they already have one.
   * Its policy lets through only requests to {@link buckets} (by principals of this account) and to
   * ECR's layer bucket: in an existing VPC, subnets whose route tables other workloads share should
   * keep their own endpoint and turn this off.
   * @default true
   */
  readonly s3GatewayEndpoint?: boolean;
  /**
   * The buckets pgproof's tasks use: the only ones the S3 gateway endpoint lets through (besides ECR's
   * layer bucket, which image pulls read).
   * @default - none: the endpoint lets through ECR image layers only
   */
  readonly buckets?: readonly s3.IBucket[];
  /**
   * Add interface endpoints for ECR (image pull), Secrets Manager (the credentials) and
   * CloudWatch Logs (task logs and EMF metrics).
   * @default - true for a new VPC (it has no other way out); false for a given VPC (assumed to have a NAT route)
   */
  readonly interfaceEndpoints?: boolean;
}

/** The AWS services a backup task reaches besides S3. */
const TASK_SERVICES: Readonly<Record<string, ec2.InterfaceVpcEndpointAwsService>> = {
  EcrApi: ec2.InterfaceVpcEndpointAwsService.ECR,
  EcrDocker: ec2.InterfaceVpcEndpointAwsService.ECR_DOCKER,
  SecretsManager: ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER,
  Logs: ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_LOGS,
  // The backup runner checks the vault key is enabled before each dump (engines/backup/key-check.ts).
  Kms: ec2.InterfaceVpcEndpointAwsService.KMS,
};

/** What pgproof's tasks do in S3 (the union of their grants): all the S3 gateway endpoint lets through. */
const S3_TASK_ACTIONS = [
  's3:GetObject',
  's3:GetObjectVersion',
  's3:PutObject',
  's3:PutObjectTagging',
  's3:PutObjectRetention',
  's3:AbortMultipartUpload',
  's3:ListBucket',
];

/**
 * Where backup tasks run: private subnets without public IPs. S3 is reached through a gateway
 * endpoint (free, and dump traffic never leaves the region's network). A new VPC has no NAT: ECR,
 * Secrets Manager and CloudWatch Logs are reached through interface endpoints, so a task can talk to
 * the database and to these services and to nothing else. The endpoints' policies admit only this
 * account's principals (and, for S3, only pgproof's buckets and ECR's layers), and the tasks' shared
 * group lets out only HTTPS to the endpoints and to S3.
 */
export class BackupNetwork extends Construct {
  /** The VPC of the tasks. */
  public readonly vpc: ec2.IVpc;
  /** The subnets tasks are placed in. */
  public readonly subnets: ec2.SubnetSelection;
  /**
   * The group every pgproof task carries: the interface endpoints admit it, and it lets out only HTTPS
   * to the interface endpoints and to S3 (through its managed prefix list), or, in a VPC without
   * interface endpoints (a NAT route to the services), HTTPS anywhere. Backup tasks carry a second
   * group of their own, which only their database admits.
   */
  public readonly taskSecurityGroup: ec2.SecurityGroup;
  /** The S3 gateway endpoint; undefined when the subnets already have one. */
  public readonly s3Endpoint?: ec2.GatewayVpcEndpoint;

  constructor(scope: Construct, id: string, props: BackupNetworkProps = {}) {
    super(scope, id);
    const maxAzs = props.maxAzs ?? 2;
    if (!Token.isUnresolved(maxAzs) && (maxAzs < 1 || maxAzs > 3)) {
      throw new Error(`'maxAzs' must be between 1 and 3, got ${maxAzs}`);
    }

    if (props.vpc) {
      this.vpc = props.vpc;
      this.subnets = props.subnets ?? { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS };
    } else {
      const vpc = new ec2.Vpc(this, 'Vpc', {
        ipAddresses: ec2.IpAddresses.cidr(props.cidr ?? '10.80.0.0/24'),
        maxAzs,
        natGateways: 0,
        subnetConfiguration: [{ name: 'Tasks', subnetType: ec2.SubnetType.PRIVATE_ISOLATED, cidrMask: 27 }],
      });
      vpc.addFlowLog('FlowLog', { trafficType: ec2.FlowLogTrafficType.REJECT });
      this.vpc = vpc;
      this.subnets = props.subnets ?? { subnetType: ec2.SubnetType.PRIVATE_ISOLATED };
    }

    if (props.s3GatewayEndpoint ?? true) {
      this.s3Endpoint = this.vpc.addGatewayEndpoint('S3Endpoint', {
        service: ec2.GatewayVpcEndpointAwsService.S3,
        subnets: [this.subnets],
      });
      this.restrictS3Endpoint(this.s3Endpoint, props.buckets ?? []);
    }
    this.taskSecurityGroup = new ec2.SecurityGroup(this, 'TaskSecurityGroup', {
      vpc: this.vpc,
      description: 'pgproof tasks: admitted by the AWS service endpoints',
      allowAllOutbound: false,
    });

    const interfaceEndpoints = props.interfaceEndpoints ?? !props.vpc;
    if (!interfaceEndpoints) {
      // The services are reached through the VPC's own route (a NAT): HTTPS only.
      this.taskSecurityGroup.addEgressRule(
        ec2.Peer.anyIpv4(),
        ec2.Port.tcp(443),
        'HTTPS to the AWS services through the VPC route',
      );
    } else {
      // HTTPS from pgproof's tasks only: every task carries taskSecurityGroup.
      const endpointSecurityGroup = new ec2.SecurityGroup(this, 'EndpointSecurityGroup', {
        vpc: this.vpc,
        description: 'pgproof interface endpoints: HTTPS from pgproof tasks',
        allowAllOutbound: false,
      });
      endpointSecurityGroup.addIngressRule(
        this.taskSecurityGroup,
        ec2.Port.tcp(443),
        'HTTPS from pgproof tasks',
      );
      this.taskSecurityGroup.addEgressRule(
        endpointSecurityGroup,
        ec2.Port.tcp(443),
        'HTTPS to the AWS service endpoints',
      );
      this.taskSecurityGroup.addEgressRule(
        ec2.Peer.prefixList(this.s3PrefixListId()),
        ec2.Port.tcp(443),
        'HTTPS to S3 (backups, image layers)',
      );
      revokeDefaultEgress(this.taskSecurityGroup);
      for (const [name, service] of Object.entries(TASK_SERVICES)) {
        const endpoint = this.vpc.addInterfaceEndpoint(`${name}Endpoint`, {
          service,
          subnets: this.subnets,
          privateDnsEnabled: true,
          securityGroups: [endpointSecurityGroup],
          open: false,
        });
        // Credentials of another account cannot use pgproof's endpoints (to exfiltrate to it, say).
        endpoint.addToPolicy(
          new iam.PolicyStatement({
            principals: [new iam.AnyPrincipal()],
            actions: ['*'],
            resources: ['*'],
            conditions: { StringEquals: { 'aws:PrincipalAccount': Stack.of(this).account } },
          }),
        );
      }
    }
  }

  /**
   * The S3 gateway endpoint lets through only what pgproof's tasks do to its buckets, by principals of
   * this account, and image layer reads from ECR's bucket (ECR serves layers from S3).
   */
  private restrictS3Endpoint(endpoint: ec2.GatewayVpcEndpoint, buckets: readonly s3.IBucket[]): void {
    const stack = Stack.of(this);
    if (buckets.length > 0) {
      endpoint.addToPolicy(
        new iam.PolicyStatement({
          principals: [new iam.AnyPrincipal()],
          actions: S3_TASK_ACTIONS,
          resources: buckets.flatMap((bucket) => [bucket.bucketArn, bucket.arnForObjects('*')]),
          conditions: { StringEquals: { 'aws:PrincipalAccount': stack.account } },
        }),
      );
    }
    endpoint.addToPolicy(
      new iam.PolicyStatement({
        principals: [new iam.AnyPrincipal()],
        actions: ['s3:GetObject'],
        resources: [`arn:${stack.partition}:s3:::prod-${stack.region}-starport-layer-bucket/*`],
      }),
    );
  }

  /**
   * The id of the region's AWS-managed S3 prefix list, looked up at deploy time (CloudFormation has no
   * attribute for it; a synth-time lookup would need credentials).
   */
  private s3PrefixListId(): string {
    const region = Stack.of(this).region;
    const lookup = new cr.AwsCustomResource(this, 'S3PrefixList', {
      onUpdate: {
        service: 'EC2',
        action: 'describeManagedPrefixLists',
        parameters: { Filters: [{ Name: 'prefix-list-name', Values: [`com.amazonaws.${region}.s3`] }] },
        physicalResourceId: cr.PhysicalResourceId.of(`pgproof-s3-prefix-list-${region}`),
        outputPaths: ['PrefixLists.0.PrefixListId'],
      },
      policy: cr.AwsCustomResourcePolicy.fromSdkCalls({ resources: cr.AwsCustomResourcePolicy.ANY_RESOURCE }),
      installLatestAwsSdk: false,
    });
    Validations.of(lookup).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: 'ec2:DescribeManagedPrefixLists names no resource; it only reads the id of the S3 prefix list.',
    });
    // The function CDK shares between a stack's AwsCustomResources (its construct id is fixed by CDK).
    const provider = Stack.of(this).node.tryFindChild('AWS679f53fac002430cb0da5b7982bd2287');
    if (provider) {
      Validations.of(provider).acknowledge({
        id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
        reason:
          "The deploy-time lookup function of CDK's AwsCustomResource logs with the AWS-managed basic execution policy; it runs only during deployments.",
      });
    }
    return lookup.getResponseField('PrefixLists.0.PrefixListId');
  }
}
