import { ArnFormat, Stack } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import type { ChatConfig, DatabaseConfig, NetworkConfig } from '../../core/config.ts';
import type { ChatNotifications } from '../constructs/backup-events.ts';
import type { BackupNetworkProps } from '../constructs/backup-network.ts';
import type { DatabaseBackupProps } from '../constructs/database-backup.ts';

/**
 * What only the config file's form needs to build constructs: imports of what the config names by id
 * or ARN (the login, the network). A database's settings map to construct props in
 * cdk/constructs/database-settings.ts, which the library's `addDatabase` shares.
 */

/**
 * How a database's backup logs in, from its config. With `secretArn`: the secret, imported into `scope`
 * as `Credentials` (its key as `CredentialsKey`; imports, so no logical id depends on them). With
 * `iamAuth`: the user, and a grant of `rds-db:connect` as exactly that user of exactly that instance or
 * Aurora cluster (`arn:<partition>:rds-db:<region>:<account>:dbuser:<resourceId>/<user>`).
 */
export function databaseAuthentication(
  scope: Construct,
  db: DatabaseConfig,
): Pick<DatabaseBackupProps, 'credentials' | 'iamAuth'> {
  if (db.iamAuth) {
    const { user, resourceId } = db.iamAuth;
    const dbUserArn = Stack.of(scope).formatArn({
      service: 'rds-db',
      resource: 'dbuser',
      resourceName: `${resourceId}/${user}`,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });
    return {
      iamAuth: {
        user,
        grantConnect: (grantee) =>
          iam.Grant.addToPrincipal({ grantee, actions: ['rds-db:connect'], resourceArns: [dbUserArn] }),
      },
    };
  }
  if (db.secretArn === undefined) {
    // The config's schema already refuses this, naming the field.
    throw new Error(`database "${db.name}" has neither 'secretArn' nor 'iamAuth'; give one`);
  }
  return {
    credentials: secretsmanager.Secret.fromSecretAttributes(scope, 'Credentials', {
      secretCompleteArn: db.secretArn,
      ...(db.secretKeyArn && {
        encryptionKey: kms.Key.fromKeyArn(scope, 'CredentialsKey', db.secretKeyArn),
      }),
    }),
  };
}

/**
 * The network construct's props from the config: a new VPC, or the configured subnets of an existing
 * one, imported into `scope` as `ExistingVpc` and `ExistingSubnets/<subnet id>` (imports: no resources).
 */
export function networkProps(scope: Construct, network: NetworkConfig): BackupNetworkProps {
  if (network.type === 'create') return { cidr: network.cidr, maxAzs: network.maxAzs };
  const vpc = ec2.Vpc.fromVpcAttributes(scope, 'ExistingVpc', {
    vpcId: network.vpcId,
    availabilityZones: [...new Set(network.subnets.map((s) => s.availabilityZone))],
  });
  const subnetScope = new Construct(scope, 'ExistingSubnets');
  const subnets = network.subnets.map((s) =>
    ec2.Subnet.fromSubnetAttributes(subnetScope, s.subnetId, {
      subnetId: s.subnetId,
      availabilityZone: s.availabilityZone,
      routeTableId: s.routeTableId,
    }),
  );
  return {
    vpc,
    subnets: { subnets },
    s3GatewayEndpoint: network.s3GatewayEndpoint,
    interfaceEndpoints: network.interfaceEndpoints,
  };
}

/**
 * The config's `chat` as the events construct takes it: each webhook's authorization secret imported into
 * `scope` as `Webhook<name>Authorization` (an import: no resource).
 */
export function chatNotifications(scope: Construct, chat: ChatConfig): ChatNotifications {
  return {
    ...(chat.slack && { slack: chat.slack }),
    ...(chat.teams && { teams: chat.teams }),
    includeSuccesses: chat.includeSuccesses,
    webhooks: chat.webhooks.map(({ name, url, authorizationSecretArn }) => ({
      name,
      url,
      ...(authorizationSecretArn && {
        authorizationSecret: secretsmanager.Secret.fromSecretCompleteArn(
          scope,
          `Webhook${name}Authorization`,
          authorizationSecretArn,
        ),
      }),
    })),
  };
}
