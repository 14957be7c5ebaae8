import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sns from 'aws-cdk-lib/aws-sns';
import { ExecutionError, StateMachine, type StateMachineDefinition } from 'aws-local-stepfunctions';
import { z } from 'zod';
import { RESTORE_CONTAINER_NAME } from '../cdk/constructs/drill-tasks.ts';
import { PgproofReplica } from '../cdk/constructs/pgproof-replica.ts';
import { type DrillDatabaseProps, RestoreDrill } from '../cdk/constructs/restore-drill.ts';
import { taskEnvironmentVariableSchema } from '../core/drill.ts';

/**
 * The restore drill's real state machine definition, synthesized from the {@link RestoreDrill}
 * construct (or, for the replica region's DR drill, from {@link PgproofReplica}) and executed on this
 * machine with aws-local-stepfunctions: the demo runs it, and the tests run it, with the task states
 * handled by local functions.
 */

/** Account and region of the offline stack; ARNs in the definition use them. */
export const LOCAL_ACCOUNT = '123456789012';
export const LOCAL_REGION = 'eu-west-1';
/** Region of the offline replica stack, whose DR drill {@link synthesizeDrDrillWorkflow} returns. */
export const LOCAL_REPLICA_REGION = 'eu-central-1';

/**
 * Turns a synthesized `Fn::Join` (how CloudFormation strings with references look) into the string
 * it becomes at deploy time, with each reference replaced by `fake(reference)`; `Fn::Select` of an
 * `Fn::Split` (a part of an ARN) is taken from the faked string.
 */
export function joinToText(value: unknown, fake: (reference: Record<string, unknown>) => string): string {
  if (typeof value === 'string') return value;
  const join = (value as { 'Fn::Join'?: [string, unknown[]] })['Fn::Join'];
  if (join) return join[1].map((part) => joinToText(part, fake)).join(join[0]);
  const select = (value as { 'Fn::Select'?: [number | string, unknown] })['Fn::Select'];
  const split = (select?.[1] as { 'Fn::Split'?: [string, unknown] } | undefined)?.['Fn::Split'];
  if (select && split) return joinToText(split[1], fake).split(split[0])[Number(select[0])] ?? '';
  return fake(value as Record<string, unknown>);
}

/** A synthesized template's resources, by logical id. */
type TemplateResources = Record<string, { Type: string; Properties: Record<string, unknown> }>;

/**
 * A reference as it looks once deployed in `region`: Lambda functions, IAM roles and task definitions
 * (revision 1 of their family) become ARNs, the rest its logical id.
 */
function fakeReference(resources: TemplateResources, region: string) {
  return (reference: Record<string, unknown>): string => {
    if (reference.Ref === 'AWS::Partition') return 'aws';
    const [logicalId = ''] = (reference['Fn::GetAtt'] as string[] | undefined) ?? [String(reference.Ref)];
    const resource = resources[logicalId];
    if (resource?.Type === 'AWS::ECS::TaskDefinition' && reference.Ref) {
      return `arn:aws:ecs:${region}:${LOCAL_ACCOUNT}:task-definition/${String(resource.Properties.Family)}:1`;
    }
    if (/Function/.test(logicalId)) return `arn:aws:lambda:${region}:${LOCAL_ACCOUNT}:function:${logicalId}`;
    if (/Role/.test(logicalId)) return `arn:aws:iam::${LOCAL_ACCOUNT}:role/${logicalId}`;
    return logicalId;
  };
}

/** The drill workflow of an offline stack. */
export interface DrillWorkflow {
  /** The state machine definition as deployed (references resolved). */
  readonly definition: StateMachineDefinition;
  /** Environment variables of the ResolveBackup function (`DRILL_DATABASES`...). */
  readonly resolveEnvironment: Readonly<Record<string, string>>;
  /** Environment variables of the EvaluateReport function (`BACKUP_BUCKET`, a DR drill's `DRILL_KIND`). */
  readonly evaluateEnvironment: Readonly<Record<string, string>>;
  /**
   * The restore runner's environment in its task definition, which ECS applies before RunRestore's
   * override (`RESTORE_MODE`, a DR drill's `DRILL_KIND` and `DRILL_REGION`...).
   */
  readonly runnerEnvironment: Readonly<Record<string, string>>;
}

/** The runner image the offline stacks name (never pulled: nothing is deployed). */
const localRunnerImage = (region: string) =>
  ecs.ContainerImage.fromRegistry(`${LOCAL_ACCOUNT}.dkr.ecr.${region}.amazonaws.com/pgproof-runner:local`);

/**
 * Synthesizes stack `stackName` in `region` offline (no asset bundling), with what `build` adds to it,
 * and returns the drill workflow in it: the one state machine, and the environments of the functions
 * its ResolveBackup and EvaluateReport states invoke and of the restore runner's container.
 */
function synthesizeOffline(stackName: string, region: string, build: (stack: Stack) => void): DrillWorkflow {
  const outdir = mkdtempSync(join(tmpdir(), 'pgproof-drill-synth-'));
  try {
    // Only the definition and the environments are wanted: skip bundling the Lambda code.
    const app = new App({ outdir, context: { 'aws:cdk:bundling-stacks': [] } });
    const stack = new Stack(app, stackName, { env: { account: LOCAL_ACCOUNT, region } });
    build(stack);
    const template = app.synth().getStackByName(stack.stackName).template as {
      Resources: TemplateResources;
    };
    const resources = Object.values(template.Resources);
    const fake = fakeReference(template.Resources, region);
    const machine = resources.find((r) => r.Type === 'AWS::StepFunctions::StateMachine');
    if (!machine) throw new Error(`the synthesized stack ${stackName} has no state machine`);
    const definition = JSON.parse(joinToText(machine.Properties.DefinitionString, fake));
    const variables = (environment: unknown) =>
      Object.fromEntries(
        Object.entries(
          (environment as { Variables?: Record<string, unknown> } | undefined)?.Variables ?? {},
        ).map(([name, value]) => [name, joinToText(value, fake)]),
      );
    // A task state invokes its function by the ARN faked from the function's logical id.
    const functionEnvironment = (state: string) => {
      const arn = String(
        (definition as { States: Record<string, { Resource?: string }> }).States[state]?.Resource,
      );
      const logicalId = arn.split(':function:')[1] ?? '';
      const lambda = template.Resources[logicalId];
      if (lambda?.Type !== 'AWS::Lambda::Function') {
        throw new Error(`the synthesized drill's ${state} state invokes no function of the stack (${arn})`);
      }
      return variables(lambda.Properties.Environment);
    };
    const runner = resources
      .filter((r) => r.Type === 'AWS::ECS::TaskDefinition')
      .flatMap(
        (r) =>
          r.Properties.ContainerDefinitions as {
            Name: string;
            Environment?: { Name: string; Value: unknown }[];
          }[],
      )
      .find((container) => container.Name === RESTORE_CONTAINER_NAME);
    if (!runner) throw new Error(`the synthesized drill has no ${RESTORE_CONTAINER_NAME} container`);
    return {
      definition,
      resolveEnvironment: functionEnvironment('ResolveBackup'),
      evaluateEnvironment: functionEnvironment('EvaluateReport'),
      runnerEnvironment: Object.fromEntries(
        (runner.Environment ?? []).map(({ Name, Value }) => [Name, joinToText(Value, fake)]),
      ),
    };
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}

/** Synthesizes a {@link RestoreDrill} for `databases` offline (no asset bundling) and returns its workflow. */
export function synthesizeDrillWorkflow(
  databases: readonly DrillDatabaseProps[],
  options: { prefix?: string; postgresMajors?: readonly number[] } = {},
): DrillWorkflow {
  return synthesizeOffline('PgproofLocalDrill', LOCAL_REGION, (stack) => {
    const vpc = new ec2.Vpc(stack, 'Vpc', {
      maxAzs: 2,
      natGateways: 0,
      subnetConfiguration: [{ name: 'private', subnetType: ec2.SubnetType.PRIVATE_ISOLATED }],
    });
    const key = new kms.Key(stack, 'Key', { enableKeyRotation: true, removalPolicy: RemovalPolicy.DESTROY });
    new RestoreDrill(stack, 'Drill', {
      bucket: new s3.Bucket(stack, 'Bucket', { encryption: s3.BucketEncryption.KMS, encryptionKey: key }),
      key,
      prefix: options.prefix ?? '',
      cluster: new ecs.Cluster(stack, 'Cluster', { vpc }),
      vpc,
      subnets: { subnetType: ec2.SubnetType.PRIVATE_ISOLATED },
      image: localRunnerImage(LOCAL_REGION),
      topic: new sns.Topic(stack, 'Topic', { masterKey: key }),
      databases,
      ...(options.postgresMajors ? { postgresMajors: options.postgresMajors } : {}),
    });
  });
}

/**
 * Synthesizes the replica region's DR drill offline, as a replica stack in {@link LOCAL_REPLICA_REGION}
 * deploys it: a {@link PgproofReplica} with a `drill`, each of `databases` added as the primary's
 * `PgproofBackups` adds it. Its workflow reads the replica bucket and runs as `DRILL_KIND=dr`.
 */
export function synthesizeDrDrillWorkflow(
  databases: readonly DrillDatabaseProps[],
  options: { postgresMajors?: readonly number[] } = {},
): DrillWorkflow {
  return synthesizeOffline('PgproofLocalReplica', LOCAL_REPLICA_REGION, (stack) => {
    const replica = new PgproofReplica(stack, 'Default', {
      drill: {
        image: localRunnerImage(LOCAL_REPLICA_REGION),
        ...(options.postgresMajors ? { postgresMajors: options.postgresMajors } : {}),
      },
    });
    for (const database of databases) replica.addDrillDatabase(database);
  });
}

/**
 * The definition adapted to the local engine, where it differs from AWS: AWS resolves
 * `TimeoutSecondsPath` against the state's input, aws-local-stepfunctions against the RunTask
 * request, which has no plan in it; locally RunRestore gets a fixed timeout instead.
 */
export function localDefinition(
  definition: StateMachineDefinition,
  timeoutSeconds = 600,
): StateMachineDefinition {
  const copy = structuredClone(definition) as unknown as { States: Record<string, Record<string, unknown>> };
  const runRestore = copy.States.RunRestore;
  if (runRestore?.TimeoutSecondsPath) {
    delete runRestore.TimeoutSecondsPath;
    runRestore.TimeoutSeconds = timeoutSeconds;
  }
  return copy as unknown as StateMachineDefinition;
}

/** The ecs:RunTask request RunRestore builds, as far as the local stand-ins read it. */
export const runRestoreRequestSchema = z.object({
  TaskDefinition: z.string(),
  Overrides: z.object({
    /** The drilled database's own task role. */
    TaskRoleArn: z.string(),
    ContainerOverrides: z
      .array(z.object({ Name: z.string(), Environment: z.array(taskEnvironmentVariableSchema) }))
      .min(1),
  }),
});
export type RunRestoreRequest = z.infer<typeof runRestoreRequestSchema>;

/** The restore runner's environment from RunRestore's request: its container override's variables. */
export function restoreRunnerEnvironment(request: RunRestoreRequest): Record<string, string> {
  const [override] = request.Overrides.ContainerOverrides;
  return Object.fromEntries((override?.Environment ?? []).map((v) => [v.Name, v.Value]));
}

/** A message the workflow publishes (Notify, NotifyFailure: sns:Publish). */
export const notificationSchema = z.object({
  TopicArn: z.string(),
  Subject: z.string(),
  Message: z.string(),
});

/** Local stand-ins for the workflow's task states, by state name. */
export type DrillTaskHandlers = Record<
  'ResolveBackup' | 'RunRestore' | 'EvaluateReport' | 'Notify' | 'NotifyFailure',
  (input: unknown) => Promise<unknown> | unknown
> & {
  /**
   * KeepProvenBackup: the real handler needs S3 legal holds (moto has them, s3rver does not).
   * @default - {@link keepNothing}: the evaluation passes through unchanged, nothing is held
   */
  readonly KeepProvenBackup?: (input: unknown) => Promise<unknown> | unknown;
};

/**
 * The stand-in for KeepProvenBackup on an S3 server without Object Lock (the demo's, the local workflow
 * test's): it keeps nothing and returns the evaluation as EvaluateReport made it.
 */
export function keepNothing(input: unknown): unknown {
  return (input as { evaluation?: unknown }).evaluation;
}

/** How an execution ended: nothing for Succeed, the Fail state's error otherwise. */
export interface DrillOutcome {
  readonly output?: unknown;
  readonly error?: { readonly name: string; readonly message: string };
}

/** Runs one execution of the workflow to its end. */
export async function runDrillWorkflow(
  definition: StateMachineDefinition,
  input: Record<string, unknown>,
  handlers: DrillTaskHandlers,
): Promise<DrillOutcome> {
  const machine = new StateMachine(localDefinition(definition), { validationOptions: { checkArn: true } });
  const execution = machine.run(input as Parameters<StateMachine['run']>[0], {
    context: { Execution: { Id: `arn:aws:states:${LOCAL_REGION}:${LOCAL_ACCOUNT}:execution:drill:local` } },
    overrides: {
      taskResourceLocalHandlers: Object.fromEntries(
        Object.entries({ KeepProvenBackup: keepNothing, ...handlers }).map(([state, handler]) => [
          state,
          async (event: unknown) => handler(event) as never,
        ]),
      ),
    },
  });
  try {
    return { output: await execution.result };
  } catch (error) {
    if (!(error instanceof ExecutionError)) throw error;
    const cause = error.cause as Error;
    return { error: { name: cause.name, message: cause.message } };
  }
}
