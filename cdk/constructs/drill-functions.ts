import { Fn, Lazy, Stack } from 'aws-cdk-lib';
import type * as ecs from 'aws-cdk-lib/aws-ecs';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import type * as logs from 'aws-cdk-lib/aws-logs';
import { type Construct, DependencyGroup } from 'constructs';
import type { DrillDatabase } from '../../core/drill.ts';
import type { DrillKind } from '../../core/drill-report.ts';
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
  /** Each drillable database's settings, by name (`DRILL_DATABASES`): read at synth, as databases are added. */
  readonly databases: ReadonlyMap<string, DrillDatabase>;
  /** The drill task definition of each PostgreSQL major (`DRILL_TASKS`). */
  readonly taskDefinitions: ReadonlyMap<number, ecs.FargateTaskDefinition>;
  /**
   * Per database with a scratch server image of its own, its drill task definition of each PostgreSQL
   * major (`DRILL_DATABASE_TASKS`): read at synth.
   */
  readonly databaseTaskDefinitions: ReadonlyMap<string, ReadonlyMap<number, ecs.FargateTaskDefinition>>;
  /** The drill task role of each database, by name (`DRILL_TASK_ROLES`): read at synth. */
  readonly taskRoles: ReadonlyMap<string, iam.IRole>;
  readonly logRetention: logs.RetentionDays;
  /**
   * `dr`: EvaluateReport judges DR drills (`DRILL_KIND=dr`), and there is no KeepProvenBackup: the
   * replica's legal holds are replicated from the primary, and a DR drill may not manage them.
   */
  readonly kind: DrillKind;
}

/** What {@link addDrillFunctions} made. */
export interface DrillFunctions {
  /** Validates a drill request and plans the run (functions/resolve-backup.ts). */
  readonly resolveFunction: nodejs.NodejsFunction;
  /** Judges a drill from its report and publishes its metrics (functions/evaluate-report.ts). */
  readonly evaluateFunction: nodejs.NodejsFunction;
  /**
   * Keeps a passing backup as the last proven one of its tier, releasing the older one
   * (functions/keep-proven-backup.ts); none in a DR drill.
   */
  readonly keepProvenFunction: nodejs.NodejsFunction | undefined;
  /**
   * Lets the functions reach a database just put in the options' maps: KeepProvenBackup may hold its
   * backups and read its manifests and versions, and ResolveBackup gets `DRILL_DATABASE_TASKS` with
   * the first database that has tasks of its own. (The maps themselves are read at synth.)
   */
  addDatabase(name: string): void;
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
      DRILL_DATABASES: Lazy.uncachedString({
        produce: () => JSON.stringify(Object.fromEntries(options.databases)),
      }),
      DRILL_TASKS: stack.toJsonString(
        Object.fromEntries(
          [...options.taskDefinitions].map(([major, task]) => [String(major), task.taskDefinitionArn]),
        ),
      ),
      // The role a drill runs with is chosen here, by the stack, from the database the input names:
      // never from the execution's input.
      DRILL_TASK_ROLES: stack.toJsonString(
        Lazy.uncachedAny({
          produce: () =>
            Object.fromEntries([...options.taskRoles].map(([name, role]) => [name, role.roleArn])),
        }),
      ),
    },
  }).function;
  vault.grantManifestRead(resolveFunction, prefix);
  const evaluateFunction = addPgproofFunction(scope, 'EvaluateReport', {
    file: 'evaluate-report.ts',
    description: 'pgproof: judges a drill from its report, publishes its metrics',
    logRetention,
    environment: { BACKUP_BUCKET: bucket.bucketName, ...(options.kind === 'dr' ? { DRILL_KIND: 'dr' } : {}) },
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
  let databaseTasksAdded = false;
  const addDatabaseTasks = (name: string) => {
    // Only once a database has tasks of its own, as the last variable (as when made with all databases).
    if (options.databaseTaskDefinitions.has(name) && !databaseTasksAdded) {
      resolveFunction.addEnvironment('DRILL_DATABASE_TASKS', databaseTasksJson(stack, options));
      databaseTasksAdded = true;
    }
  };
  if (options.kind === 'dr') {
    return {
      resolveFunction,
      evaluateFunction,
      keepProvenFunction: undefined,
      addDatabase: addDatabaseTasks,
    };
  }
  const keepProvenFunction = addPgproofFunction(scope, 'KeepProvenBackup', {
    file: 'keep-proven-backup.ts',
    description: 'pgproof: keeps the last proven backup of each tier with a legal hold, releases the older',
    logRetention,
    environment: { BACKUP_BUCKET: bucket.bucketName, BACKUP_PREFIX: prefix },
  }).function;
  // Made with no database: each database added joins these statements (holds, versions, manifests,
  // proven index), as when the vault granted all of them at once.
  const provenBackups = vault.grantProvenBackups(keepProvenFunction, prefix, []);
  const addDatabase = (name: string) => {
    addDatabaseTasks(name);
    const recorder = new StatementRecorder();
    vault.grantProvenBackups(recorder, prefix, [name]);
    widenStatements(provenBackups.principalStatements, recorder.statements);
    acknowledgeWildcards(
      keepProvenFunction.role ?? scope,
      "KeepProvenBackup holds the objects of a drilled backup and reads its manifest, whose keys are made at backup time, only under each drillable database's folder.",
      {
        resources: [
          bucket.arnForObjects(`${databasePrefix(prefix, name)}*`),
          bucket.arnForObjects(`${databasePrefix(prefix, name)}*/${MANIFEST_FILE}`),
        ],
      },
    );
  };
  return { resolveFunction, evaluateFunction, keepProvenFunction, addDatabase };
}

/**
 * `DRILL_DATABASE_TASKS`, read at synth. Lambda allows 4 KB of environment in all: each task only by
 * its revision, the rest of its ARN being that of the default task of its major (core/drill.ts
 * databaseTaskArn).
 */
function databaseTasksJson(stack: Stack, options: DrillFunctionsOptions): string {
  return stack.toJsonString(
    Lazy.uncachedAny({
      produce: () =>
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
    }),
  );
}

/** A grantee that only records the statements a grant gives it: what the vault grants for one database. */
class StatementRecorder extends iam.PrincipalBase {
  public readonly policyFragment = new iam.PrincipalPolicyFragment({});
  public readonly statements: iam.PolicyStatement[] = [];

  override addToPrincipalPolicy(statement: iam.PolicyStatement): iam.AddToPrincipalPolicyResult {
    this.statements.push(statement);
    return { statementAdded: true, policyDependable: new DependencyGroup() };
  }

  override dedupeString(): string | undefined {
    return undefined;
  }
}

/**
 * Widens each statement of `live` by the resources and condition values of the statement at the same
 * place in `more`: both come from the same grant, `more` for one database more. Resources and condition
 * values already there are not repeated, so the statements read as if the grant had named all at once.
 */
function widenStatements(live: readonly iam.PolicyStatement[], more: readonly iam.PolicyStatement[]): void {
  const shape = (s: iam.PolicyStatement) => JSON.stringify([s.effect, s.actions, Object.keys(s.conditions)]);
  if (
    live.length !== more.length ||
    live.some((s, i) => shape(s) !== shape(more[i] as iam.PolicyStatement))
  ) {
    throw new Error('grantProvenBackups gave a database statements unlike those of the other databases');
  }
  live.forEach((statement, i) => {
    const added = more[i] as iam.PolicyStatement;
    statement.addResources(...added.resources.filter((arn) => !statement.resources.includes(arn)));
    const conditions: Record<string, Record<string, unknown>> = statement.conditions;
    for (const [operator, values] of Object.entries(added.conditions as typeof conditions)) {
      const merged = { ...conditions[operator] };
      for (const [key, value] of Object.entries(values)) {
        const known = merged[key];
        if (Array.isArray(known) && Array.isArray(value)) {
          merged[key] = [...known, ...value.filter((v) => !known.includes(v))];
        } else if (JSON.stringify(known) !== JSON.stringify(value)) {
          throw new Error(`grantProvenBackups gave a database its own condition ${operator} ${key}`);
        }
      }
      statement.addCondition(operator, merged);
    }
  });
}
