import { z } from 'zod';
import { flag, resourceId, text, wholeNumber } from './config-fields.ts';

/** The config's `network`: a VPC pgproof creates, or the subnets of an existing one the tasks run in. */

const subnetSchema = z
  .object({
    subnetId: resourceId('subnet', 'subnet', 'give the subnet id'),
    availabilityZone: text('give the subnet\'s availability zone, e.g. "eu-west-1a"'),
    routeTableId: resourceId('rtb', 'route table', "give the subnet's route table id"),
  })
  .strict();

/** The network the backup tasks run in, told apart by its `type`. */
export const networkSchema = z.discriminatedUnion(
  'type',
  [
    z
      .object({
        type: z.literal('create'),
        cidr: text('give an IPv4 CIDR, e.g. "10.80.0.0/24"')
          .regex(
            /^\d{1,3}(\.\d{1,3}){3}\/(1[6-9]|2[0-4])$/,
            'must be an IPv4 CIDR from /16 to /24; e.g. "10.80.0.0/24"',
          )
          .default('10.80.0.0/24'),
        maxAzs: wholeNumber(1, 3, 'give how many availability zones the tasks may use').default(2),
      })
      .strict(),
    z
      .object({
        type: z.literal('existing'),
        vpcId: resourceId('vpc', 'VPC', 'give the VPC id'),
        subnets: z
          .array(subnetSchema, { error: 'must be a list of the private subnets the backup tasks run in' })
          .min(1, 'must list at least one private subnet'),
        s3GatewayEndpoint: flag(
          'false when the VPC already routes these subnets to an S3 gateway endpoint',
        ).default(true),
        interfaceEndpoints: flag(
          'true when the subnets have no NAT route to ECR, Secrets Manager and CloudWatch Logs',
        ).default(false),
      })
      .strict(),
  ],
  {
    error: 'must say { "type": "create" } or { "type": "existing", "vpcId": ..., "subnets": [...] }',
  },
);

/** The network the backup tasks run in. */
export type NetworkConfig = z.infer<typeof networkSchema>;
