import { Match, Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { BackupNetwork } from '../../cdk/constructs/backup-network.ts';
import { networkProps } from '../../cdk/stacks/config-props.ts';
import { parseDeploymentConfig } from '../../core/config.ts';
import { bareStacks } from './bare-stack.ts';
import { PRIMARY_TEST_CONFIG } from './test-config.ts';

const stack = bareStacks();

describe('BackupNetwork', () => {
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
      new BackupNetwork(scope, 'Network', networkProps(scope, network));
      template = Template.fromStack(scope);
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
