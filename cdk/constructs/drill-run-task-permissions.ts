import { Stack } from 'aws-cdk-lib';
import type * as ecs from 'aws-cdk-lib/aws-ecs';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { acknowledgeWildcards } from './nag.ts';

/** What the workflow runs with ecs:runTask.sync. */
export interface DrillRunTaskOptions {
  readonly cluster: ecs.ICluster;
  readonly taskDefinitions: readonly ecs.TaskDefinition[];
  /** The task definitions' own role and every database's drill role (RunTask's TaskRoleArn override). */
  readonly taskRoles: readonly iam.IRole[];
  readonly executionRole: iam.IRole;
  /** The workflow's Lambdas, whose version grants CDK generates (acknowledged here with the rest). */
  readonly functions: readonly lambda.IFunction[];
}

/**
 * What ecs:runTask.sync needs, granted to the state machine's role: run the drill tasks in the drill
 * cluster only, watch and stop them, pass their roles (and no other), and manage the rule Step Functions uses to
 * hear that a task stopped. (RunRestore is a custom state, so CDK grants none of this itself.)
 */
export function allowRunningDrillTasks(stateMachine: sfn.StateMachine, options: DrillRunTaskOptions): void {
  const role = stateMachine.role;
  const stack = Stack.of(stateMachine);
  const inCluster = { ArnEquals: { 'ecs:cluster': options.cluster.clusterArn } };
  role.addToPrincipalPolicy(
    new iam.PolicyStatement({
      actions: ['ecs:RunTask'],
      resources: options.taskDefinitions.map((t) => t.taskDefinitionArn),
      conditions: inCluster,
    }),
  );
  role.addToPrincipalPolicy(
    new iam.PolicyStatement({
      actions: ['ecs:StopTask', 'ecs:DescribeTasks'],
      resources: ['*'],
      conditions: inCluster,
    }),
  );
  role.addToPrincipalPolicy(
    new iam.PolicyStatement({
      actions: ['iam:PassRole'],
      resources: [...options.taskRoles.map((role) => role.roleArn), options.executionRole.roleArn],
      conditions: { StringEquals: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' } },
    }),
  );
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
}
