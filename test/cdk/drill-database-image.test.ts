import { Duration } from 'aws-cdk-lib';
import { Match } from 'aws-cdk-lib/assertions';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { drillDatabaseProps } from '../../cdk/constructs/database-settings.ts';
import type { DrillDatabaseProps } from '../../cdk/constructs/restore-drill.ts';
import { parseDeploymentConfig } from '../../core/config.ts';
import type { DrillPlan } from '../../core/drill.ts';
import { synthesizeDrillWorkflow } from '../../local/drill-workflow.ts';
import { fakeManifest, putManifest } from '../support/manifests.ts';
import { type S3Server, startS3 } from '../support/s3.ts';
import { type DrillStack, synthesizeDrill, TEST_DATABASES } from './drill-stack.ts';
import { exampleConfigJson } from './synth.ts';

/**
 * A database's own scratch server image (`drill.postgresImage`): its drill task definitions, the pull
 * grant, the workflow's permission to run them, and ResolveBackup choosing them.
 */

const POSTGIS = '123456789012.dkr.ecr.eu-west-1.amazonaws.com/postgis:{major}-3.5';
const BITNAMI = 'public.ecr.aws/bitnami/postgresql:{major}';
const [SHOP, BILLING] = TEST_DATABASES as [DrillDatabaseProps, DrillDatabaseProps];
const WITH_IMAGES: DrillDatabaseProps[] = [
  { ...SHOP, postgresImage: POSTGIS },
  { ...BILLING, postgresImage: BITNAMI },
];

type Resources = Record<string, { Type: string; Properties: Record<string, unknown> }>;
const resourcesOf = (drill: DrillStack) => drill.template.toJSON().Resources as Resources;
const idsOf = (drill: DrillStack, type: string) => Object.keys(drill.template.findResources(type)).sort();
/** The logical id of the one resource whose id starts with `prefix` and ends in CDK's 8-digit hash. */
function idStarting(drill: DrillStack, type: string, prefix: string): string {
  const ids = idsOf(drill, type).filter((id) => new RegExp(`^${prefix}[0-9A-F]{8}$`).test(id));
  expect(ids, prefix).toHaveLength(1);
  return ids[0] ?? '';
}
const containersOf = (task: Resources[string] | undefined) =>
  (task?.Properties.ContainerDefinitions ?? []) as Record<string, unknown>[];
const cachedImage = (path: string) => ({
  'Fn::Join': [
    '',
    ['123456789012.dkr.ecr.eu-west-1.', { Ref: 'AWS::URLSuffix' }, `/pgproof-ecr-public/${path}`],
  ],
});

describe('RestoreDrill: a database with a scratch server image of its own', () => {
  let plain: DrillStack;
  let drill: DrillStack;
  beforeAll(() => {
    plain = synthesizeDrill();
    drill = synthesizeDrill({ databases: WITH_IMAGES });
  });
  afterAll(() => {
    plain?.cleanup();
    drill?.cleanup();
  });

  it('passes cdk-nag AwsSolutions with no unsuppressed finding in its resources', () => {
    expect(drill.nagFindings).toEqual([]);
  });

  it('keeps every resource of the drill without such images under its logical id, the default tasks unchanged', () => {
    const before = resourcesOf(plain);
    const after = resourcesOf(drill);
    expect(Object.keys(after)).toEqual(expect.arrayContaining(Object.keys(before)));
    for (const major of [15, 17]) {
      const id = idStarting(plain, 'AWS::ECS::TaskDefinition', `DrillTask${major}`);
      expect(after[id]).toEqual(before[id]);
    }
  });

  it('defines one task per major per such database: the default task with that image', () => {
    drill.template.resourceCountIs('AWS::ECS::TaskDefinition', 6);
    const resources = resourcesOf(drill);
    for (const major of [15, 17]) {
      const byDefault = resources[idStarting(drill, 'AWS::ECS::TaskDefinition', `DrillTask${major}`)];
      for (const [name, image] of [
        ['Shop', `123456789012.dkr.ecr.eu-west-1.amazonaws.com/postgis:${major}-3.5`],
        ['BillingV2', cachedImage(`bitnami/postgresql:${major}`)],
      ] as const) {
        const own =
          resources[idStarting(drill, 'AWS::ECS::TaskDefinition', `DrillDatabaseTasks${name}Task${major}`)];
        const [postgres, ...others] = containersOf(own);
        expect(postgres?.Image, `${name} ${major}`).toEqual(image);
        // Everything else as the default task of the major: sidecar settings, runner, roles, volumes.
        const [defaultPostgres, ...defaultOthers] = containersOf(byDefault);
        expect({ ...postgres, Image: undefined }).toEqual({ ...defaultPostgres, Image: undefined });
        expect(others).toEqual(defaultOthers);
        const { ContainerDefinitions: _, Family: __, ...settings } = own?.Properties ?? {};
        const { ContainerDefinitions: ___, Family: ____, ...defaultSettings } = byDefault?.Properties ?? {};
        expect(settings).toEqual(defaultSettings);
        // Named after the default task, so that ResolveBackup needs only its revision.
        expect(own?.Properties.Family).toBe(
          `${byDefault?.Properties.Family}-${name === 'Shop' ? 'shop' : 'billing_v2'}`,
        );
      }
    }
  });

  it("lets the execution role pull the database's own ECR repository exactly, and ECR Public only through the cache", () => {
    const executionRole = idStarting(drill, 'AWS::IAM::Role', 'DrillTaskExecutionRole');
    const statements = Object.values(drill.template.findResources('AWS::IAM::Policy'))
      .filter((p) => JSON.stringify(p.Properties.Roles) === JSON.stringify([{ Ref: executionRole }]))
      .flatMap((p) => p.Properties.PolicyDocument.Statement as { Action: unknown; Resource: unknown }[]);
    const ecrResources = statements
      .filter((s) => [s.Action].flat().some((a) => String(a).startsWith('ecr:')))
      .map((s) => JSON.stringify(s.Resource));
    expect(ecrResources).toEqual([
      // The pull-through cache, as before (BITNAMI comes through it: no grant of its own).
      expect.stringContaining(':ecr:eu-west-1:123456789012:repository/pgproof-ecr-public/*"'),
      expect.stringContaining(':ecr:eu-west-1:123456789012:repository/postgis"'),
      '"*"',
    ]);
    expect(statements).toContainEqual({
      Effect: 'Allow',
      Action: ['ecr:BatchCheckLayerAvailability', 'ecr:GetDownloadUrlForLayer', 'ecr:BatchGetImage'],
      Resource: {
        'Fn::Join': [
          '',
          ['arn:', { Ref: 'AWS::Partition' }, ':ecr:eu-west-1:123456789012:repository/postgis'],
        ],
      },
    });
    expect(statements).toContainEqual({
      Effect: 'Allow',
      Action: 'ecr:GetAuthorizationToken',
      Resource: '*',
    });
  });

  it('makes the pull-through cache for a database on ECR Public when the default image comes from elsewhere', () => {
    const custom = synthesizeDrill({
      databases: [{ ...BILLING, postgresImage: BITNAMI }],
      postgresImage: (major) =>
        ecs.ContainerImage.fromRegistry(`123456789012.dkr.ecr.eu-west-1.amazonaws.com/pg:${major}`),
    });
    try {
      custom.template.resourceCountIs('AWS::ECR::PullThroughCacheRule', 1);
      custom.template.hasResourceProperties('AWS::ECS::TaskDefinition', {
        ContainerDefinitions: Match.arrayWith([
          Match.objectLike({ Name: 'postgres', Image: cachedImage('bitnami/postgresql:17') }),
        ]),
      });
    } finally {
      custom.cleanup();
    }
  });

  it("lets the workflow run the databases' own tasks besides the default ones", () => {
    drill.template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Action: 'ecs:RunTask',
            Resource: [
              { Ref: Match.stringLikeRegexp('^DrillTask15') },
              { Ref: Match.stringLikeRegexp('^DrillTask17') },
              { Ref: Match.stringLikeRegexp('^DrillDatabaseTasksShopTask15') },
              { Ref: Match.stringLikeRegexp('^DrillDatabaseTasksShopTask17') },
              { Ref: Match.stringLikeRegexp('^DrillDatabaseTasksBillingV2Task15') },
              { Ref: Match.stringLikeRegexp('^DrillDatabaseTasksBillingV2Task17') },
            ],
          }),
        ]),
      },
    });
  });

  it('gives ResolveBackup no DRILL_DATABASE_TASKS when no database has its own image', () => {
    const [resolve] = Object.values(
      plain.template.findResources('AWS::Lambda::Function', {
        Properties: { Environment: { Variables: { DRILL_DATABASES: Match.anyValue() } } },
      }),
    );
    expect(resolve?.Properties.Environment.Variables).not.toHaveProperty('DRILL_DATABASE_TASKS');
  });

  it('rejects an image a drill task could not pull, naming the database, the prop and the fix', () => {
    const withImage = (postgresImage: string) => () =>
      synthesizeDrill({ databases: [{ ...SHOP, postgresImage }] });
    expect(withImage('public.ecr.aws/docker/library/postgres:16')).toThrow(
      `'databases[shop].postgresImage' "public.ecr.aws/docker/library/postgres:16" has no {major}; put {major} where the PostgreSQL major goes`,
    );
    expect(withImage('postgis/postgis:{major}-3.5')).toThrow(
      `'databases[shop].postgresImage' "postgis/postgis:{major}-3.5" is neither on ECR Public nor in this deployment's ECR, and drill tasks reach only ECR`,
    );
    expect(withImage('210987654321.dkr.ecr.eu-west-1.amazonaws.com/postgis:{major}')).toThrow(
      `'databases[shop].postgresImage' "210987654321.dkr.ecr.eu-west-1.amazonaws.com/postgis:{major}" is in the ECR of account 210987654321 in eu-west-1; drill tasks pull only from the stack's own account 123456789012 in eu-west-1 (or ECR Public): push or replicate the image there`,
    );
    expect(withImage('123456789012.dkr.ecr.us-east-1.amazonaws.com/postgis:{major}')).toThrow(
      /is in the ECR of account 123456789012 in us-east-1; drill tasks pull only from the stack's own account 123456789012 in eu-west-1/,
    );
  });
});

describe("the config's drill.postgresImage", () => {
  it("reaches the database's drill props", () => {
    const example = exampleConfigJson() as { databases: { drill: Record<string, unknown> }[] };
    const [orders, billing] = example.databases;
    const config = parseDeploymentConfig(
      {
        ...example,
        databases: [{ ...orders, drill: { ...orders?.drill, postgresImage: POSTGIS } }, billing],
      },
      'test config',
    );
    expect(config.databases.map((db) => drillDatabaseProps(db).postgresImage)).toEqual([POSTGIS, undefined]);
  });
});

describe('ResolveBackup with the environment as deployed', () => {
  const PREFIX = 'pg/';
  let s3: S3Server;
  let handler: (event: unknown) => Promise<DrillPlan>;
  let environment: Readonly<Record<string, string>>;

  beforeAll(async () => {
    ({ resolveEnvironment: environment } = synthesizeDrillWorkflow(
      [{ ...SHOP, postgresImage: POSTGIS }, BILLING],
      { prefix: PREFIX, postgresMajors: [15, 17] },
    ));
    s3 = await startS3();
    for (const [name, value] of Object.entries({ ...s3.env, ...environment })) vi.stubEnv(name, value);
    vi.stubEnv('BACKUP_BUCKET', s3.bucket);
    vi.stubEnv('POWERTOOLS_LOG_LEVEL', 'SILENT');
    ({ handler } = await import('../../functions/resolve-backup.ts'));
    await putManifest(s3, fakeManifest('shop', '20261121T020000Z'), PREFIX);
    await putManifest(
      s3,
      fakeManifest('billing_v2', '20261121T020000Z', { server: { version: '17.2', versionNum: 170002 } }),
      PREFIX,
    );
  });
  afterAll(async () => {
    vi.unstubAllEnvs();
    await s3?.stop();
  });

  it("holds each such database's tasks by revision only, their family named after the default task's", () => {
    expect(JSON.parse(environment.DRILL_DATABASE_TASKS ?? '')).toEqual({ shop: { 15: '1', 17: '1' } });
  });

  it("plans a drill of a database with its own image in that database's task of the backup's major", async () => {
    const plan = await handler({ database: 'shop' });
    expect(plan.taskDefinitionArn).toMatch(
      /^arn:aws:ecs:eu-west-1:123456789012:task-definition\/PgproofLocalDrillTask15[0-9A-F]{8}-shop:1$/,
    );
  });

  it('plans a drill of any other database in the default task of its major', async () => {
    const plan = await handler({ database: 'billing_v2' });
    expect(plan.taskDefinitionArn).toMatch(
      /^arn:aws:ecs:eu-west-1:123456789012:task-definition\/PgproofLocalDrillTask17[0-9A-F]{8}:1$/,
    );
  });
});

describe("ResolveBackup's environment", () => {
  it("stays within Lambda's 4 KB with 8 databases, each with a check and its own image, and 6 majors", () => {
    const databases: DrillDatabaseProps[] = Array.from({ length: 8 }, (_, i) => ({
      name: `database_${i}`,
      rto: Duration.minutes(60),
      checks: [{ name: 'has rows', sql: 'select count(*) > 0 from public.orders' }],
      postgresImage: POSTGIS,
    }));
    const { resolveEnvironment } = synthesizeDrillWorkflow(databases, {
      prefix: 'backups/',
      postgresMajors: [13, 14, 15, 16, 17, 18],
    });
    // A database's own tasks cost it tens of bytes (whole ARNs would be some 700 with 6 majors).
    expect((resolveEnvironment.DRILL_DATABASE_TASKS ?? '').length / databases.length).toBeLessThan(80);
    // Lambda counts every name and value. Deployed, names are longer than here: role names up to 64
    // characters, the bucket's up to 63, revisions of 3 digits.
    const bytes = Object.entries(resolveEnvironment).reduce((sum, [k, v]) => sum + k.length + v.length, 0);
    const roleSlack = databases.length * (64 - 'DrillDatabaseTaskRolesDatabase0ABCDEF12'.length);
    const revisionSlack = (databases.length + 1) * 6 * 2;
    expect(bytes + roleSlack + 63 + revisionSlack).toBeLessThan(4096);
  });
});
