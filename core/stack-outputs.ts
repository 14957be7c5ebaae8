import { z } from 'zod';

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

/** A database's backup schedule (its target input is the launcher payload). */
export const databaseScheduleSchema = z.object({ schedule: z.string().min(1), group: z.string().min(1) });
export type DatabaseSchedule = z.infer<typeof databaseScheduleSchema>;

/**
 * The `BackupSchedules` output: `{ "<database>": { "schedule": "<name>", "group": "<group>" } }`. The
 * stack writes it as this type; the CLI parses it with this schema.
 */
export const databaseSchedulesSchema = z.record(z.string(), databaseScheduleSchema);
export type DatabaseSchedules = z.infer<typeof databaseSchedulesSchema>;
