import { RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import type * as ecs from 'aws-cdk-lib/aws-ecs';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as sns from 'aws-cdk-lib/aws-sns';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import type { Construct } from 'constructs';
import { DRILL_STATE_PATHS, drillErrorPath, drillEvaluationPath, drillPlanPath } from '../../core/drill.ts';
import { DRILL_WORKFLOW_TIMEOUT, retrievalStates } from './drill-retrieval.ts';
import { RESTORE_CONTAINER_NAME } from './drill-tasks.ts';

/** `startedBy` of drill tasks (not `pgproof-...`: the backup-failure rule matches that prefix). */
export const DRILL_STARTED_BY = 'restore-drill';

/** Options of {@link addDrillWorkflow}. */
export interface DrillWorkflowOptions {
  readonly resolveFunction: lambda.IFunction;
  /** Restores an archived backup before its drill (drill-retrieval.ts). */
  readonly retrieveFunction: lambda.IFunction;
  readonly evaluateFunction: lambda.IFunction;
  /**
   * Keeps a passing backup as the last proven one.
   * @default - no KeepProvenBackup state: EvaluateReport goes straight to Notify (the DR drill's workflow)
   */
  readonly keepProvenFunction?: lambda.IFunction;
  /** Where RunRestore starts the drill task. */
  readonly cluster: ecs.ICluster;
  readonly vpc: ec2.IVpc;
  /** @default - the VPC's private subnets */
  readonly subnets?: ec2.SubnetSelection;
  readonly securityGroup: ec2.ISecurityGroup;
  /** Where the verdict and failures are published. */
  readonly topic: sns.ITopic;
  readonly logRetention: logs.RetentionDays;
}

/** What {@link addDrillWorkflow} made. */
export interface DrillWorkflow {
  readonly stateMachine: sfn.StateMachine;
  /** Every event of every execution. */
  readonly executionLogGroup: logs.LogGroup;
}

/**
 * The drill's state machine and its log group, added to `scope` (the {@link RestoreDrill}) as
 * `StateMachine` and `ExecutionLogs`; its states are named by their ids in `scope`.
 *
 * ResolveBackup -> (Archived? -> RetrieveBackup, WaitForRetrieval until Retrieved?) -> RunRestore (ecs:runTask.sync) -> EvaluateReport -> KeepProvenBackup -> Notify ->
 * DrillSucceeded | DrillFailed (without a `keepProvenFunction`, EvaluateReport -> Notify);
 * every state's failure goes to NotifyFailure -> Failed.
 */
export function addDrillWorkflow(scope: Construct, options: DrillWorkflowOptions): DrillWorkflow {
  const executionLogGroup = new logs.LogGroup(scope, 'ExecutionLogs', {
    // Step Functions logs to groups under /aws/vendedlogs/ without growing a resource policy.
    logGroupName: `/aws/vendedlogs/states/pgproof-restore-drill-${Stack.of(scope).stackName}-${scope.node.addr.slice(0, 8)}`,
    retention: options.logRetention,
    removalPolicy: RemovalPolicy.RETAIN,
  });
  const stateMachine = new sfn.StateMachine(scope, 'StateMachine', {
    comment: 'pgproof restore drill: restores a backup into a scratch PostgreSQL and verifies it',
    stateMachineType: sfn.StateMachineType.STANDARD,
    queryLanguage: sfn.QueryLanguage.JSON_PATH,
    definitionBody: sfn.DefinitionBody.fromChainable(drillDefinition(scope, options)),
    logs: { destination: executionLogGroup, level: sfn.LogLevel.ALL, includeExecutionData: true },
    tracingEnabled: true,
    // Room for a Deep Archive retrieval before the drill task (drill-retrieval.ts).
    timeout: DRILL_WORKFLOW_TIMEOUT,
  });
  return { stateMachine, executionLogGroup };
}

/**
 * The workflow (JSONPath: the local test runner and the console both read it as it is). Its paths come
 * from core/drill.ts, built from the plan's and the evaluation's field names.
 */
function drillDefinition(scope: Construct, options: DrillWorkflowOptions): sfn.IChainable {
  const notifyFailure = new tasks.SnsPublish(scope, 'NotifyFailure', {
    comment: 'Tells a person that the drill failed before it could be judged, and why',
    topic: options.topic,
    subject: sfn.JsonPath.format('pgproof drill FAILED: {}', sfn.JsonPath.stringAt(drillErrorPath('Error'))),
    message: sfn.TaskInput.fromText(
      sfn.JsonPath.format(
        'pgproof restore drill FAILED before it could be judged.\nInput: {}\nError: {}\nCause: {}\nWhat to do: fix the cause above and start the drill again; the execution {} in the Step Functions console shows every step.',
        sfn.JsonPath.jsonToString(sfn.JsonPath.objectAt('$$.Execution.Input')),
        sfn.JsonPath.stringAt(drillErrorPath('Error')),
        sfn.JsonPath.stringAt(drillErrorPath('Cause')),
        sfn.JsonPath.executionId,
      ),
    ),
    resultPath: sfn.JsonPath.DISCARD,
  }).next(
    new sfn.Fail(scope, 'Failed', {
      comment: 'The drill could not run: the error of the state that failed',
      errorPath: drillErrorPath('Error'),
      causePath: drillErrorPath('Cause'),
    }),
  );
  const catchInto = { resultPath: DRILL_STATE_PATHS.error };

  const resolve = new tasks.LambdaInvoke(scope, 'ResolveBackup', {
    comment: 'Validates the input and finds the backup (latest, or the one named)',
    lambdaFunction: options.resolveFunction,
    payloadResponseOnly: true,
    resultPath: DRILL_STATE_PATHS.plan,
  });
  resolve.addCatch(notifyFailure, catchInto);

  const subnets = options.vpc.selectSubnets(
    options.subnets ?? { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
  );
  const runRestore = new sfn.CustomState(scope, 'RunRestore', {
    stateJson: {
      Type: 'Task',
      Comment:
        'Restores and verifies the backup in a Fargate task: a scratch PostgreSQL of its major and the restore runner',
      Resource: `arn:${Stack.of(scope).partition}:states:::ecs:runTask.sync`,
      Parameters: {
        Cluster: options.cluster.clusterArn,
        'TaskDefinition.$': drillPlanPath('taskDefinitionArn'),
        LaunchType: 'FARGATE',
        StartedBy: DRILL_STARTED_BY,
        PropagateTags: 'TASK_DEFINITION',
        NetworkConfiguration: {
          AwsvpcConfiguration: {
            Subnets: subnets.subnetIds,
            SecurityGroups: [options.securityGroup.securityGroupId],
            AssignPublicIp: 'DISABLED',
          },
        },
        Overrides: {
          // The database's own role, which ResolveBackup took from the stack's map, never from the input.
          'TaskRoleArn.$': drillPlanPath('taskRoleArn'),
          'Cpu.$': drillPlanPath('cpu'),
          'Memory.$': drillPlanPath('memory'),
          EphemeralStorage: { 'SizeInGiB.$': drillPlanPath('ephemeralStorageGiB') },
          ContainerOverrides: [
            { Name: RESTORE_CONTAINER_NAME, 'Environment.$': drillPlanPath('environment') },
          ],
        },
      },
      TimeoutSecondsPath: drillPlanPath('timeoutSeconds'),
      ResultPath: null,
    },
  });
  const evaluate = new tasks.LambdaInvoke(scope, 'EvaluateReport', {
    comment: 'Reads the report, publishes the metrics, compares the restore time with the RTO',
    lambdaFunction: options.evaluateFunction,
    payloadResponseOnly: true,
    resultPath: DRILL_STATE_PATHS.evaluation,
  });
  // The runner exits 2 when the backup does not verify, which fails the task state: the report
  // still says what failed, so a failed task is evaluated too.
  runRestore.addCatch(evaluate, { resultPath: DRILL_STATE_PATHS.restoreError });
  evaluate.addCatch(notifyFailure, catchInto);

  // Returns the evaluation with what it kept added to the message; a drill that did not pass keeps nothing.
  const keepProven =
    options.keepProvenFunction &&
    new tasks.LambdaInvoke(scope, 'KeepProvenBackup', {
      comment:
        'A passing backup becomes the last proven one of its tier (legal holds); the older one of the tier is released',
      lambdaFunction: options.keepProvenFunction,
      payloadResponseOnly: true,
      resultPath: DRILL_STATE_PATHS.evaluation,
    });
  keepProven?.addCatch(notifyFailure, catchInto);

  const notify = new tasks.SnsPublish(scope, 'Notify', {
    comment: 'Sends the verdict a person reads',
    topic: options.topic,
    subject: sfn.JsonPath.stringAt(drillEvaluationPath('subject')),
    message: sfn.TaskInput.fromJsonPathAt(drillEvaluationPath('message')),
    resultPath: sfn.JsonPath.DISCARD,
  });
  notify.addCatch(notifyFailure, catchInto);

  const verdict = new sfn.Choice(scope, 'Passed?')
    .when(
      sfn.Condition.booleanEquals(drillEvaluationPath('passed'), true),
      new sfn.Succeed(scope, 'DrillSucceeded'),
    )
    .otherwise(
      new sfn.Fail(scope, 'DrillFailed', {
        comment: 'The backup did not verify, or it restored slower than the RTO',
        error: 'DrillFailed',
        causePath: drillEvaluationPath('subject'),
      }),
    );
  // A backup in an archive storage class is retrieved first (drill-retrieval.ts).
  resolve.next(
    retrievalStates(scope, { retrieveFunction: options.retrieveFunction, runRestore, notifyFailure }),
  );
  const judged = runRestore.next(evaluate);
  (keepProven ? judged.next(keepProven) : judged).next(notify).next(verdict);
  return resolve;
}
