// The smallest CDK app that uses pgproof as a library (what the README's first deploy shows): an RDS
// instance and an Aurora cluster of the app's own, backed up, drilled and replicated. The pack test
// installs the packed pgproof into a fresh folder with this file, compiles it with tsc against the
// package's declarations and runs it with plain node.
import { App, Stack, Validations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as rds from 'aws-cdk-lib/aws-rds';
import { AwsSolutionsChecks } from 'cdk-nag';
import { PgproofBackups, PgproofReplica } from 'pgproof/cdk';

const app = new App();
Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
const account = '123456789012';
const replicaStack = new Stack(app, 'ShopBackupsReplica', { env: { account, region: 'eu-central-1' } });
const primaryStack = new Stack(app, 'Shop', {
  env: { account, region: 'eu-west-1' },
  crossRegionReferences: true,
});

// The app's own databases.
const vpc = new ec2.Vpc(primaryStack, 'Vpc', {
  maxAzs: 2,
  natGateways: 1,
  flowLogs: { all: { trafficType: ec2.FlowLogTrafficType.REJECT } },
});
const engine = rds.DatabaseInstanceEngine.postgres({ version: rds.PostgresEngineVersion.VER_17 });
const ordersDb = new rds.DatabaseInstance(primaryStack, 'Orders', {
  engine,
  vpc,
  vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
  port: 5433,
  multiAz: true,
  storageEncrypted: true,
  deletionProtection: true,
  iamAuthentication: true,
});
ordersDb.addRotationSingleUser();
const billingCluster = new rds.DatabaseCluster(primaryStack, 'Billing', {
  engine: rds.DatabaseClusterEngine.auroraPostgres({ version: rds.AuroraPostgresEngineVersion.VER_17_4 }),
  vpc,
  vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
  port: 5433,
  writer: rds.ClusterInstance.serverlessV2('Writer'),
  storageEncrypted: true,
  deletionProtection: true,
  iamAuthentication: true,
});
billingCluster.addRotationSingleUser();

// pgproof: a replica in a second region, backups in this one, one line per database.
const replica = new PgproofReplica(replicaStack, 'Replica');
const backups = new PgproofBackups(primaryStack, 'Backups', {
  replica,
  network: { vpc },
  notificationEmails: ['oncall@example.com'],
});
backups.addDatabase('orders', { instance: ordersDb, drill: { rtoMinutes: 30 } });
backups.addDatabase('billing', { cluster: billingCluster, iamAuth: { user: 'pgproof_backup' } });

app.synth();
