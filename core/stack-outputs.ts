/**
 * Output keys of the primary stack: the contract between the stack (which writes them) and the
 * `pgproof` CLI (which finds a deployment by them).
 */
export const STACK_OUTPUTS = {
  bucket: 'BackupBucketName',
  prefix: 'BackupPrefix',
  launcher: 'LauncherFunctionName',
  stateMachine: 'RestoreDrillStateMachineArn',
  /** JSON: `{ "<database>": { "schedule": "<name>", "group": "<group>" } }` */
  databases: 'BackupSchedules',
} as const;
