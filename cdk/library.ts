/**
 * `pgproof/cdk`: pgproof as a CDK library. The two constructs most apps need:
 *
 * ```ts
 * import { PgproofBackups, PgproofReplica } from 'pgproof/cdk';
 * const replica = new PgproofReplica(replicaStack, 'Replica');
 * const backups = new PgproofBackups(primaryStack, 'Backups', { replica, notificationEmails: ['oncall@example.com'] });
 * backups.addDatabase('orders', { instance: ordersDb, drill: { rtoMinutes: 30 } });
 * ```
 *
 * The stacks the config file deploys (`addPgproofStacks`) and the building blocks both are made of are
 * exported too, for apps that compose their own.
 */

export {
  type DeploymentConfig,
  DeploymentConfigError,
  loadDeploymentConfig,
  parseDeploymentConfig,
} from '../core/config.ts';
export { EVENT_SOURCE } from '../core/events.ts';
// Building blocks.
export { BackupAlerts, type BackupAlertsProps } from './constructs/backup-alerts.ts';
export { BackupDashboard, type BackupDashboardProps } from './constructs/backup-dashboard.ts';
export { BackupEvents, type BackupEventsProps, type ChatNotifications } from './constructs/backup-events.ts';
export { BackupLauncher, type BackupLauncherProps } from './constructs/backup-launcher.ts';
export { BackupNetwork, type BackupNetworkProps } from './constructs/backup-network.ts';
export { BackupVault, type BackupVaultProps, type ObjectLockMode } from './constructs/backup-vault.ts';
export { DatabaseBackup, type DatabaseBackupProps } from './constructs/database-backup.ts';
export {
  type DatabaseLocation,
  type DatabaseLogin,
  type DatabaseOptions,
  LIBRARY_DATABASE_DEFAULTS,
  PgproofBackups,
  type PgproofBackupsProps,
} from './constructs/pgproof-backups.ts';
export {
  type IPgproofReplica,
  PgproofReplica,
  type PgproofReplicaProps,
} from './constructs/pgproof-replica.ts';
export { type DrillDatabaseProps, RestoreDrill, type RestoreDrillProps } from './constructs/restore-drill.ts';
// The config file's form: both stacks from a validated pgproof.config.json.
export { addPgproofStacks, type PgproofStacks, type PgproofStacksOptions } from './stacks/deployment.ts';
export { PrimaryStack, type PrimaryStackProps } from './stacks/primary-stack.ts';
export { ReplicaStack, type ReplicaStackProps } from './stacks/replica-stack.ts';
