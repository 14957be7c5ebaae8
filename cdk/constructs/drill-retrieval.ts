import { Duration } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as logs from 'aws-cdk-lib/aws-logs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import type { Construct } from 'constructs';
import { DRILL_STATE_PATHS, drillPlanPath, drillRetrievalPath } from '../../core/drill.ts';
import { databasePrefix } from '../../core/layout.ts';
import type { IBackupVault } from './backup-vault.ts';
import { acknowledgeWildcards } from './nag.ts';
import { addPgproofFunction } from './pgproof-function.ts';

/**
 * Drilling a backup in Glacier Flexible Retrieval or Deep Archive: S3 must restore its objects first,
 * which takes hours. The workflow asks (RetrieveBackup), waits, and asks again until they are readable,
 * then drills as usual; the report records the retrieval.
 */

/** How long the workflow waits between two looks at a retrieval: the measured time is this precise. */
export const RETRIEVAL_POLL = Duration.minutes(30);

/**
 * The drill workflow's own time limit: the slowest retrieval (Deep Archive Bulk: within 48 hours; Standard
 * within 12) and one poll more, plus the longest drill task (RunRestore's timeout grows with the dump, at
 * most 24 hours: core/drill.ts sizeDrillTask), plus an hour for the other states.
 */
export const DRILL_WORKFLOW_TIMEOUT = Duration.hours(48 + 1 + 24 + 1);

/** What {@link addDrillRetrieval} made. */
export interface DrillRetrieval {
  /** Restores an archived backup's objects and says when they are readable (functions/retrieve-backup.ts). */
  readonly retrieveFunction: lambda.Function;
  /** Lets RetrieveBackup restore (and look at) the objects of `name`'s backups, and no other. */
  addDatabase(name: string): void;
}

/**
 * The RetrieveBackup Lambda, added to `scope` (the {@link RestoreDrill}) as `RetrieveBackup*`. It may
 * RestoreObject and HeadObject (s3:GetObject, without the key: it cannot decrypt a byte) only in the
 * folders of the databases added.
 */
export function addDrillRetrieval(
  scope: Construct,
  options: {
    readonly vault: IBackupVault;
    readonly prefix: string;
    readonly logRetention: logs.RetentionDays;
  },
): DrillRetrieval {
  const { bucket } = options.vault;
  const retrieveFunction = addPgproofFunction(scope, 'RetrieveBackup', {
    file: 'retrieve-backup.ts',
    description: 'pgproof: restores an archived backup (Glacier, Deep Archive) before its drill',
    logRetention: options.logRetention,
    environment: { BACKUP_BUCKET: bucket.bucketName },
  }).function;
  // One statement, widened by each database's folder.
  const restore = new iam.PolicyStatement({ actions: ['s3:RestoreObject', 's3:GetObject'] });
  let attached = false;
  return {
    retrieveFunction,
    addDatabase(name) {
      const objects = bucket.arnForObjects(`${databasePrefix(options.prefix, name)}*`);
      restore.addResources(objects);
      if (!attached) retrieveFunction.addToRolePolicy(restore);
      attached = true;
      acknowledgeWildcards(
        retrieveFunction.role ?? scope,
        "RetrieveBackup restores and heads the objects of a drilled backup, whose keys are made at backup time, only under each drillable database's folder (no KMS grant: it cannot read them).",
        { resources: [objects] },
      );
    },
  };
}

/** What the retrieval states connect to in the workflow. */
export interface RetrievalStatesOptions {
  readonly retrieveFunction: lambda.IFunction;
  /** Where a readable backup goes: the drill itself. */
  readonly runRestore: sfn.State;
  /** Where RetrieveBackup's failure goes. */
  readonly notifyFailure: sfn.IChainable;
}

/**
 * `Archived?` -> (the plan has a retrieval) RetrieveBackup -> `Retrieved?` -> RunRestore, or
 * WaitForRetrieval -> RetrieveBackup again; a backup readable at once goes straight to RunRestore.
 */
export function retrievalStates(scope: Construct, options: RetrievalStatesOptions): sfn.Choice {
  const retrieve = new tasks.LambdaInvoke(scope, 'RetrieveBackup', {
    comment:
      'Restores the archived objects of the backup (S3 RestoreObject, the plan retrieval tier) and says whether all are readable yet',
    lambdaFunction: options.retrieveFunction,
    payloadResponseOnly: true,
    resultPath: DRILL_STATE_PATHS.plan,
  });
  retrieve.addCatch(options.notifyFailure, { resultPath: DRILL_STATE_PATHS.error });
  const wait = new sfn.Wait(scope, 'WaitForRetrieval', {
    comment: 'S3 restores from Deep Archive within 12 hours (Standard) or 48 (Bulk)',
    time: sfn.WaitTime.duration(RETRIEVAL_POLL),
  });
  wait.next(retrieve);
  retrieve.next(
    new sfn.Choice(scope, 'Retrieved?')
      .when(sfn.Condition.stringEquals(drillRetrievalPath('status'), 'available'), options.runRestore)
      .otherwise(wait),
  );
  return new sfn.Choice(scope, 'Archived?')
    .when(sfn.Condition.isPresent(drillPlanPath('retrieval')), retrieve)
    .otherwise(options.runRestore);
}
