/**
 * Every message that crosses a process boundary, in one index: each has one zod schema (or, for messages
 * only pgproof's own code builds, one type), written through by its writer and parsed with by its reader.
 * To change a field, change it in the schema named here; the compiler then shows every writer and reader.
 *
 * | message | schema | written by | read by |
 * | --- | --- | --- | --- |
 * | schedule payload | `startBackupEventSchema` | the stack (DatabaseBackup's schedule), `pgproof backup` | launcher Lambda |
 * | launcher's answer | `launchResultSchema` | launcher Lambda | `pgproof backup` |
 * | backup runner settings | `BackupSettings` (engines/backup/settings.ts) | the launcher's RunTask overrides, the task definition | backup runner |
 * | manifest | `manifestSchema` (`serializeManifest`) | backup runner | restore runner, launcher (tier history), CLI |
 * | manifest's inventory | `inventorySchema` (core/inventory.ts), read by `readInventory` | backup runner (in the dump's snapshot) | restore runner's inventory checks, preflight (extensions) |
 * | drill input (`sample`, `retrievalTier` included) | `drillInputSchema` | the console, the drill schedules (a database's and its samples'), `pgproof drill` | ResolveBackup |
 * | per-database drill settings | `drillDatabaseSchema` | the stack (ResolveBackup's environment) | ResolveBackup |
 * | drill task roles and tasks | `DRILL_TASK_ROLES`, `DRILL_TASKS`, `DRILL_DATABASE_TASKS` (functions/resolve-backup.ts) | the stack (ResolveBackup's environment) | ResolveBackup (the plan's `taskRoleArn` and task definition) |
 * | drill plan (`$.drill`) | `drillPlanSchema`, paths by `drillPlanPath` and `drillRetrievalPath` | ResolveBackup, RetrieveBackup (the retrieval's progress) | the workflow's Choices and RunRestore, RetrieveBackup, EvaluateReport |
 * | drill selection and retrieval, for the report | `drillSelectionSchema`, `retrievalReportSchema` (core/drill-report.ts), as `DRILL_SELECTION` and `DRILL_RETRIEVAL` | ResolveBackup, RetrieveBackup (the plan's container override) | restore runner (the report's `selection` and `retrieval`) |
 * | drill evaluation (`$.evaluation`) | `drillEvaluationSchema`, paths by `drillEvaluationPath` | EvaluateReport, KeepProvenBackup (adds its line) | KeepProvenBackup, the workflow's Notify and Fail |
 * | proven backups index | `provenIndexSchema` (core/proven-backups.ts), `<prefix><name>.proven.json` | KeepProvenBackup | KeepProvenBackup (which backup of each tier is held) |
 * | restore runner settings | `RestoreRequest` / `RestoreSettings` (engines/restore/settings.ts) | the plan's container override, `pgproof restore` | restore engine |
 * | restore report | `restoreReportSchema` (`serializeRestoreReport`) | restore runner | EvaluateReport, `pgproof restore`/`list` |
 * | stack outputs | `STACK_OUTPUTS`, `databaseSchedulesSchema` | the primary stack | the CLI |
 * | evidence ledger | `ledgerSchema` (`serializeLedger`, core/ledger.ts) | `pgproof report` | auditors, `<prefix>ledger/<month>/ledger.json` |
 */

export type { BackupSettings } from '../engines/backup/settings.ts';
export type { RestoreRequest, RestoreSettings } from '../engines/restore/settings.ts';
export {
  type DrillDatabase,
  type DrillInput,
  type DrillPlan,
  drillDatabaseSchema,
  drillEvaluationPath,
  drillInputSchema,
  drillPlanPath,
  drillPlanSchema,
  drillRetrievalPath,
  drillSampleSchema,
  type PlanRetrieval,
  planRetrievalSchema,
} from './drill.ts';
export { type DrillEvaluation, drillEvaluationSchema } from './drill-evaluation.ts';
export {
  type DrillSelection,
  drillSelectionSchema,
  type RestoreReport,
  type RetrievalReport,
  restoreReportSchema,
  retrievalReportSchema,
  serializeRestoreReport,
} from './drill-report.ts';
export { type Inventory, inventorySchema } from './inventory.ts';
export {
  type LaunchResult,
  launchResultSchema,
  type StartBackupEvent,
  startBackupEventSchema,
} from './launch.ts';
export { type Ledger, ledgerSchema, serializeLedger } from './ledger.ts';
export { type Manifest, manifestSchema, serializeManifest } from './manifest.ts';
export { type ProvenIndex, provenIndexSchema } from './proven-backups.ts';
export { type DatabaseSchedules, databaseSchedulesSchema, STACK_OUTPUTS } from './stack-outputs.ts';
