import { Lazy, Stack } from 'aws-cdk-lib';
import type * as ecs from 'aws-cdk-lib/aws-ecs';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { acknowledgeWildcards } from './nag.ts';

/** What the workflow runs with ecs:runTask.sync, before any database is added. */
export interface DrillRunTaskOptions {
  readonly cluster: ecs.ICluster;
  /** The task definition of each major. */
  readonly taskDefinitions: readonly ecs.TaskDefinition[];
  /** The task definitions' own role (each database's drill role, RunTask's TaskRoleArn override, is added with it). */
  readonly taskRole: iam.IRole;
  readonly executionRole: iam.IRole;
  /** The workflow's Lambdas, whose version grants CDK generates (acknowledged here with the rest). */
  readonly functions: readonly lambda.IFunction[];
}

/** How a database's drill joins the workflow's permissions. */
export interface DrillRunTaskPermissions {
  /** Lets the workflow pass the database's drill role and run its own task definitions, if it has any. */
  addDatabase(taskRole: iam.IRole, taskDefinitions?: Iterable<ecs.TaskDefinition>): void;
}

/**
 * What ecs:runTask.sync needs, granted to the state machine's role: run the drill tasks in the drill
 * cluster only, watch and stop them, pass their roles (and no other), and manage the rule Step Functions uses to
 * hear that a task stopped. (RunRestore is a custom state, so CDK grants none of this itself.) Each
 * database added widens the RunTask and PassRole statements rather than adding its own.
 */
export function allowRunningDrillTasks(
  stateMachine: sfn.StateMachine,
  options: DrillRunTaskOptions,
): DrillRunTaskPermissions {
  const role = stateMachine.role;
  const stack = Stack.of(stateMachine);
  const inCluster = { ArnEquals: { 'ecs:cluster': options.cluster.clusterArn } };
  const runTask = new iam.PolicyStatement({
    actions: ['ecs:RunTask'],
    resources: options.taskDefinitions.map((t) => t.taskDefinitionArn),
    conditions: inCluster,
  });
  role.addToPrincipalPolicy(runTask);
  role.addToPrincipalPolicy(
    new iam.PolicyStatement({
      actions: ['ecs:StopTask', 'ecs:DescribeTasks'],
      resources: ['*'],
      conditions: inCluster,
    }),
  );
  // The passable roles in the order [default role, database roles..., execution role], the execution
  // role last as when every database came at once. A statement only appends, so it holds one slot per
  // role, each slot filled at synth with the role at its place in that order.
  const passable: iam.IRole[] = [options.taskRole, options.executionRole];
  const slot = (index: number) => Lazy.uncachedString({ produce: () => passable[index]?.roleArn });
  const passRole = new iam.PolicyStatement({
    actions: ['iam:PassRole'],
    resources: passable.map((_, index) => slot(index)),
    conditions: { StringEquals: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' } },
  });
  role.addToPrincipalPolicy(passRole);
  role.addToPrincipalPolicy(
    new iam.PolicyStatement({
      actions: ['events:PutTargets', 'events:PutRule', 'events:DescribeRule'],
      resources: [
        stack.formatArn({
          service: 'events',
          resource: 'rule',
          resourceName: 'StepFunctionsGetEventsForECSTaskRule',
        }),
      ],
    }),
  );
  acknowledgeWildcards(
    role,
    'ecs:StopTask and ecs:DescribeTasks take task ARNs made at run time, limited to the drill cluster by the ecs:cluster condition; Lambda invocation and X-Ray grants are what CDK generates for the workflow.',
    { resources: ['*', ...options.functions.map((fn) => `${fn.functionArn}:*`)] },
  );
  return {
    addDatabase(taskRole, taskDefinitions = []) {
      runTask.addResources(...[...taskDefinitions].map((t) => t.taskDefinitionArn));
      passable.splice(passable.length - 1, 0, taskRole);
      passRole.addResources(slot(passable.length - 1));
    },
  };
}
