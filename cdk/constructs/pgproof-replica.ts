import { Stack, Token } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { drillReportsPrefix } from '../../core/layout.ts';
import {
  BackupVault,
  type DrillReportRotation,
  type ObjectLockMode,
  type PrefixRotation,
} from './backup-vault.ts';
import { KeyChangeRule } from './key-change-rule.ts';
import { allowReplicationFromAccount } from './replica-access.ts';
import { ReplicaDrill, type ReplicaDrillSettings } from './replica-drill.ts';
import type { DrillDatabaseProps } from './restore-drill.ts';

/**
 * Where a {@link PgproofBackups} replicates to: the replica bucket by name (the primary's replication
 * policy names it literally, with no cross-region lookup) and its key. A {@link PgproofReplica} is one;
 * so is a plain object for a replica deployed elsewhere.
 */
export interface IPgproofReplica {
  readonly bucketName: string;
  readonly region: string;
  readonly key: kms.IKey;
  /** The replica bucket's account. @default - the primary's account */
  readonly account?: string;
  /** Rotates the copies of one database's backups as the primary rotates them. */
  addRotation?(rotation: PrefixRotation): void;
  /** Learns where the primary is: its region (to forward key-change alarms) and its drill reports. */
  attachPrimary?(primary: { readonly region: string; readonly drillReports: DrillReportRotation }): void;
  /**
   * Learns a database the primary drills, so that a DR drill here (when there is one) drills its
   * replicas: its name, RTO, checks and scratch server image; the schedule and window are the DR drill's.
   */
  addDrillDatabase?(db: DrillDatabaseProps): void;
}

/** Props of {@link PgproofReplica}; all optional. */
export interface PgproofReplicaProps {
  /**
   * Physical name of the replica bucket.
   * @default - `<stack name, lower case, 16 characters>-replica-<account>-<region>`
   */
  readonly bucketName?: string;
  /** Object Lock mode of the replica bucket. @default 'GOVERNANCE' */
  readonly objectLockMode?: ObjectLockMode;
  /** @default 'pgproof-break-glass' (see BackupVaultProps.breakGlassRoleName) */
  readonly breakGlassRoleName?: string;
  /**
   * The primary region, when known here; otherwise the {@link PgproofBackups} given this replica says it.
   * @default - the region of the PgproofBackups that replicates here
   */
  readonly primaryRegion?: string;
  /** The rotation of the databases known here; others are added by the PgproofBackups. @default [] */
  readonly rotation?: readonly PrefixRotation[];
  /** The drill reports' expiry, when known here. @default - set by the PgproofBackups */
  readonly drillReports?: DrillReportRotation;
  /**
   * A DR drill in this region ({@link ReplicaDrill}): the primary's drill workflow over the replica
   * bucket under the replica key, for each database the {@link PgproofBackups} adds, monthly by default
   * and on demand from this region's console; an alarm fires when none passed within its window.
   * @default - no DR drill: nothing proves the replicas restore in this region
   */
  readonly drill?: ReplicaDrillSettings;
  /**
   * Key prefix of all backups (the primary's `backupPrefix`), which a DR drill reads under.
   * @default ''
   */
  readonly backupPrefix?: string;
  /**
   * The primary's account, when it is not this one: only its replication role may replicate here
   * (and encrypt under the key), and nothing else of that account may touch the bucket.
   * @default - the primary is in this account
   */
  readonly primaryAccount?: string;
}

/**
 * The second region of a pgproof deployment: a key of its own and a replica bucket with the same
 * protections and rotation as the primary one, and the key's guarded calls forwarded to the primary
 * region's alarms. Put it in a stack of its own, in another region, with an explicit account and region;
 * give it to {@link PgproofBackups} as `replica`, which adds each database's rotation here.
 */
export class PgproofReplica extends Construct implements IPgproofReplica {
  /** Key, replica bucket and its access-log bucket. */
  public readonly vault: BackupVault;
  /** The replica bucket (the primary's replication destination). */
  public readonly bucket: s3.IBucket;
  public readonly bucketName: string;
  /** This construct's region. */
  public readonly region: string;
  /** This construct's account. */
  public readonly account: string;
  /** The primary's account: where the key's guarded calls are forwarded. */
  private readonly primaryAccount: string;
  /** Encrypts the replicas. */
  public readonly key: kms.IKey;
  /** Forwards guarded calls on {@link key} to the primary region, which alarms on them. */
  public keyChangeRule?: KeyChangeRule;
  /** The DR drill (`DrDrill`), with `drill`. */
  public readonly drill?: ReplicaDrill;
  private primaryRegion?: string;

  constructor(scope: Construct, id: string, props: PgproofReplicaProps = {}) {
    super(scope, id);
    const stack = Stack.of(this);
    if (Token.isUnresolved(stack.account) || Token.isUnresolved(stack.region)) {
      throw new Error(
        `PgproofReplica needs its stack's account and region: give stack "${stack.stackName}" env: { account, region }, as the primary names the replica bucket in its policies`,
      );
    }
    this.region = stack.region;
    this.account = stack.account;
    this.bucketName =
      props.bucketName ??
      `${stack.stackName
        .toLowerCase()
        .replace(/[^a-z0-9-]+/g, '-')
        .slice(0, 16)
        .replace(/^-+|-+$/g, '')}-replica-${stack.account}-${stack.region}`;
    this.vault = new BackupVault(this, 'Vault', {
      rotation: props.rotation ?? [],
      drillReports: props.drillReports,
      objectLockMode: props.objectLockMode,
      bucketName: this.bucketName,
      breakGlassRoleName: props.breakGlassRoleName,
    });
    this.bucket = this.vault.bucket;
    this.key = this.vault.key;
    this.primaryAccount = props.primaryAccount ?? stack.account;
    if (props.primaryAccount !== undefined && props.primaryAccount !== stack.account) {
      allowReplicationFromAccount({
        bucket: this.bucket,
        bucketName: this.bucketName,
        key: this.key,
        primaryAccount: props.primaryAccount,
      });
    }
    if (props.primaryRegion !== undefined) this.forwardKeyChanges(props.primaryRegion);
    if (props.drill) {
      this.drill = new ReplicaDrill(this, 'DrDrill', {
        ...props.drill,
        bucket: this.bucket,
        key: this.key,
        prefix: props.backupPrefix,
      });
    }
  }

  /** Drills `db`'s replicas in the DR drill, when this replica has one; otherwise does nothing. */
  addDrillDatabase(db: DrillDatabaseProps): void {
    this.drill?.addDatabase(db);
  }

  addRotation(rotation: PrefixRotation): void {
    this.vault.addRotation(rotation);
  }

  attachPrimary(primary: { readonly region: string; readonly drillReports: DrillReportRotation }): void {
    if (this.drill && primary.drillReports.prefix !== drillReportsPrefix(this.drill.prefix)) {
      throw new Error(
        `PgproofReplica 'backupPrefix' is "${this.drill.prefix}", but the primary's drill reports are under "${primary.drillReports.prefix}": give the replica the primary's backupPrefix, which its DR drill reads under`,
      );
    }
    this.vault.addDrillReports(primary.drillReports);
    this.forwardKeyChanges(primary.region);
  }

  /**
   * This region's CloudTrail events reach only this region's bus: forward the key's to the primary's
   * default bus (in the primary's account, whose bus policy admits them: PgproofBackups).
   */
  private forwardKeyChanges(primaryRegion: string): void {
    if (this.keyChangeRule) {
      if (this.primaryRegion !== primaryRegion) {
        throw new Error(
          `PgproofReplica forwards key changes to ${this.primaryRegion} already; one replica serves one primary region, not also ${primaryRegion}`,
        );
      }
      return;
    }
    this.primaryRegion = primaryRegion;
    // The construct id and path are those of the replica stack's rule as first deployed.
    this.keyChangeRule = new KeyChangeRule(this, 'KeyChangeAlarm', {
      keyArns: [this.key.keyArn],
      target: new targets.EventBus(
        events.EventBus.fromEventBusArn(
          this,
          'PrimaryEventBus',
          Stack.of(this).formatArn({
            service: 'events',
            region: primaryRegion,
            account: this.primaryAccount,
            resource: 'event-bus',
            resourceName: 'default',
          }),
        ),
      ),
    });
  }
}
