import { Duration } from 'aws-cdk-lib';
import { Match } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DrillDatabaseProps } from '../../cdk/constructs/restore-drill.ts';
import { type DrillStack, synthesizeDrill, TEST_DATABASES } from './drill-stack.ts';
import { joinToText } from './synth.ts';

/** The state machine's definition as deployed, each reference replaced by its logical id. */
function definitionOf(drill: DrillStack): {
  StartAt: string;
  States: Record<string, Record<string, unknown>>;
  QueryLanguage?: string;
} {
  const [machine] = Object.values(drill.template.findResources('AWS::StepFunctions::StateMachine'));
  const text = joinToText(machine?.Properties.DefinitionString, (ref) =>
    JSON.stringify(ref)
      .replace(/[^A-Za-z0-9]/g, '')
      .replace(/^(FnGetAtt|Ref)/, ''),
  );
  return JSON.parse(text);
}

describe('RestoreDrill construct', () => {
  let drill: DrillStack;
  beforeAll(() => {
    drill = synthesizeDrill();
  });
  afterAll(() => drill?.cleanup());

  it('passes cdk-nag AwsSolutions with no unsuppressed finding in its resources', () => {
    expect(drill.nagFindings).toEqual([]);
  });

  it('runs a standard JSONPath workflow that logs every event and traces with X-Ray', () => {
    drill.template.hasResourceProperties('AWS::StepFunctions::StateMachine', {
      StateMachineType: 'STANDARD',
      LoggingConfiguration: { Level: 'ALL', IncludeExecutionData: true },
      TracingConfiguration: { Enabled: true },
    });
    expect(definitionOf(drill).QueryLanguage).toBe('JSONPath');
  });

  it('chains ResolveBackup, RunRestore, EvaluateReport, KeepProvenBackup, Notify and the verdict, catching every failure', () => {
    const { StartAt, States } = definitionOf(drill);
    expect(StartAt).toBe('ResolveBackup');
    expect(Object.fromEntries(Object.entries(States).map(([name, s]) => [name, s.Next ?? s.Type]))).toEqual({
      // A backup in an archive storage class is retrieved first (drill-retrieval.test.ts).
      ResolveBackup: 'Archived?',
      'Archived?': 'Choice',
      RetrieveBackup: 'Retrieved?',
      'Retrieved?': 'Choice',
      WaitForRetrieval: 'RetrieveBackup',
      RunRestore: 'EvaluateReport',
      EvaluateReport: 'KeepProvenBackup',
      KeepProvenBackup: 'Notify',
      Notify: 'Passed?',
      'Passed?': 'Choice',
      DrillSucceeded: 'Succeed',
      DrillFailed: 'Fail',
      NotifyFailure: 'Failed',
      Failed: 'Fail',
    });
    const catches = (name: string) => States[name]?.Catch;
    for (const name of ['ResolveBackup', 'RetrieveBackup', 'EvaluateReport', 'KeepProvenBackup', 'Notify']) {
      expect(catches(name), name).toEqual([
        { ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'NotifyFailure' },
      ]);
    }
    // A failed task (exit 2: the backup did not verify) is still judged from its report.
    expect(catches('RunRestore')).toEqual([
      { ErrorEquals: ['States.ALL'], ResultPath: '$.restoreError', Next: 'EvaluateReport' },
    ]);
    expect(States.Failed).toMatchObject({ ErrorPath: '$.error.Error', CausePath: '$.error.Cause' });
    // It returns the evaluation (with what it kept in the message) for Notify and the verdict.
    expect(States.KeepProvenBackup).toMatchObject({ ResultPath: '$.evaluation' });
    expect(States['Passed?']).toMatchObject({
      Choices: [{ Variable: '$.evaluation.passed', BooleanEquals: true, Next: 'DrillSucceeded' }],
      Default: 'DrillFailed',
    });
  });

  it('runs the drill task with ecs:runTask.sync, sized and timed from the plan', () => {
    const { States } = definitionOf(drill);
    expect(States.RunRestore).toMatchObject({
      Resource: expect.stringMatching(/:states:::ecs:runTask\.sync$/),
      TimeoutSecondsPath: '$.drill.timeoutSeconds',
      ResultPath: null,
      Parameters: {
        Cluster: expect.stringContaining('Cluster'),
        'TaskDefinition.$': '$.drill.taskDefinitionArn',
        LaunchType: 'FARGATE',
        StartedBy: 'restore-drill',
        NetworkConfiguration: { AwsvpcConfiguration: { AssignPublicIp: 'DISABLED' } },
        Overrides: {
          'TaskRoleArn.$': '$.drill.taskRoleArn',
          'Cpu.$': '$.drill.cpu',
          'Memory.$': '$.drill.memory',
          EphemeralStorage: { 'SizeInGiB.$': '$.drill.ephemeralStorageGiB' },
          ContainerOverrides: [{ Name: 'restore-runner', 'Environment.$': '$.drill.environment' }],
        },
      },
    });
    expect(States.Notify?.Parameters).toMatchObject({
      'Subject.$': '$.evaluation.subject',
      'Message.$': '$.evaluation.message',
    });
  });

  it('defines one drill task per PostgreSQL major: a scratch server on localhost and the runner that waits for it', () => {
    drill.template.resourceCountIs('AWS::ECS::TaskDefinition', 2);
    for (const major of [15, 17]) {
      drill.template.hasResourceProperties('AWS::ECS::TaskDefinition', {
        Volumes: [{ Name: 'work' }, { Name: 'tmp' }],
        RequiresCompatibilities: ['FARGATE'],
        RuntimePlatform: { CpuArchitecture: 'ARM64', OperatingSystemFamily: 'LINUX' },
        ContainerDefinitions: [
          Match.objectLike({
            Name: 'postgres',
            Image: {
              'Fn::Join': [
                '',
                [
                  '123456789012.dkr.ecr.eu-west-1.',
                  { Ref: 'AWS::URLSuffix' },
                  `/pgproof-ecr-public/docker/library/postgres:${major}`,
                ],
              ],
            },
            Essential: false,
            Command: Match.arrayWith(['listen_addresses=localhost', 'fsync=off']),
            // Not named like any source role: the backup's own `postgres` restores as an ordinary role.
            Environment: [
              { Name: 'POSTGRES_HOST_AUTH_METHOD', Value: 'trust' },
              { Name: 'POSTGRES_USER', Value: 'pgproof_superuser' },
            ],
            HealthCheck: Match.objectLike({
              Command: ['CMD-SHELL', 'pg_isready -h localhost -U pgproof_superuser'],
            }),
            // The official image initializes its data directory on its root file system.
            ReadonlyRootFilesystem: Match.absent(),
          }),
          Match.objectLike({
            Name: 'restore-runner',
            Essential: true,
            Command: ['node', '/app/pg-restore.mjs'],
            DependsOn: [{ ContainerName: 'postgres', Condition: 'HEALTHY' }],
            Environment: Match.arrayWith([
              { Name: 'BACKUP_PREFIX', Value: 'pg/' },
              { Name: 'RESTORE_MODE', Value: 'drill' },
              { Name: 'WORK_DIR', Value: '/work' },
              { Name: 'PGHOST', Value: 'localhost' },
              { Name: 'PGUSER', Value: 'pgproof_superuser' },
            ]),
            ReadonlyRootFilesystem: true,
            MountPoints: [
              { SourceVolume: 'work', ContainerPath: '/work', ReadOnly: false },
              { SourceVolume: 'tmp', ContainerPath: '/tmp', ReadOnly: false },
            ],
          }),
        ],
      });
    }
  });

  /** The logical id of the one IAM role whose description matches. */
  function roleId(description: RegExp): string {
    const ids = Object.keys(
      drill.template.findResources('AWS::IAM::Role', {
        Properties: { Description: Match.stringLikeRegexp(description.source) },
      }),
    );
    expect(ids).toHaveLength(1);
    return ids[0] ?? '';
  }
  /** Every statement of the policies attached to the role `id`. */
  function statementsOf(id: string): { Action: string | string[]; Resource: unknown; Condition?: unknown }[] {
    return Object.values(drill.template.findResources('AWS::IAM::Policy'))
      .filter((policy) => JSON.stringify(policy.Properties.Roles) === JSON.stringify([{ Ref: id }]))
      .flatMap((policy) => policy.Properties.PolicyDocument.Statement);
  }
  const bucketArn = { 'Fn::GetAtt': [Match.stringLikeRegexp('^Bucket'), 'Arn'] };
  const objects = (pattern: string) => ({ 'Fn::Join': ['', [bucketArn, pattern]] });

  it("gives each database a drill role that reads only that database's backups and writes only its reports", () => {
    for (const name of ['shop', 'billing_v2']) {
      drill.template.hasResourceProperties('AWS::IAM::Policy', {
        Roles: [{ Ref: roleId(new RegExp(`restore drill task of ${name} `)) }],
        PolicyDocument: {
          Statement: [
            {
              Effect: 'Allow',
              Action: 's3:ListBucket',
              Resource: bucketArn,
              Condition: { StringLike: { 's3:prefix': [`pg/${name}/*`] } },
            },
            {
              Effect: 'Allow',
              Action: ['s3:GetObject', 's3:GetObjectVersion'],
              Resource: objects(`/pg/${name}/*`),
            },
            { Effect: 'Allow', Action: 's3:PutObject', Resource: objects(`/pg/drills/${name}/*`) },
            {
              Effect: 'Allow',
              Action: ['kms:Decrypt', 'kms:GenerateDataKey'],
              Resource: { 'Fn::GetAtt': [Match.stringLikeRegexp('^Key'), 'Arn'] },
              Condition: { StringEquals: { 'kms:ViaService': 's3.eu-west-1.amazonaws.com' } },
            },
          ],
        },
      });
    }
  });

  it("lets KeepProvenBackup hold only the drillable databases' backups and write only their proven indexes", () => {
    const id = roleId(/keeps the last proven backup/);
    const key = { 'Fn::GetAtt': [Match.stringLikeRegexp('^Key'), 'Arn'] };
    drill.template.hasResourceProperties('AWS::IAM::Policy', {
      Roles: [{ Ref: id }],
      PolicyDocument: {
        Statement: Match.arrayWith([
          {
            Effect: 'Allow',
            Action: 's3:PutObjectLegalHold',
            Resource: [objects('/pg/shop/*'), objects('/pg/billing_v2/*')],
          },
          {
            Effect: 'Allow',
            Action: 's3:ListBucketVersions',
            Resource: bucketArn,
            Condition: { StringLike: { 's3:prefix': ['pg/shop/*', 'pg/billing_v2/*'] } },
          },
          {
            Effect: 'Allow',
            Action: 's3:GetObject',
            Resource: [objects('/pg/shop/*/manifest.json'), objects('/pg/billing_v2/*/manifest.json')],
          },
          {
            Effect: 'Allow',
            Action: ['s3:GetObject', 's3:PutObject'],
            Resource: [objects('/pg/shop.proven.json'), objects('/pg/billing_v2.proven.json')],
          },
          { Effect: 'Allow', Action: 's3:ListBucket', Resource: bucketArn },
          {
            Effect: 'Allow',
            Action: ['kms:Decrypt', 'kms:GenerateDataKey'],
            Resource: key,
            Condition: { StringEquals: { 'kms:ViaService': 's3.eu-west-1.amazonaws.com' } },
          },
        ]),
      },
    });
    // Nothing else on S3: no delete, no retention or tags, no read of backup data, no write of a backup.
    const s3Actions = statementsOf(id)
      .flatMap((statement) => [statement.Action].flat())
      .filter((action) => action.startsWith('s3:'));
    expect(new Set(s3Actions)).toEqual(
      new Set([
        's3:PutObjectLegalHold',
        's3:ListBucketVersions',
        's3:GetObject',
        's3:PutObject',
        's3:ListBucket',
      ]),
    );
    const writes = statementsOf(id).filter((statement) => [statement.Action].flat().includes('s3:PutObject'));
    expect(writes).toHaveLength(1);
    expect(JSON.stringify(writes[0]?.Resource).match(/"\/pg\/[^"]*"/g)).toEqual([
      '"/pg/shop.proven.json"',
      '"/pg/billing_v2.proven.json"',
    ]);
    drill.template.hasResourceProperties('AWS::Lambda::Function', {
      Role: { 'Fn::GetAtt': [id, 'Arn'] },
      Environment: {
        Variables: { BACKUP_BUCKET: { Ref: Match.stringLikeRegexp('^Bucket') }, BACKUP_PREFIX: 'pg/' },
      },
    });
  });

  it("lets no drill role read two databases' backups, or reach S3 beyond its own prefixes", () => {
    const drillRoles = Object.keys(
      drill.template.findResources('AWS::IAM::Role', {
        Properties: { Description: Match.stringLikeRegexp('restore drill task') },
      }),
    );
    // The task definitions' default role and one per database.
    expect(drillRoles).toHaveLength(3);
    const readable = (id: string) =>
      statementsOf(id).flatMap((statement) => {
        const actions = [statement.Action].flat();
        if (actions.some((a) => /^s3:(Get|List)/.test(a))) {
          return [JSON.stringify(statement.Resource), JSON.stringify(statement.Condition ?? {})];
        }
        return [];
      });
    for (const id of drillRoles) {
      const reads = readable(id).join(' ');
      const databases = ['shop', 'billing_v2'].filter((name) => reads.includes(`pg/${name}/`));
      expect(databases.length, id).toBeLessThanOrEqual(1);
      // Nothing broader than a database's folder: no read of the whole prefix or bucket.
      expect(reads, id).not.toMatch(/"\/pg\/\*"|"\/\*"|pg\/\*"/);
      for (const statement of statementsOf(id)) {
        expect(
          [statement.Action].flat().every((a) => !a.includes('*')),
          id,
        ).toBe(true);
      }
    }
  });

  it('gives the drill task definitions a default role that may do nothing at all', () => {
    const id = roleId(/default role/);
    expect(statementsOf(id)).toEqual([]);
    for (const task of Object.values(drill.template.findResources('AWS::ECS::TaskDefinition'))) {
      expect(task.Properties.TaskRoleArn).toEqual({ 'Fn::GetAtt': [id, 'Arn'] });
    }
  });

  it('gives drill tasks, when given no group, one that admits nothing and lets out only HTTPS', () => {
    drill.template.hasResourceProperties('AWS::EC2::SecurityGroup', {
      GroupDescription: Match.stringLikeRegexp('^pgproof restore drill tasks'),
      SecurityGroupEgress: [
        {
          CidrIp: '0.0.0.0/0',
          Description: 'HTTPS to AWS services',
          IpProtocol: 'tcp',
          FromPort: 443,
          ToPort: 443,
        },
      ],
    });
    drill.template.resourceCountIs('AWS::EC2::SecurityGroupIngress', 0);
  });

  it('lets the workflow run only the drill tasks, in the drill cluster, and pass only their roles', () => {
    drill.template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Action: 'ecs:RunTask',
            Resource: [
              { Ref: Match.stringLikeRegexp('^DrillTask15') },
              { Ref: Match.stringLikeRegexp('^DrillTask17') },
            ],
            Condition: {
              ArnEquals: { 'ecs:cluster': { 'Fn::GetAtt': [Match.stringLikeRegexp('^Cluster'), 'Arn'] } },
            },
          }),
          {
            Effect: 'Allow',
            Action: 'iam:PassRole',
            // The default role, each database's drill role, and the execution role: no other.
            Resource: [
              { 'Fn::GetAtt': [Match.stringLikeRegexp('^DrillTaskRole'), 'Arn'] },
              { 'Fn::GetAtt': [Match.stringLikeRegexp('^DrillDatabaseTaskRolesShop'), 'Arn'] },
              { 'Fn::GetAtt': [Match.stringLikeRegexp('^DrillDatabaseTaskRolesBillingV2'), 'Arn'] },
              { 'Fn::GetAtt': [Match.stringLikeRegexp('^DrillTaskExecutionRole'), 'Arn'] },
            ],
            Condition: { StringEquals: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' } },
          },
          Match.objectLike({ Action: ['events:PutTargets', 'events:PutRule', 'events:DescribeRule'] }),
        ]),
      },
    });
  });

  it("gives ResolveBackup the databases' drill settings, the task of each major and each database's role", () => {
    drill.template.hasResourceProperties('AWS::Lambda::Function', {
      Runtime: 'nodejs24.x',
      Environment: {
        Variables: Match.objectLike({
          BACKUP_PREFIX: 'pg/',
          DRILL_DATABASES: JSON.stringify({
            shop: {
              rtoMinutes: 30,
              checks: [{ name: 'orders exist', sql: 'SELECT count(*) > 0 FROM sales.orders' }],
            },
            billing_v2: { rtoMinutes: 120, checks: [] },
          }),
          DRILL_TASKS: Match.anyValue(),
          DRILL_TASK_ROLES: {
            'Fn::Join': [
              '',
              [
                '{"shop":"',
                { 'Fn::GetAtt': [Match.stringLikeRegexp('^DrillDatabaseTaskRolesShop'), 'Arn'] },
                '","billing_v2":"',
                { 'Fn::GetAtt': [Match.stringLikeRegexp('^DrillDatabaseTaskRolesBillingV2'), 'Arn'] },
                '"}',
              ],
            ],
          },
        }),
      },
    });
  });

  it('schedules the drill of each database that has a schedule, in its time zone', () => {
    drill.template.resourceCountIs('AWS::Scheduler::Schedule', 1);
    drill.template.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'cron(0 5 ? * SUN *)',
      ScheduleExpressionTimezone: 'Europe/Berlin',
      Target: {
        Arn: { Ref: Match.stringLikeRegexp('^DrillStateMachine') },
        Input: JSON.stringify({ database: 'shop' }),
        RetryPolicy: { MaximumRetryAttempts: 3 },
      },
    });
  });

  // The stack routes these alarms to the alerts topic (primary-stack wiring test), not the drill.
  it('alarms on a failed drill and on each database without a passed drill for too long', () => {
    drill.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Metrics: Match.arrayWith([Match.objectLike({ Expression: 'failed + timedOut + aborted' })]),
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      TreatMissingData: 'notBreaching',
    });
    for (const [database, days] of [
      ['shop', 7],
      ['billing_v2', 3],
    ] as const) {
      drill.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Namespace: 'pgproof',
        MetricName: 'DrillPassed',
        // Powertools adds `service` to every metric: an alarm without it matches no data.
        Dimensions: [
          { Name: 'Database', Value: database },
          { Name: 'service', Value: 'pgproof' },
        ],
        Statistic: 'Maximum',
        Period: 86400,
        EvaluationPeriods: days,
        DatapointsToAlarm: days,
        Threshold: 1,
        ComparisonOperator: 'LessThanThreshold',
        TreatMissingData: 'breaching',
      });
    }
  });

  it('drills a database without an RTO or overdue alarm on demand only, when told', () => {
    const onDemand = synthesizeDrill({ databases: [{ name: 'adhoc', alarmWhenOverdue: false }] });
    try {
      onDemand.template.resourceCountIs('AWS::Scheduler::Schedule', 0);
      expect(
        onDemand.template.findResources('AWS::CloudWatch::Alarm', {
          Properties: { MetricName: 'DrillPassed' },
        }),
      ).toEqual({});
      onDemand.template.hasResourceProperties('AWS::Lambda::Function', {
        Environment: {
          Variables: Match.objectLike({ DRILL_DATABASES: JSON.stringify({ adhoc: { checks: [] } }) }),
        },
      });
    } finally {
      onDemand.cleanup();
    }
  });

  it('rejects props a drill cannot work with, naming the prop and the fix', () => {
    expect(() => synthesizeDrill({ prefix: 'pg' })).toThrow(
      `'prefix' must be empty or end with "/" (letters, digits and !_.'()/- only, no ".."), got "pg"`,
    );
    expect(() =>
      synthesizeDrill({
        databases: [{ name: 'shop', rto: Duration.minutes(30), maxDaysWithoutSuccess: 10 }],
      }),
    ).toThrow(
      `'databases[shop].maxDaysWithoutSuccess' must be whole days from 1 to 7 (an alarm looks back at most 7 days), got 10`,
    );
    expect(() => synthesizeDrill({ databases: [{ name: 'shop', rto: Duration.seconds(90) }] })).toThrow(
      `'databases[shop].rto' must be whole minutes, at least 1, got 1.5`,
    );
    expect(() =>
      synthesizeDrill({
        databases: [
          { name: 'a-b', rto: Duration.minutes(5) },
          { name: 'a_b', rto: Duration.minutes(5) },
        ],
      }),
    ).toThrow(`'databases' names "a_b" twice (or two names that differ only in "_" and "-")`);
  });

  describe('databases added after construction', () => {
    const [SHOP, BILLING] = TEST_DATABASES as [DrillDatabaseProps, DrillDatabaseProps];
    // billing_v2 with a scratch server image of its own: its task definitions, their RunTask grant
    // and DRILL_DATABASE_TASKS come with it.
    const databases = [SHOP, { ...BILLING, postgresImage: 'public.ecr.aws/bitnami/postgresql:{major}' }];
    let given: DrillStack;
    let added: DrillStack;
    beforeAll(() => {
      given = synthesizeDrill({ databases });
      added = synthesizeDrill({ databases: [] }, (drill) => {
        for (const db of databases) drill.addDatabase(db);
      });
    });
    afterAll(() => {
      given?.cleanup();
      added?.cleanup();
    });

    it('makes the same template as databases given in the props, logical ids and order of lists included', () => {
      expect(added.template.toJSON()).toEqual(given.template.toJSON());
      // Lists in strings (the Lambdas' environment JSON) and policy statements keep their order too.
      expect(JSON.stringify(added.template.toJSON())).toBe(JSON.stringify(given.template.toJSON()));
      expect(added.nagFindings).toEqual([]);
    });

    it('shows each database added in the public maps and lists', () => {
      const { drill } = added;
      expect([...drill.databaseTaskRoles.keys()]).toEqual(['shop', 'billing_v2']);
      expect([...drill.databaseTaskDefinitions.keys()]).toEqual(['billing_v2']);
      expect([...drill.overdueAlarms.keys()]).toEqual(['shop', 'billing_v2']);
      expect(drill.schedules).toHaveLength(1);
    });
  });

  it('rejects a database added twice after construction, as it does in the props', () => {
    const twice = `'databases' names "shop" twice (or two names that differ only in "_" and "-")`;
    expect(() =>
      synthesizeDrill({ databases: [] }, (drill) => {
        drill.addDatabase({ name: 'shop' });
        drill.addDatabase({ name: 'shop', rto: Duration.minutes(5) });
      }),
    ).toThrow(twice);
    expect(() => synthesizeDrill({}, (drill) => drill.addDatabase({ name: 'shop' }))).toThrow(twice);
    expect(() =>
      synthesizeDrill({ databases: [] }, (drill) =>
        drill.addDatabase({ name: 'shop', maxDaysWithoutSuccess: 8 }),
      ),
    ).toThrow(
      `'databases[shop].maxDaysWithoutSuccess' must be whole days from 1 to 7 (an alarm looks back at most 7 days), got 8`,
    );
  });

  it('rejects a drill left without any database at synth', () => {
    expect(() => synthesizeDrill({ databases: [] })).toThrow(
      "RestoreDrill has no database to drill: give it 'databases' or call addDatabase()",
    );
  });
});
