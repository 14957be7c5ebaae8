import { Match, type Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SynthesizedDeployment, synthesize } from '../synth.ts';
import { PRIMARY_TEST_CONFIG } from './fixture.ts';

/** The {@link BackupNetwork} parts of the primary stack, synthesized from the test config. */
let deployment: SynthesizedDeployment;
let template: Template;
beforeAll(() => {
  deployment = synthesize(PRIMARY_TEST_CONFIG);
  template = deployment.primary;
});
afterAll(() => deployment?.cleanup());

describe('primary stack: BackupNetwork', () => {
  describe('network', () => {
    it('runs tasks in isolated subnets: no internet or NAT gateway, flow logs on', () => {
      template.resourceCountIs('AWS::EC2::InternetGateway', 0);
      template.resourceCountIs('AWS::EC2::NatGateway', 0);
      template.resourceCountIs('AWS::EC2::Subnet', 2);
      template.allResourcesProperties('AWS::EC2::Subnet', { MapPublicIpOnLaunch: false });
      template.resourceCountIs('AWS::EC2::FlowLog', 1);
    });

    it('reaches S3 through a gateway endpoint and ECR, Secrets Manager and Logs through interface endpoints', () => {
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

    it('opens the database security group to the backup task on the database port', () => {
      template.hasResourceProperties('AWS::EC2::SecurityGroupIngress', {
        GroupId: 'sg-0123456789abcdef0',
        IpProtocol: 'tcp',
        FromPort: 5432,
        ToPort: 5432,
        SourceSecurityGroupId: {
          'Fn::GetAtt': [Match.stringLikeRegexp('^DatabaseOrdersSecurityGroup'), 'GroupId'],
        },
      });
      template.resourceCountIs('AWS::EC2::SecurityGroupIngress', 2);
    });
  });
});
