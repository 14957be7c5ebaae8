import { ArnFormat, Duration, Stack } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { type DatabaseConfig, type NetworkConfig, retentionDays } from '../../core/config.ts';
import type { BackupNetworkProps } from '../constructs/backup-network.ts';
import type { DatabaseBackupProps } from '../constructs/database-backup.ts';
import type { DrillDatabaseProps } from '../constructs/restore-drill.ts';

/**
 * The deployment config mapped to construct props, in one place: what each construct takes from the
 * config. What it takes from other constructs (bucket, cluster, image...) the stack wires in.
 */

/** The CPU architecture of a database's backup task. */
export function taskArchitecture(db: DatabaseConfig): ecs.CpuArchitecture {
  return db.task.architecture === 'ARM64' ? ecs.CpuArchitecture.ARM64 : ecs.CpuArchitecture.X86_64;
}

/** The props of a database's {@link DatabaseBackup} that come from its config. */
export function databaseBackupSettings(
  db: DatabaseConfig,
): Pick<
  DatabaseBackupProps,
  | 'name'
  | 'host'
  | 'port'
  | 'database'
  | 'schedule'
  | 'timeZone'
  | 'retentionDays'
  | 'rpo'
  | 'includeTables'
  | 'excludeTables'
  | 'includeSchemas'
  | 'excludeSchemas'
  | 'dumpGlobals'
  | 'verify'
  | 'cpu'
  | 'memoryMiB'
  | 'ephemeralStorageGiB'
  | 'architecture'
> {
  return {
    name: db.name,
    host: db.host,
    port: db.port,
    database: db.database,
    schedule: db.schedule,
    timeZone: db.timeZone,
    retentionDays: retentionDays(db),
    rpo: Duration.hours(db.rpoHours),
    includeTables: db.includeTables,
    excludeTables: db.excludeTables,
    includeSchemas: db.includeSchemas,
    excludeSchemas: db.excludeSchemas,
    dumpGlobals: db.dumpGlobals,
    verify: db.verify,
    cpu: db.task.cpu,
    memoryMiB: db.task.memoryMiB,
    ephemeralStorageGiB: db.task.ephemeralStorageGiB,
    architecture: taskArchitecture(db),
  };
}

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
 * A database's drill from its config. Without `drill` it is still drillable on demand, judged by
 * verification alone (no RTO), with no schedule and no overdue alarm (nothing would keep it quiet).
 */
export function drillDatabaseProps(db: DatabaseConfig): DrillDatabaseProps {
  if (!db.drill) return { name: db.name, alarmWhenOverdue: false };
  return {
    name: db.name,
    rto: Duration.minutes(db.drill.rtoMinutes),
    schedule: db.drill.schedule,
    timeZone: db.drill.timeZone,
    maxDaysWithoutSuccess: db.drill.maxDaysWithoutSuccess,
    checks: db.drill.checks,
    ...(db.drill.postgresImage === undefined ? {} : { postgresImage: db.drill.postgresImage }),
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
