import { Match, Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { beforeAll, describe, expect, it } from 'vitest';
import { BackupNetwork } from '../../cdk/constructs/backup-network.ts';
import { networkProps } from '../../cdk/stacks/config-props.ts';
import { parseDeploymentConfig } from '../../core/config.ts';
import { bareStacks } from './bare-stack.ts';
import { PRIMARY_TEST_CONFIG } from './test-config.ts';

const stack = bareStacks();

describe('BackupNetwork', () => {
  it('lets tasks out only over HTTPS in a given VPC whose route (a NAT) reaches the services', () => {
    const scope = stack();
    const vpc = ec2.Vpc.fromVpcAttributes(scope, 'Vpc', {
      vpcId: 'vpc-0123456789abcdef0',
      availabilityZones: ['eu-west-1a'],
      privateSubnetIds: ['subnet-0aaaaaaaaaaaaaaa1'],
      privateSubnetRouteTableIds: ['rtb-0aaaaaaaaaaaaaaa1'],
    });
    new BackupNetwork(scope, 'Network', { vpc, s3GatewayEndpoint: false });
    const template = Template.fromStack(scope);
    template.resourceCountIs('AWS::EC2::VPCEndpoint', 0);
    template.hasResourceProperties('AWS::EC2::SecurityGroup', {
      GroupDescription: 'pgproof tasks: admitted by the AWS service endpoints',
      SecurityGroupEgress: [
        {
          CidrIp: '0.0.0.0/0',
          Description: 'HTTPS to the AWS services through the VPC route',
          IpProtocol: 'tcp',
          FromPort: 443,
          ToPort: 443,
        },
      ],
    });
  });

  it('rejects more availability zones than a backup network uses', () => {
    expect(() => new BackupNetwork(stack(), 'Network', { maxAzs: 4 })).toThrow(
      "'maxAzs' must be between 1 and 3, got 4",
    );
  });

  describe('a new network, from the test config', () => {
    let template: Template;
    beforeAll(() => {
      const scope = stack();
      const { network } = parseDeploymentConfig(PRIMARY_TEST_CONFIG, 'test config');
      new BackupNetwork(scope, 'Network', {
        ...networkProps(scope, network),
        buckets: [new s3.Bucket(scope, 'Vault')],
      });
      template = Template.fromStack(scope);
    });
    const vaultArn = { 'Fn::GetAtt': [Match.stringLikeRegexp('^Vault'), 'Arn'] };
    const taskGroup = { 'Fn::GetAtt': [Match.stringLikeRegexp('^NetworkTaskSecurityGroup'), 'GroupId'] };

    it("lets through the S3 endpoint only pgproof's own requests to its buckets, and ECR's image layers", () => {
      template.hasResourceProperties('AWS::EC2::VPCEndpoint', {
        VpcEndpointType: 'Gateway',
        PolicyDocument: {
          Version: '2012-10-17',
          Statement: [
            {
              Effect: 'Allow',
              Principal: { AWS: '*' },
              Action: [
                's3:AbortMultipartUpload',
                's3:GetObject',
                's3:GetObjectVersion',
                's3:ListBucket',
                's3:PutObject',
                's3:PutObjectRetention',
                's3:PutObjectTagging',
              ],
              Resource: [vaultArn, { 'Fn::Join': ['', [vaultArn, '/*']] }],
              Condition: { StringEquals: { 'aws:PrincipalAccount': '123456789012' } },
            },
            {
              Effect: 'Allow',
              Principal: { AWS: '*' },
              Action: 's3:GetObject',
              Resource: 'arn:aws:s3:::prod-eu-west-1-starport-layer-bucket/*',
            },
          ],
        },
      });
    });

    it("admits only this account's principals through every interface endpoint", () => {
      const endpoints = template.findResources('AWS::EC2::VPCEndpoint', {
        Properties: { VpcEndpointType: 'Interface' },
      });
      expect(Object.keys(endpoints)).toHaveLength(5);
      for (const endpoint of Object.values(endpoints)) {
        expect(endpoint.Properties.PolicyDocument).toEqual({
          Version: '2012-10-17',
          Statement: [
            {
              Effect: 'Allow',
              Principal: { AWS: '*' },
              Action: '*',
              Resource: '*',
              Condition: { StringEquals: { 'aws:PrincipalAccount': '123456789012' } },
            },
          ],
        });
      }
    });

    it("lets the tasks' shared group out only to the interface endpoints and to S3, over HTTPS", () => {
      const groups = template.findResources('AWS::EC2::SecurityGroup', {
        Properties: { GroupDescription: 'pgproof tasks: admitted by the AWS service endpoints' },
      });
      // No inline rule but the one that matches nothing: EC2's default allow-all is kept off.
      expect(Object.values(groups).map((g) => g.Properties.SecurityGroupEgress)).toEqual([
        [
          {
            CidrIp: '255.255.255.255/32',
            Description: 'Disallow all traffic',
            IpProtocol: 'icmp',
            FromPort: 252,
            ToPort: 86,
          },
        ],
      ]);
      const egress = Object.values(template.findResources('AWS::EC2::SecurityGroupEgress')).map(
        (rule) => rule.Properties,
      );
      expect(egress).toEqual([
        {
          Description: 'HTTPS to the AWS service endpoints',
          GroupId: expect.anything(),
          DestinationSecurityGroupId: {
            'Fn::GetAtt': [expect.stringMatching(/^NetworkEndpointSecurityGroup/), 'GroupId'],
          },
          IpProtocol: 'tcp',
          FromPort: 443,
          ToPort: 443,
        },
        {
          Description: 'HTTPS to S3 (backups, image layers)',
          GroupId: expect.anything(),
          DestinationPrefixListId: {
            'Fn::GetAtt': [expect.stringMatching(/^NetworkS3PrefixList/), 'PrefixLists.0.PrefixListId'],
          },
          IpProtocol: 'tcp',
          FromPort: 443,
          ToPort: 443,
        },
      ]);
      template.allResourcesProperties('AWS::EC2::SecurityGroupEgress', { GroupId: taskGroup });
      // The prefix list is the region's S3 one, looked up at deploy time.
      const [lookup] = Object.values(template.findResources('Custom::AWS'));
      expect(JSON.parse(lookup?.Properties.Create)).toMatchObject({
        service: 'EC2',
        action: 'describeManagedPrefixLists',
        parameters: { Filters: [{ Name: 'prefix-list-name', Values: ['com.amazonaws.eu-west-1.s3'] }] },
      });
    });

    it('runs tasks in isolated subnets: no internet or NAT gateway, flow logs on', () => {
      template.resourceCountIs('AWS::EC2::InternetGateway', 0);
      template.resourceCountIs('AWS::EC2::NatGateway', 0);
      template.resourceCountIs('AWS::EC2::Subnet', 2);
      template.allResourcesProperties('AWS::EC2::Subnet', { MapPublicIpOnLaunch: false });
      template.resourceCountIs('AWS::EC2::FlowLog', 1);
    });

    it('reaches S3 through a gateway endpoint and ECR, Secrets Manager, Logs and KMS through interface endpoints', () => {
      template.hasResourceProperties('AWS::EC2::VPCEndpoint', {
        VpcEndpointType: 'Gateway',
        ServiceName: { 'Fn::Join': ['', ['com.amazonaws.', { Ref: 'AWS::Region' }, '.s3']] },
      });
      const services = Object.values(
        template.findResources('AWS::EC2::VPCEndpoint', { Properties: { VpcEndpointType: 'Interface' } }),
      )
        .map((r) => String((r as { Properties: { ServiceName: string } }).Properties.ServiceName))
        .sort();
      expect(services).toEqual([
        'com.amazonaws.eu-west-1.ecr.api',
        'com.amazonaws.eu-west-1.ecr.dkr',
        'com.amazonaws.eu-west-1.kms',
        'com.amazonaws.eu-west-1.logs',
        'com.amazonaws.eu-west-1.secretsmanager',
      ]);
      template.hasResourceProperties('AWS::EC2::SecurityGroup', {
        GroupDescription: 'pgproof interface endpoints: HTTPS from pgproof tasks',
      });
      template.hasResourceProperties('AWS::EC2::SecurityGroupIngress', {
        FromPort: 443,
        ToPort: 443,
        GroupId: { 'Fn::GetAtt': [Match.stringLikeRegexp('^NetworkEndpointSecurityGroup'), 'GroupId'] },
        SourceSecurityGroupId: {
          'Fn::GetAtt': [Match.stringLikeRegexp('^NetworkTaskSecurityGroup'), 'GroupId'],
        },
      });
    });
  });
});
