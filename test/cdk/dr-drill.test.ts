import { App, Stack } from 'aws-cdk-lib';
import { Match, type Template } from 'aws-cdk-lib/assertions';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PgproofReplica } from '../../cdk/constructs/pgproof-replica.ts';
import type { RestoreDrill } from '../../cdk/constructs/restore-drill.ts';
import { type DeploymentConfigError, parseDeploymentConfig } from '../../core/config.ts';
import { exampleConfigJson, joinToText, type SynthesizedDeployment, synthesize } from './synth.ts';

const IMAGE = () => ecs.ContainerImage.fromRegistry('public.ecr.aws/pgproof/runner');

type Resources = Record<string, { Type: string; Properties: Record<string, unknown> }>;
type Statement = { Action: string | string[]; Resource: unknown; Condition?: unknown };

let deployment: SynthesizedDeployment;
let replica: Template;
let resources: Resources;

beforeAll(() => {
  deployment = synthesize({ ...exampleConfigJson(), drDrill: {} }, IMAGE);
  replica = deployment.replica;
  resources = replica.toJSON().Resources as Resources;
});
afterAll(() => deployment.cleanup());

/** The logical id of the one resource of `type` matching `props`. */
function onlyId(type: string, props: Record<string, unknown> = {}): string {
  const ids = Object.keys(replica.findResources(type, { Properties: props }));
  expect(ids).toHaveLength(1);
  return ids[0] as string;
}

/** Every statement of the inline policies attached to role `roleId`. */
function statementsOf(roleId: string): Statement[] {
  return Object.values(resources)
    .filter(
      (r) =>
        r.Type === 'AWS::IAM::Policy' &&
        (r.Properties.Roles as { Ref: string }[]).some((ref) => ref.Ref === roleId),
    )
    .flatMap((r) => (r.Properties.PolicyDocument as { Statement: Statement[] }).Statement);
}

/** A resource ARN as text, each reference written as `<logical id>.<attribute>`. */
const arnText = (value: unknown) =>
  joinToText(value, (ref) =>
    ref.Ref ? String(ref.Ref) : ((ref['Fn::GetAtt'] as string[] | undefined) ?? []).join('.'),
  );

describe('DR drill in the replica stack (config drDrill)', () => {
  it('passes cdk-nag AwsSolutions in both stacks with no unsuppressed finding', () => {
    expect(deployment.nagFindings).toEqual([]);
  });

  it('runs the drill workflow without KeepProvenBackup; the primary keeps its own', () => {
    const machines = Object.values(replica.findResources('AWS::StepFunctions::StateMachine'));
    expect(machines).toHaveLength(1);
    const definition = JSON.parse(arnText(machines[0]?.Properties.DefinitionString)) as {
      States: Record<string, { Next?: string }>;
    };
    expect(Object.keys(definition.States)).not.toContain('KeepProvenBackup');
    expect(definition.States.EvaluateReport?.Next).toBe('Notify');
    expect(JSON.stringify(replica.findResources('AWS::Lambda::Function'))).not.toMatch(/last proven backup/);
    // The primary's drill still keeps its proven backups.
    deployment.primary.hasResourceProperties('AWS::Lambda::Function', {
      Description: Match.stringLikeRegexp('keeps the last proven backup'),
    });
  });

  it("gives each database's DR task role the replica bucket's database folder and the replica key only", () => {
    const bucket = onlyId('AWS::S3::Bucket', { BucketName: Match.stringLikeRegexp('-replica-') });
    const key = onlyId('AWS::KMS::Key', { Description: 'pgproof: encrypts PostgreSQL backups' });
    for (const name of ['orders', 'billing']) {
      const role = onlyId('AWS::IAM::Role', {
        Description: `pgproof: restore drill task of ${name} (reads its backups, writes its drill reports)`,
      });
      const statements = statementsOf(role);
      const granted = statements.flatMap((s) =>
        [s.Resource].flat().map((r) => `${[s.Action].flat().join(',')} ${arnText(r)}`),
      );
      expect(granted.sort()).toEqual(
        [
          `s3:ListBucket ${bucket}.Arn`,
          `s3:GetObject,s3:GetObjectVersion ${bucket}.Arn/${name}/*`,
          `s3:PutObject ${bucket}.Arn/drills/${name}/*`,
          ...granted.filter((g) => g.startsWith('kms:')),
        ].sort(),
      );
      const keyGrants = granted.filter((g) => g.startsWith('kms:'));
      expect(keyGrants.length).toBeGreaterThan(0);
      for (const grant of keyGrants) expect(grant).toMatch(new RegExp(` ${key}\\.Arn$`));
      expect(JSON.stringify(statements.find((s) => s.Action === 's3:ListBucket')?.Condition)).toBe(
        JSON.stringify({ StringLike: { 's3:prefix': [`${name}/*`] } }),
      );
    }
  });

  it('tells the runner and EvaluateReport it is a DR drill in the replica region', () => {
    const runners = Object.values(replica.findResources('AWS::ECS::TaskDefinition')).flatMap((t) =>
      (
        t.Properties.ContainerDefinitions as {
          Name: string;
          Environment?: { Name: string; Value: string }[];
        }[]
      )
        .filter((c) => c.Name === 'restore-runner')
        .map((c) => Object.fromEntries((c.Environment ?? []).map((v) => [v.Name, v.Value]))),
    );
    expect(runners).toHaveLength(3);
    for (const environment of runners) {
      expect(environment).toMatchObject({
        DRILL_KIND: 'dr',
        DRILL_REGION: 'eu-central-1',
        RESTORE_MODE: 'drill',
      });
    }
    replica.hasResourceProperties('AWS::Lambda::Function', {
      Description: 'pgproof: judges a drill from its report, publishes its metrics',
      Environment: { Variables: { DRILL_KIND: 'dr' } },
    });
    replica.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: { DR_DRILL_WINDOWS: '{"orders":35,"billing":35}' } },
    });
  });

  it('drills each database monthly on its own schedule, and watches the DR drills daily', () => {
    const machine = onlyId('AWS::StepFunctions::StateMachine');
    for (const name of ['orders', 'billing']) {
      replica.hasResourceProperties('AWS::Scheduler::Schedule', {
        ScheduleExpression: 'cron(0 6 1 * ? *)',
        ScheduleExpressionTimezone: 'UTC',
        Target: { Arn: { Ref: machine }, Input: JSON.stringify({ database: name }) },
      });
    }
    replica.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'cron(30 0 * * ? *)',
      Target: { Arn: { 'Fn::GetAtt': [Match.stringLikeRegexp('WatchDrDrillsFunction'), 'Arn'] } },
    });
  });

  it('alarms per database when no DR drill passed within 35 days, on the DR topic', () => {
    const topic = onlyId('AWS::SNS::Topic');
    for (const name of ['orders', 'billing']) {
      replica.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Namespace: 'pgproof',
        MetricName: 'DaysSinceDrDrillPassed',
        Dimensions: Match.arrayWith([{ Name: 'Database', Value: name }]),
        Threshold: 35,
        ComparisonOperator: 'GreaterThanThreshold',
        EvaluationPeriods: 2,
        TreatMissingData: 'breaching',
        AlarmActions: [{ Ref: topic }],
        AlarmDescription: Match.stringLikeRegexp(`no DR drill of ${name} .* passed in the last 35 days`),
      });
    }
    // Nothing in the replica region counts the primary's DrillPassed.
    expect(JSON.stringify(replica.findResources('AWS::CloudWatch::Alarm'))).not.toMatch(/"DrillPassed"/);
  });
});

describe('DR drill settings', () => {
  it('rejects a DR window outside 1 to 400 days, naming its JSON path', () => {
    const problems = (() => {
      try {
        parseDeploymentConfig({ ...exampleConfigJson(), drDrill: { maxDaysWithoutSuccess: 0 } }, 'test');
        return [];
      } catch (error) {
        return (error as DeploymentConfigError).problems;
      }
    })();
    expect(problems).toEqual([
      'drDrill.maxDaysWithoutSuccess: must be at least 1; give the days without a passed DR drill before its alarm fires, e.g. 35 for a monthly drill',
    ]);
  });

  it("rejects a library DR drill's window outside 1 to 400 days, naming the prop", () => {
    const app = new App();
    const stack = new Stack(app, 'Replica', { env: { account: '123456789012', region: 'eu-central-1' } });
    expect(
      () => new PgproofReplica(stack, 'Replica', { drill: { maxDaysWithoutSuccess: 500, image: IMAGE() } }),
    ).toThrow("'drill.maxDaysWithoutSuccess' must be whole days from 1 to 400, got 500");
  });

  it("rejects a replica whose backupPrefix is not the primary's", () => {
    const app = new App();
    const stack = new Stack(app, 'Replica', { env: { account: '123456789012', region: 'eu-central-1' } });
    const replicaConstruct = new PgproofReplica(stack, 'Replica', { drill: { image: IMAGE() } });
    expect(() =>
      replicaConstruct.attachPrimary({ region: 'eu-west-1', drillReports: { prefix: 'pg/drills/' } }),
    ).toThrow(
      `PgproofReplica 'backupPrefix' is "", but the primary's drill reports are under "pg/drills/": give the replica the primary's backupPrefix, which its DR drill reads under`,
    );
  });

  it('a DR RestoreDrill has no KeepProvenBackup to hand out, and says why', () => {
    const app = new App();
    const stack = new Stack(app, 'Replica', { env: { account: '123456789012', region: 'eu-central-1' } });
    const replicaConstruct = new PgproofReplica(stack, 'Replica', { drill: { image: IMAGE() } });
    const drill = replicaConstruct.drill?.restoreDrill as RestoreDrill;
    expect(drill.kind).toBe('dr');
    expect(() => drill.keepProvenFunction).toThrow(
      "RestoreDrill of kind 'dr' has no KeepProvenBackup: the replica's legal holds are replicated from the primary",
    );
  });
});
