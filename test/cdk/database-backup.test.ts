import { Duration, type Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as rds from 'aws-cdk-lib/aws-rds';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { AwsSolutionsChecks } from 'cdk-nag';
import { Construct } from 'constructs';
import { beforeAll, describe, expect, it } from 'vitest';
import { BackupLauncher } from '../../cdk/constructs/backup-launcher.ts';
import { BackupNetwork } from '../../cdk/constructs/backup-network.ts';
import { BackupVault } from '../../cdk/constructs/backup-vault.ts';
import { pascalCase } from '../../cdk/constructs/construct-id.ts';
import { DatabaseBackup, type DatabaseBackupProps } from '../../cdk/constructs/database-backup.ts';
import { databaseBackupSettings } from '../../cdk/constructs/database-settings.ts';
import { databaseAuthentication } from '../../cdk/stacks/config-props.ts';
import { parseDatabaseSettings } from '../../core/config.ts';
import { startBackupEventSchema } from '../../core/launch.ts';
import { bareStacks } from './bare-stack.ts';
import { joinToText, logicalIdsOf } from './synth.ts';
import { testDatabases } from './test-config.ts';

const stack = bareStacks();
const retention = { daily: 7, weekly: 35, monthly: 372, yearly: 2562 };

/** What a backup is wired to in the primary stack: the network, a cluster, a vault and a launcher. */
function backupEnvironment(
  scope: Stack,
  options: { readonly prefix?: string } = {},
): Pick<DatabaseBackupProps, 'vault' | 'cluster' | 'vpc' | 'launcher' | 'additionalSecurityGroups'> {
  const network = new BackupNetwork(scope, 'Network');
  const cluster = new ecs.Cluster(scope, 'Cluster', { vpc: network.vpc });
  const vault = BackupVault.fromBucketAndKey(new s3.Bucket(scope, 'Bucket'), new kms.Key(scope, 'Key'));
  const launcher = new BackupLauncher(scope, 'Launcher', {
    cluster,
    vpc: network.vpc,
    subnets: network.subnets,
    vault,
    ...options,
  });
  return {
    vault,
    cluster,
    vpc: network.vpc,
    launcher,
    additionalSecurityGroups: [network.taskSecurityGroup],
  };
}

/** The runner's environment in the task definition of the backup construct `id`, by variable. */
function runnerEnvironment(template: Template, id: string): Record<string, unknown> {
  const tasks = Object.entries(template.findResources('AWS::ECS::TaskDefinition'));
  const [task] = tasks.filter(([logicalId]) => logicalId.startsWith(`${id}Task`)).map(([, task]) => task);
  const [container] = (task?.Properties.ContainerDefinitions ?? []) as {
    Environment: { Name: string; Value: unknown }[];
  }[];
  return Object.fromEntries((container?.Environment ?? []).map((e) => [e.Name, e.Value]));
}

describe('DatabaseBackup', () => {
  const props = (scope: Stack, changes: Partial<DatabaseBackupProps>): DatabaseBackupProps => {
    const vpc = new ec2.Vpc(scope, 'Vpc', { natGateways: 0 });
    return {
      name: 'orders',
      host: 'db',
      database: 'orders',
      credentials: secretsmanager.Secret.fromSecretNameV2(scope, 'Secret', 'orders'),
      vault: BackupVault.fromBucketAndKey(
        s3.Bucket.fromBucketName(scope, 'Bucket', 'backups'),
        kms.Key.fromKeyArn(scope, 'Key', 'arn:aws:kms:eu-west-1:123456789012:key/x'),
      ),
      cluster: new ecs.Cluster(scope, 'Cluster', { vpc }),
      vpc,
      image: ecs.ContainerImage.fromRegistry('runner'),
      launcher: {} as BackupLauncher,
      schedule: 'cron(0 2 * * ? *)',
      timeZone: 'UTC',
      retentionDays: retention,
      rpo: Duration.hours(26),
      ...changes,
    };
  };

  it('rejects an RPO longer than an alarm can look back', () => {
    const scope = stack();
    expect(() => new DatabaseBackup(scope, 'Orders', props(scope, { rpo: Duration.days(8) }))).toThrow(
      "'rpo' must be whole hours from 1 to 168 (an alarm looks back at most 7 days), got 192",
    );
  });

  it('rejects an RPO that is not whole hours', () => {
    const scope = stack();
    expect(() => new DatabaseBackup(scope, 'Orders', props(scope, { rpo: Duration.minutes(90) }))).toThrow(
      "'rpo' must be whole hours from 1 to 168 (an alarm looks back at most 7 days), got 1.5",
    );
  });

  it('rejects a name that cannot be a key prefix', () => {
    const scope = stack();
    expect(() => new DatabaseBackup(scope, 'Orders', props(scope, { name: 'orders/eu' }))).toThrow(
      `'name' may hold only letters, digits, "_" and "-" (at most 63, starting with a letter or digit), got "orders/eu"`,
    );
  });

  it('rejects both a secret and IAM authentication, and neither', () => {
    const message = (changes: Partial<DatabaseBackupProps>) => {
      const scope = stack();
      return () => new DatabaseBackup(scope, 'Orders', props(scope, changes));
    };
    const iamAuth = { user: 'pgproof_backup', grantConnect: () => ({}) as never };
    expect(message({ iamAuth })).toThrow(
      "exactly one of 'credentials' (a secret with username and password) and 'iamAuth' (IAM database authentication) is required, got both",
    );
    expect(message({ credentials: undefined })).toThrow(
      "exactly one of 'credentials' (a secret with username and password) and 'iamAuth' (IAM database authentication) is required, got neither",
    );
  });

  it('rejects IAM authentication over TLS that does not verify the server', () => {
    const scope = stack();
    expect(
      () =>
        new DatabaseBackup(
          scope,
          'Orders',
          props(scope, {
            credentials: undefined,
            iamAuth: { user: 'pgproof_backup', grantConnect: () => ({}) as never },
            sslMode: 'require',
          }),
        ),
    ).toThrow(
      "'sslMode' must be 'verify-full' or 'verify-ca' with 'iamAuth' (the IAM token travels as the password), got 'require'",
    );
  });

  /** A database backed up with IAM authentication: an imported RDS instance, with a launcher and network. */
  describe('with IAM database authentication', () => {
    const DBUSER_ARN =
      'arn:aws:rds-db:eu-west-1:123456789012:dbuser:db-ABCDEFGHIJKLMNOPQRSTUVWXY0/pgproof_backup';
    let template: Template;
    let findings: string[];
    beforeAll(() => {
      const scope = stack();
      const instance = rds.DatabaseInstance.fromDatabaseInstanceAttributes(scope, 'Instance', {
        instanceIdentifier: 'orders',
        instanceEndpointAddress: 'orders.abc123.eu-west-1.rds.amazonaws.com',
        port: 5432,
        securityGroups: [],
        instanceResourceId: 'db-ABCDEFGHIJKLMNOPQRSTUVWXY0',
      });
      new DatabaseBackup(scope, 'DatabaseOrders', {
        name: 'orders',
        host: instance.dbInstanceEndpointAddress,
        database: 'orders',
        iamAuth: {
          user: 'pgproof_backup',
          grantConnect: (grantee) => instance.grantConnect(grantee, 'pgproof_backup'),
        },
        ...backupEnvironment(scope),
        image: ecs.ContainerImage.fromRegistry('runner'),
        schedule: 'cron(0 2 * * ? *)',
        timeZone: 'UTC',
        retentionDays: retention,
        rpo: Duration.hours(26),
      });
      template = Template.fromStack(scope);
      findings = new AwsSolutionsChecks()
        .validateScope(scope.node.root)
        .violations.flatMap((violation) =>
          violation.violatingResources.map(
            (resource) =>
              `${violation.ruleName} at ${(resource as { constructPath?: string }).constructPath}`,
          ),
        )
        .filter((finding) => finding.includes('/DatabaseOrders/'));
    });

    it('gives the runner its user and PG_IAM_AUTH, verified TLS, and no secret at all', () => {
      const [task] = Object.values(template.findResources('AWS::ECS::TaskDefinition')) as [
        { Properties: { ContainerDefinitions: unknown } },
      ];
      const [container] = task.Properties.ContainerDefinitions as [
        { Environment: { Name: string; Value: unknown }[]; Secrets?: unknown },
      ];
      expect(container.Secrets).toBeUndefined();
      const environment = Object.fromEntries(container.Environment.map((e) => [e.Name, e.Value]));
      expect(environment).toMatchObject({
        PGHOST: 'orders.abc123.eu-west-1.rds.amazonaws.com',
        PGUSER: 'pgproof_backup',
        PG_IAM_AUTH: 'true',
        PGSSLMODE: 'verify-full',
      });
      expect(environment).not.toHaveProperty('PGPASSWORD');
      // Nor may the execution role read one.
      const own = Object.entries(template.toJSON().Resources as Record<string, unknown>).filter(([id]) =>
        id.startsWith('DatabaseOrders'),
      );
      expect(own.length).toBeGreaterThan(0);
      expect(JSON.stringify(own)).not.toMatch(/secretsmanager|Secrets/);
    });

    it('lets the task role connect as exactly that database user, and nothing wider', () => {
      const statements = Object.values(template.findResources('AWS::IAM::Policy')).flatMap(
        (policy) =>
          (policy.Properties as { PolicyDocument: { Statement: { Action: unknown }[] } }).PolicyDocument
            .Statement,
      );
      const rdsStatements = statements.filter((statement) =>
        JSON.stringify(statement.Action).includes('rds'),
      );
      expect(rdsStatements).toEqual([{ Action: 'rds-db:connect', Effect: 'Allow', Resource: DBUSER_ARN }]);
      template.hasResourceProperties('AWS::IAM::Policy', {
        Roles: [{ Ref: Match.stringLikeRegexp('^DatabaseOrdersTaskTaskRole') }],
        PolicyDocument: {
          Statement: Match.arrayWith([{ Action: 'rds-db:connect', Effect: 'Allow', Resource: DBUSER_ARN }]),
        },
      });
    });

    it('leaves no cdk-nag finding', () => {
      expect(findings).toEqual([]);
    });
  });

  it('rejects dump streams that are not a whole number from 1 to 16', () => {
    for (const dumpStreams of [0, 17, 1.5]) {
      const scope = stack();
      expect(() => new DatabaseBackup(scope, 'Orders', props(scope, { dumpStreams }))).toThrow(
        `'dumpStreams' must be a whole number from 1 to 16 (parallel pg_dump processes; default: the task's vCPUs), got ${dumpStreams}`,
      );
    }
  });

  /** Databases of several task sizes, from settings as the config and `addDatabase` give them, and one without. */
  describe('dump streams', () => {
    let streamsOf: (name: string) => unknown;
    beforeAll(() => {
      const scope = stack();
      const environment = backupEnvironment(scope);
      const fromSettings = (name: string, changes: Record<string, unknown>) =>
        databaseBackupSettings({
          ...parseDatabaseSettings(
            { database: name, schedule: 'cron(0 2 * * ? *)', timeZone: 'UTC', rpoHours: 26, ...changes },
            name,
          ),
          name,
          host: 'db',
          port: 5432,
        });
      const large = { task: { cpu: 4096, memoryMiB: 8192 } };
      for (const [name, settings] of [
        ['small', fromSettings('small', {})],
        ['large', fromSettings('large', large)],
        ['spared', fromSettings('spared', { ...large, streams: 2 })],
        // Built without settings: the construct's own default, from its cpu.
        [
          'direct',
          {
            name: 'direct',
            host: 'db',
            database: 'direct',
            schedule: 'cron(0 2 * * ? *)',
            timeZone: 'UTC',
            retentionDays: retention,
            rpo: Duration.hours(26),
            cpu: 8192,
            memoryMiB: 16384,
          },
        ],
      ] as const) {
        new DatabaseBackup(scope, pascalCase(name), {
          ...settings,
          credentials: secretsmanager.Secret.fromSecretNameV2(scope, `${pascalCase(name)}Secret`, name),
          ...environment,
          image: ecs.ContainerImage.fromRegistry('runner'),
        });
      }
      const template = Template.fromStack(scope);
      streamsOf = (name) => runnerEnvironment(template, pascalCase(name)).DUMP_STREAMS;
    });

    it('gives the runner one stream per vCPU of the task: 1 for 1024 CPU units, 4 for 4096', () => {
      expect(streamsOf('small')).toBe('1');
      expect(streamsOf('large')).toBe('4');
    });

    it('gives the runner the streams the settings name', () => {
      expect(streamsOf('spared')).toBe('2');
    });

    it('derives them from the cpu of a backup built without settings, so the runner never guesses', () => {
      expect(streamsOf('direct')).toBe('8');
    });
  });

  describe('authentication from the config', () => {
    const [orders] = testDatabases();
    if (!orders) throw new Error('the test config has no databases');

    it('imports the secret and its key under the database scope, as the primary stack always has', () => {
      const scope = stack();
      const imports = new Construct(scope, 'Orders');
      const secretKeyArn = 'arn:aws:kms:eu-west-1:123456789012:key/11111111-2222-3333-4444-555555555555';
      const { credentials, iamAuth } = databaseAuthentication(imports, { ...orders, secretKeyArn });
      expect(iamAuth).toBeUndefined();
      expect(credentials?.node.path).toBe('Test/Orders/Credentials');
      expect(credentials?.secretArn).toBe(orders.secretArn);
      expect(credentials?.encryptionKey?.node.path).toBe('Test/Orders/CredentialsKey');
    });

    it('grants rds-db:connect as exactly the configured user of the configured Aurora cluster', () => {
      const scope = stack();
      const { secretArn: _secret, ...withoutSecret } = orders;
      const db = {
        ...withoutSecret,
        iamAuth: { user: 'pgproof_backup', resourceId: 'cluster-ABCDEFGHIJKLMNOPQRSTUVWXY0' },
      };
      const authentication = databaseAuthentication(new Construct(scope, 'Orders'), db);
      expect(authentication.credentials).toBeUndefined();
      expect(authentication.iamAuth?.user).toBe('pgproof_backup');
      new DatabaseBackup(scope, 'DatabaseOrders', {
        ...databaseBackupSettings(db),
        ...authentication,
        ...backupEnvironment(scope),
        image: ecs.ContainerImage.fromRegistry('runner'),
      });
      const template = Template.fromStack(scope);
      template.hasResourceProperties('AWS::IAM::Policy', {
        Roles: [{ Ref: Match.stringLikeRegexp('^DatabaseOrdersTaskTaskRole') }],
        PolicyDocument: {
          Statement: Match.arrayWith([
            {
              Action: 'rds-db:connect',
              Effect: 'Allow',
              Resource:
                'arn:aws:rds-db:eu-west-1:123456789012:dbuser:cluster-ABCDEFGHIJKLMNOPQRSTUVWXY0/pgproof_backup',
            },
          ]),
        },
      });
      expect(JSON.stringify(template.toJSON())).not.toMatch(/rds-db:\*|dbuser:\*|dbuser:[^"]*\*/);
    });
  });

  /**
   * The two test databases as the primary stack backs them up: under `pg/`, COMPLIANCE locks, one
   * launcher, the network's shared task group, and orders' database security group opened to its task.
   */
  describe('the test databases, with one launcher', () => {
    let template: Template;
    let bucketId: () => string;
    let keyId: () => string;
    beforeAll(() => {
      const scope = stack();
      const environment = backupEnvironment(scope, { prefix: 'pg/' });
      for (const db of testDatabases()) {
        const id = `Database${pascalCase(db.name)}`;
        new DatabaseBackup(scope, id, {
          ...databaseBackupSettings(db),
          ...databaseAuthentication(new Construct(scope, pascalCase(db.name)), db),
          ...environment,
          prefix: 'pg/',
          image: ecs.ContainerImage.fromRegistry('runner'),
          objectLockMode: 'COMPLIANCE',
          databaseSecurityGroups:
            db.databaseSecurityGroupId === undefined
              ? []
              : [
                  ec2.SecurityGroup.fromSecurityGroupId(
                    scope,
                    `${id}DatabaseSecurityGroup`,
                    db.databaseSecurityGroupId,
                  ),
                ],
        });
      }
      template = Template.fromStack(scope);
      bucketId = () => logicalIdsOf(template, 'AWS::S3::Bucket')[0] ?? '';
      keyId = () => logicalIdsOf(template, 'AWS::KMS::Key')[0] ?? '';
    });
    /** The one resource of `type` whose logical id contains `fragment`. */
    const resource = (type: string, fragment: string) => {
      const matches = Object.entries(template.findResources(type)).filter(([id]) => id.includes(fragment));
      expect(matches.map(([id]) => id)).toHaveLength(1);
      return matches[0]?.[1] as { Properties: Record<string, unknown> };
    };

    it('defines one ARM64 Fargate task per database with its size', () => {
      // The restore drill's, one per PostgreSQL major, are counted in primary-stack.test.ts.
      template.resourceCountIs('AWS::ECS::TaskDefinition', 2);
      expect(logicalIdsOf(template, 'AWS::ECS::TaskDefinition')).toEqual([
        expect.stringMatching(/^DatabaseOrdersTask/),
        expect.stringMatching(/^DatabaseBillingTask/),
      ]);
      template.hasResourceProperties('AWS::ECS::TaskDefinition', {
        Cpu: '1024',
        Memory: '2048',
        EphemeralStorage: { SizeInGiB: 50 },
        RequiresCompatibilities: ['FARGATE'],
        RuntimePlatform: { CpuArchitecture: 'ARM64', OperatingSystemFamily: 'LINUX' },
      });
      template.hasResourceProperties('AWS::ECS::TaskDefinition', { Cpu: '2048', Memory: '4096' });
    });

    it('configures the runner by the environment contract, with credentials only as secrets', () => {
      const [container] = resource('AWS::ECS::TaskDefinition', 'DatabaseOrders').Properties
        .ContainerDefinitions as [
        {
          Environment: { Name: string; Value: unknown }[];
          Secrets: unknown;
          Name: string;
          LogConfiguration: unknown;
        },
      ];
      const environment = Object.fromEntries(container.Environment.map((e) => [e.Name, e.Value]));
      expect(environment).toEqual({
        PGHOST: 'orders.cluster-abc123.eu-west-1.rds.amazonaws.com',
        PGPORT: '5432',
        PGSSLMODE: 'verify-full',
        PGDATABASE: 'orders',
        BACKUP_BUCKET: { Ref: bucketId() },
        BACKUP_PREFIX: 'pg/',
        BACKUP_NAME: 'orders',
        KMS_KEY_ID: { 'Fn::GetAtt': [keyId(), 'Arn'] },
        BACKUP_TIER: 'daily',
        RETENTION_DAYS: '7',
        OBJECT_LOCK_MODE: 'COMPLIANCE',
        EXCLUDE_TABLES: 'public.audit_log',
        DUMP_GLOBALS: 'true',
        VERIFY: 'counts',
        DUMP_STREAMS: '1',
      });
      expect(container.Name).toBe('pg-dump');
      expect(container.Secrets).toEqual([
        {
          Name: 'PGUSER',
          ValueFrom: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:pgproof/orders-AbCdEf:username::',
        },
        {
          Name: 'PGPASSWORD',
          ValueFrom: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:pgproof/orders-AbCdEf:password::',
        },
      ]);
      expect(container.LogConfiguration).toMatchObject({
        LogDriver: 'awslogs',
        Options: { 'awslogs-group': { Ref: expect.stringMatching(/^DatabaseOrdersLogs/) } },
      });
    });

    it('passes the selections and verify level of the second database', () => {
      const [container] = resource('AWS::ECS::TaskDefinition', 'DatabaseBilling').Properties
        .ContainerDefinitions as [{ Environment: { Name: string; Value: unknown }[] }];
      expect(container.Environment).toEqual(
        expect.arrayContaining([
          { Name: 'INCLUDE_SCHEMAS', Value: 'public,ledger' },
          { Name: 'VERIFY', Value: 'checksums' },
          { Name: 'RETENTION_DAYS', Value: '14' },
          // Its task has 2048 CPU units: two vCPUs.
          { Name: 'DUMP_STREAMS', Value: '2' },
        ]),
      );
    });

    it('runs the backup runner on a read-only root file system, with /tmp a task volume', () => {
      for (const task of Object.values(template.findResources('AWS::ECS::TaskDefinition'))) {
        expect(task.Properties.Volumes).toEqual([{ Name: 'tmp' }]);
        expect(task.Properties.ContainerDefinitions).toEqual([
          expect.objectContaining({
            Name: 'pg-dump',
            ReadonlyRootFilesystem: true,
            MountPoints: [{ SourceVolume: 'tmp', ContainerPath: '/tmp', ReadOnly: false }],
          }),
        ]);
      }
    });

    it('keeps task logs for three months', () => {
      template.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 90 });
      template.allResourcesProperties('AWS::Logs::LogGroup', { RetentionInDays: Match.anyValue() });
    });

    it('lets the task write and read only its own prefix, use the key through S3, see its state, and delete nothing', () => {
      const orders = () => ({ 'Fn::Join': ['', [{ 'Fn::GetAtt': [bucketId(), 'Arn'] }, '/pg/orders/*']] });
      template.hasResourceProperties('AWS::IAM::Policy', {
        Roles: [{ Ref: Match.stringLikeRegexp('^DatabaseOrdersTaskTaskRole') }],
        PolicyDocument: {
          Statement: [
            {
              Action: ['s3:AbortMultipartUpload', 's3:GetObject'],
              Effect: 'Allow',
              Resource: orders(),
            },
            // orders keeps yearly backups 7 years (2562 days): no object may be locked longer.
            {
              Action: 's3:PutObject',
              Condition: {
                NumericLessThanEqualsIfExists: { 's3:object-lock-remaining-retention-days': 2562 },
              },
              Effect: 'Allow',
              Resource: orders(),
            },
            // Tags and locks only as an object is created: never on one that already has its tier.
            {
              Action: 's3:PutObjectTagging',
              Condition: {
                Null: { 's3:ExistingObjectTag/pgproof:tier': 'true' },
                StringEquals: { 's3:RequestObjectTag/pgproof:database': 'orders' },
              },
              Effect: 'Allow',
              Resource: orders(),
            },
            {
              Action: 's3:PutObjectRetention',
              Condition: {
                Null: { 's3:ExistingObjectTag/pgproof:tier': 'true' },
                NumericLessThanEquals: { 's3:object-lock-remaining-retention-days': 2562 },
              },
              Effect: 'Allow',
              Resource: orders(),
            },
            { Action: 's3:ListBucket', Effect: 'Allow', Resource: { 'Fn::GetAtt': [bucketId(), 'Arn'] } },
            {
              Action: ['kms:Decrypt', 'kms:GenerateDataKey'],
              Condition: { StringEquals: { 'kms:ViaService': 's3.eu-west-1.amazonaws.com' } },
              Effect: 'Allow',
              Resource: { 'Fn::GetAtt': [keyId(), 'Arn'] },
            },
            // The runner's check that the key is enabled, before the dump.
            { Action: 'kms:DescribeKey', Effect: 'Allow', Resource: { 'Fn::GetAtt': [keyId(), 'Arn'] } },
          ],
        },
      });
      const actions = JSON.stringify(template.findResources('AWS::IAM::Policy'));
      expect(actions).not.toMatch(/s3:Delete|s3:\*|s3:BypassGovernanceRetention|s3:PutObjectLegalHold/);
    });

    // Seeing the cluster's tasks is the launcher's own grant: test/cdk/backup-launcher.test.ts.
    it('lets the launcher start exactly the backup task definitions', () => {
      template.hasResourceProperties('AWS::IAM::Policy', {
        Roles: [{ Ref: Match.stringLikeRegexp('^LauncherRole') }],
        PolicyDocument: {
          Statement: Match.arrayWith([
            {
              Action: 'ecs:RunTask',
              Effect: 'Allow',
              Resource: [
                { Ref: Match.stringLikeRegexp('^DatabaseBillingTask') },
                { Ref: Match.stringLikeRegexp('^DatabaseOrdersTask') },
              ],
            },
          ]),
        },
      });
    });

    it('schedules each database with its cron, time zone, retries and dead-letter queue', () => {
      // The drill schedule of orders is counted in primary-stack.test.ts.
      template.resourceCountIs('AWS::Scheduler::Schedule', 2);
      expect(
        logicalIdsOf(template, 'AWS::Scheduler::Schedule', {
          Properties: {
            Target: { Arn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^LauncherFunction'), 'Arn'] } },
          },
        }),
      ).toHaveLength(2);
      template.hasResourceProperties('AWS::Scheduler::Schedule', {
        ScheduleExpression: 'cron(30 */6 * * ? *)',
        ScheduleExpressionTimezone: 'America/New_York',
        FlexibleTimeWindow: { Mode: 'OFF' },
        Target: Match.objectLike({
          Arn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^LauncherFunction'), 'Arn'] },
          RetryPolicy: { MaximumRetryAttempts: 3, MaximumEventAgeInSeconds: 3600 },
          DeadLetterConfig: {
            Arn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^LauncherDeadLetterQueue'), 'Arn'] },
          },
        }),
      });
    });

    it('sends a payload the launcher accepts, with the scheduled time filled in by the Scheduler', () => {
      const target = resource('AWS::Scheduler::Schedule', 'DatabaseOrders').Properties.Target as {
        Input: unknown;
      };
      const text = joinToText(target.Input, (reference) => {
        const id = String(reference.Ref ?? (reference['Fn::GetAtt'] as string[] | undefined)?.[0]);
        return id.includes('SecurityGroup')
          ? `sg-${id.includes('Network') ? 'shared' : 'own'}`
          : `arn:aws:ecs:eu-west-1:123456789012:task-definition/${id}:1`;
      });
      const payload = JSON.parse(text) as Record<string, unknown>;
      expect(payload.scheduledTime).toBe('<aws.scheduler.scheduled-time>');
      const parsed = startBackupEventSchema.parse({ ...payload, scheduledTime: '2026-03-10T01:00:00Z' });
      expect(parsed).toMatchObject({
        database: 'orders',
        timeZone: 'Europe/Berlin',
        containerName: 'pg-dump',
        securityGroupIds: ['sg-own', 'sg-shared'],
        retentionDays: { daily: 7, weekly: 35, monthly: 372, yearly: 2562 },
      });
    });

    it('alarms per database when no backup succeeded within its RPO, missing data included', () => {
      for (const [database, hours] of [
        ['orders', 26],
        ['billing', 7],
      ] as const) {
        template.hasResourceProperties('AWS::CloudWatch::Alarm', {
          Namespace: 'pgproof',
          MetricName: 'BackupSucceeded',
          Dimensions: [
            { Name: 'Database', Value: database },
            { Name: 'service', Value: 'pgproof' },
          ],
          Statistic: 'Sum',
          Period: 3600,
          EvaluationPeriods: hours,
          DatapointsToAlarm: hours,
          Threshold: 1,
          ComparisonOperator: 'LessThanThreshold',
          TreatMissingData: 'breaching',
        });
      }
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

    it("lets a backup task's own group out only to its database's port (the shared group reaches the endpoints)", () => {
      // orders: to its database's group only; EC2's default allow-all rule is kept off.
      expect(
        resource('AWS::EC2::SecurityGroup', 'DatabaseOrdersSecurityGroup').Properties.SecurityGroupEgress,
      ).toEqual([
        {
          CidrIp: '255.255.255.255/32',
          Description: 'Disallow all traffic',
          IpProtocol: 'icmp',
          FromPort: 252,
          ToPort: 86,
        },
      ]);
      template.hasResourceProperties('AWS::EC2::SecurityGroupEgress', {
        GroupId: { 'Fn::GetAtt': [Match.stringLikeRegexp('^DatabaseOrdersSecurityGroup'), 'GroupId'] },
        DestinationSecurityGroupId: 'sg-0123456789abcdef0',
        IpProtocol: 'tcp',
        FromPort: 5432,
        ToPort: 5432,
      });
      // billing has no database group: its port, to any address.
      expect(
        resource('AWS::EC2::SecurityGroup', 'DatabaseBillingSecurityGroup').Properties.SecurityGroupEgress,
      ).toEqual([
        {
          CidrIp: '0.0.0.0/0',
          Description: 'PostgreSQL of billing',
          IpProtocol: 'tcp',
          FromPort: 5432,
          ToPort: 5432,
        },
      ]);
    });
  });
});
