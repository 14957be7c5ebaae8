import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as rds from 'aws-cdk-lib/aws-rds';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { afterAll, describe, expect, it } from 'vitest';
import { PgproofBackups } from '../../cdk/constructs/pgproof-backups.ts';
import { PgproofReplica } from '../../cdk/constructs/pgproof-replica.ts';

/**
 * The library's constructs as an app uses them (a plain App: no cdk.json of pgproof's), with the app's
 * own RDS databases. test/package/ does the same from the packed package; these check each wiring.
 */

const outdirs = mkdtempSync(join(tmpdir(), 'pgproof-library-'));
afterAll(() => rmSync(outdirs, { recursive: true, force: true }));
const account = '123456789012';

function app() {
  const scope = new App({ outdir: mkdtempSync(join(outdirs, 'app-')) });
  const replicaStack = new Stack(scope, 'Replica', { env: { account, region: 'eu-central-1' } });
  const primary = new Stack(scope, 'Primary', {
    env: { account, region: 'eu-west-1' },
    crossRegionReferences: true,
  });
  const vpc = new ec2.Vpc(primary, 'Vpc', { maxAzs: 2, natGateways: 1 });
  const replica = new PgproofReplica(replicaStack, 'Replica');
  const backups = new PgproofBackups(primary, 'Backups', {
    replica,
    network: { vpc },
    runnerImage: () => ecs.ContainerImage.fromRegistry('runner'),
  });
  return { scope, primary, replicaStack, vpc, backups };
}

describe('PgproofBackups.addDatabase', () => {
  it("takes an RDS instance: its endpoint and port, its generated secret, ingress on its group from the task's", () => {
    const { primary, vpc, backups } = app();
    const instance = new rds.DatabaseInstance(primary, 'Orders', {
      engine: rds.DatabaseInstanceEngine.postgres({ version: rds.PostgresEngineVersion.VER_17 }),
      vpc,
      port: 5433,
    });
    backups.addDatabase('orders', { instance, drill: { rtoMinutes: 30 } });
    const template = Template.fromStack(primary);
    template.hasResourceProperties('AWS::ECS::TaskDefinition', {
      ContainerDefinitions: [
        Match.objectLike({
          Environment: Match.arrayWith([
            {
              Name: 'PGHOST',
              Value: { 'Fn::GetAtt': [Match.stringLikeRegexp('^Orders'), 'Endpoint.Address'] },
            },
            { Name: 'PGPORT', Value: { 'Fn::GetAtt': [Match.stringLikeRegexp('^Orders'), 'Endpoint.Port'] } },
            { Name: 'PGDATABASE', Value: 'orders' },
          ]),
          Secrets: Match.arrayWith([
            Match.objectLike({ Name: 'PGPASSWORD', ValueFrom: Match.objectLike({}) }),
          ]),
        }),
      ],
    });
    template.hasResourceProperties('AWS::EC2::SecurityGroupIngress', {
      Description: 'pgproof backup task of orders',
      FromPort: { 'Fn::GetAtt': [Match.stringLikeRegexp('^Orders'), 'Endpoint.Port'] },
      SourceSecurityGroupId: {
        'Fn::GetAtt': [Match.stringLikeRegexp('^BackupsDatabaseOrdersSecurityGroup'), 'GroupId'],
      },
    });
    // Out of the task's own group only to the database's group, on its port.
    template.hasResourceProperties('AWS::EC2::SecurityGroupEgress', {
      DestinationSecurityGroupId: {
        'Fn::GetAtt': [Match.stringLikeRegexp('^OrdersSecurityGroup'), 'GroupId'],
      },
    });
  });

  it('rotates the database in the replica bucket too, with the same rules', () => {
    const { primary, replicaStack, backups } = app();
    backups.addDatabase('orders', {
      endpoint: { host: 'orders.internal', port: 5432 },
      credentials: secretsmanager.Secret.fromSecretNameV2(primary, 'Secret', 'orders'),
    });
    const rules = (stack: Stack) =>
      Object.values(Template.fromStack(stack).findResources('AWS::S3::Bucket'))
        .map((b) => JSON.stringify(b.Properties?.LifecycleConfiguration ?? ''))
        .find((r) => r.includes('orders/daily'));
    expect(rules(replicaStack)).toBeDefined();
    expect(rules(replicaStack)).toEqual(rules(primary));
  });

  it('refuses what cannot work, each in one line naming the call and the fix', () => {
    const { primary, backups } = app();
    const credentials = secretsmanager.Secret.fromSecretNameV2(primary, 'Secret', 'orders');
    const endpoint = { host: 'orders.internal' };
    expect(() => backups.addDatabase('orders', { credentials })).toThrow(
      "addDatabase('orders'): give exactly one of 'instance' (rds.IDatabaseInstance), 'cluster' (rds.IDatabaseCluster) or 'endpoint' ({ host, port })",
    );
    expect(() => backups.addDatabase('orders', { endpoint })).toThrow(
      `addDatabase('orders'): give 'credentials' (a secret with "username" and "password") or 'iamAuth' ({ user }); the database has no generated secret to use`,
    );
    expect(() => backups.addDatabase('orders', { endpoint, iamAuth: { user: 'pgproof_backup' } })).toThrow(
      "addDatabase('orders'): 'iamAuth' with an 'endpoint' needs 'iamAuth.grantConnect' (rds-db:connect as pgproof_backup); with 'instance' or 'cluster' it is theirs",
    );
    expect(() => backups.addDatabase('orders', { endpoint, credentials, schedule: '0 2 * * *' })).toThrow(
      `addDatabase('orders'): schedule: "0 2 * * *" is not an EventBridge Scheduler cron expression`,
    );
    expect(() => backups.addDatabase('drills', { endpoint, credentials })).toThrow(
      `addDatabase('drills'): "drills" is the folder of the drill reports; give the database another name`,
    );
    backups.addDatabase('orders_eu', { endpoint, credentials, schedule: undefined });
    expect(() => backups.addDatabase('orders-eu', { endpoint, credentials })).toThrow(
      `addDatabase('orders-eu'): "orders_eu" and "orders-eu" differ only in "_" or "-" or case of the first letter; rename one`,
    );
    expect(() => backups.addDatabase('orders_eu', { endpoint, credentials })).toThrow(
      "addDatabase('orders_eu'): a database of this name was added already",
    );
  });

  it('fails synth when no database was added, saying what to call', () => {
    const { scope } = app();
    expect(() => scope.synth()).toThrow(
      /PgproofBackups Primary\/Backups backs up no database: call addDatabase/,
    );
  });
});
