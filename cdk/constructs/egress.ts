import type * as ec2 from 'aws-cdk-lib/aws-ec2';

/**
 * The rule CDK itself writes into a group that may send nothing (ICMP type 252 code 86 to a
 * broadcast address: matches no traffic).
 */
const MATCH_NO_TRAFFIC = {
  CidrIp: '255.255.255.255/32',
  Description: 'Disallow all traffic',
  IpProtocol: 'icmp',
  FromPort: 252,
  ToPort: 86,
};

/**
 * Keeps EC2's default allow-all egress rule off a group whose egress rules are all separate
 * `AWS::EC2::SecurityGroupEgress` resources (rules to other groups or to a prefix list). CDK then
 * leaves the group's own `SecurityGroupEgress` empty, and a group created without any inline egress
 * rule gets EC2's allow-all rule, which the separate rules do not remove. Call it only on a group
 * with no inline egress rule: it replaces them.
 */
export function revokeDefaultEgress(group: ec2.SecurityGroup): void {
  (group.node.defaultChild as ec2.CfnSecurityGroup).addPropertyOverride('SecurityGroupEgress', [
    MATCH_NO_TRAFFIC,
  ]);
}
