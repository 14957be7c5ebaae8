import { Token } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { Construct } from 'constructs';

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
   * @default true
   */
  readonly s3GatewayEndpoint?: boolean;
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

/**
 * Where backup tasks run: private subnets without public IPs. S3 is reached through a gateway
 * endpoint (free, and dump traffic never leaves the region's network). A new VPC has no NAT: ECR,
 * Secrets Manager and CloudWatch Logs are reached through interface endpoints, so a task can talk to
 * the database and to these services and to nothing else.
 */
export class BackupNetwork extends Construct {
  /** The VPC of the tasks. */
  public readonly vpc: ec2.IVpc;
  /** The subnets tasks are placed in. */
  public readonly subnets: ec2.SubnetSelection;
  /**
   * The group every pgproof task carries (egress only): the interface endpoints admit it. Backup
   * tasks carry a second group of their own, which only their database admits.
   */
  public readonly taskSecurityGroup: ec2.SecurityGroup;

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
      this.vpc.addGatewayEndpoint('S3Endpoint', {
        service: ec2.GatewayVpcEndpointAwsService.S3,
        subnets: [this.subnets],
      });
    }
    this.taskSecurityGroup = new ec2.SecurityGroup(this, 'TaskSecurityGroup', {
      vpc: this.vpc,
      description: 'pgproof tasks: admitted by the AWS service endpoints',
      allowAllOutbound: true,
    });

    if (props.interfaceEndpoints ?? !props.vpc) {
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
      for (const [name, service] of Object.entries(TASK_SERVICES)) {
        this.vpc.addInterfaceEndpoint(`${name}Endpoint`, {
          service,
          subnets: this.subnets,
          privateDnsEnabled: true,
          securityGroups: [endpointSecurityGroup],
          open: false,
        });
      }
    }
  }
}
