import { Fn, Stack } from 'aws-cdk-lib';
import type * as ecs from 'aws-cdk-lib/aws-ecs';
import type * as iam from 'aws-cdk-lib/aws-iam';
import type * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import type * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import type { DrillDatabase } from '../../core/drill.ts';
import { databasePrefix, MANIFEST_FILE } from '../../core/layout.ts';
import type { IBackupVault } from './backup-vault.ts';
import { acknowledgeWildcards } from './nag.ts';
import { addPgproofFunction } from './pgproof-function.ts';

/** Options of {@link addDrillFunctions}, with the drill's defaults already applied. */
export interface DrillFunctionsOptions {
  /** The backups: ResolveBackup reads their manifests, EvaluateReport the drill reports. */
  readonly vault: IBackupVault;
  /** Key prefix of all backups (`BACKUP_PREFIX`). */
  readonly prefix: string;
  /** Each drillable database's settings, by name (`DRILL_DATABASES`). */
  readonly databases: Readonly<Record<string, DrillDatabase>>;
  /** The drill task definition of each PostgreSQL major (`DRILL_TASKS`). */
  readonly taskDefinitions: ReadonlyMap<number, ecs.FargateTaskDefinition>;
  /**
   * Per database with a scratch server image of its own, its drill task definition of each PostgreSQL
   * major (`DRILL_DATABASE_TASKS`).
   */
  readonly databaseTaskDefinitions: ReadonlyMap<string, ReadonlyMap<number, ecs.FargateTaskDefinition>>;
  /** The drill task role of each database, by name (`DRILL_TASK_ROLES`). */
  readonly taskRoles: ReadonlyMap<string, iam.IRole>;
  readonly logRetention: logs.RetentionDays;
}

/** What {@link addDrillFunctions} made. */
export interface DrillFunctions {
  /** Validates a drill request and plans the run (functions/resolve-backup.ts). */
  readonly resolveFunction: nodejs.NodejsFunction;
  /** Judges a drill from its report and publishes its metrics (functions/evaluate-report.ts). */
  readonly evaluateFunction: nodejs.NodejsFunction;
  /**
   * Keeps a passing backup as the last proven one of its tier, releasing the older one
   * (functions/keep-proven-backup.ts).
   */
  readonly keepProvenFunction: nodejs.NodejsFunction;
}

/**
 * The drill workflow's Lambdas, added to `scope` (the {@link RestoreDrill}) as `ResolveBackup*`,
 * `EvaluateReport*` and `KeepProvenBackup*`, each allowed to read (and write) only what it does. In the drill's own scope, not a child's:
 * a new level in the construct path would replace their retained log groups.
 */
export function addDrillFunctions(scope: Construct, options: DrillFunctionsOptions): DrillFunctions {
  const { vault, prefix, logRetention } = options;
  const { bucket } = vault;
  const stack = Stack.of(scope);
  const resolveFunction = addPgproofFunction(scope, 'ResolveBackup', {
    file: 'resolve-backup.ts',
    description: 'pgproof: validates a drill request and finds the backup to restore',
    logRetention,
    environment: {
      BACKUP_BUCKET: bucket.bucketName,
      BACKUP_PREFIX: prefix,
      DRILL_DATABASES: JSON.stringify(options.databases),
      DRILL_TASKS: stack.toJsonString(
        Object.fromEntries(
          [...options.taskDefinitions].map(([major, task]) => [String(major), task.taskDefinitionArn]),
        ),
      ),
      // The role a drill runs with is chosen here, by the stack, from the database the input names:
      // never from the execution's input.
      DRILL_TASK_ROLES: stack.toJsonString(
        Object.fromEntries([...options.taskRoles].map(([name, role]) => [name, role.roleArn])),
      ),
      // Lambda allows 4 KB of environment in all: each task only by its revision, the rest of its ARN
      // being that of the default task of its major (core/drill.ts databaseTaskArn).
      ...(options.databaseTaskDefinitions.size > 0 && {
        DRILL_DATABASE_TASKS: stack.toJsonString(
          Object.fromEntries(
            [...options.databaseTaskDefinitions].map(([name, tasks]) => [
              name,
              Object.fromEntries(
                [...tasks].map(([major, task]) => [
                  String(major),
                  // arn:<partition>:ecs:<region>:<account>:task-definition/<family>:<revision>
                  Fn.select(6, Fn.split(':', task.taskDefinitionArn)),
                ]),
              ),
            ]),
          ),
        ),
      }),
    },
  }).function;
  vault.grantManifestRead(resolveFunction, prefix);
  const evaluateFunction = addPgproofFunction(scope, 'EvaluateReport', {
    file: 'evaluate-report.ts',
    description: 'pgproof: judges a drill from its report, publishes its metrics',
    logRetention,
    environment: { BACKUP_BUCKET: bucket.bucketName },
  }).function;
  vault.grantReportRead(evaluateFunction, prefix);
  acknowledgeWildcards(
    resolveFunction.role ?? scope,
    'ResolveBackup reads the manifests of any database, whose keys are made at backup time.',
    { resources: [bucket.arnForObjects(`${prefix}*/manifest.json`)] },
  );
  acknowledgeWildcards(
    evaluateFunction.role ?? scope,
    'EvaluateReport reads drill reports, whose keys are made at run time, only under the drills/ prefix.',
    { resources: [bucket.arnForObjects(`${prefix}drills/*`)] },
  );
  const keepProvenFunction = addPgproofFunction(scope, 'KeepProvenBackup', {
    file: 'keep-proven-backup.ts',
    description: 'pgproof: keeps the last proven backup of each tier with a legal hold, releases the older',
    logRetention,
    environment: { BACKUP_BUCKET: bucket.bucketName, BACKUP_PREFIX: prefix },
  }).function;
  const names = Object.keys(options.databases);
  vault.grantProvenBackups(keepProvenFunction, prefix, names);
  acknowledgeWildcards(
    keepProvenFunction.role ?? scope,
    "KeepProvenBackup holds the objects of a drilled backup and reads its manifest, whose keys are made at backup time, only under each drillable database's folder.",
    {
      resources: names.flatMap((name) => [
        bucket.arnForObjects(`${databasePrefix(prefix, name)}*`),
        bucket.arnForObjects(`${databasePrefix(prefix, name)}*/${MANIFEST_FILE}`),
      ]),
    },
  );
  return { resolveFunction, evaluateFunction, keepProvenFunction };
}
