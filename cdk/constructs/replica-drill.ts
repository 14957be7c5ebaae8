import { CfnOutput } from 'aws-cdk-lib';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { DR_DRILL_DEFAULT_SCHEDULE, DR_DRILL_DEFAULT_WINDOW_DAYS } from '../../core/config-dr-drill.ts';
import type { BackupAlerts } from './backup-alerts.ts';
import type { BackupNetwork, BackupNetworkProps } from './backup-network.ts';

import { runnerImageAsset } from './package-assets.ts';
import { type DrillDatabaseProps, RestoreDrill } from './restore-drill.ts';
import { addTaskPlatform } from './task-platform.ts';

export { DR_DRILL_DEFAULT_SCHEDULE, DR_DRILL_DEFAULT_WINDOW_DAYS };

/** Settings of a replica region's DR drill; all optional. */
export interface ReplicaDrillSettings {
  /**
   * Where the DR drill's tasks run in the replica region.
   * @default - a new VPC with isolated subnets and the endpoints the tasks need
   */
  readonly network?: Omit<BackupNetworkProps, 'buckets'>;
  /**
   * PostgreSQL majors a scratch server is provided for.
   * @default - every major the version matrix proves (13 to 18)
   */
  readonly postgresMajors?: readonly number[];
  /**
   * EventBridge Scheduler expression of each database's DR drill.
   * @default 'cron(0 6 1 * ? *)' - monthly, on the 1st at 06:00 in {@link timeZone}
   */
  readonly schedule?: string;
  /** IANA time zone of {@link schedule}. @default 'UTC' */
  readonly timeZone?: string;
  /**
   * A database's DR drill is overdue (its alarm fires) after this many whole days without one passing.
   * @default 35 - a monthly DR drill that misses once alarms
   */
  readonly maxDaysWithoutSuccess?: number;
  /**
   * Addresses subscribed to the DR drill's topic (in the replica region).
   * @default - none; subscribe to {@link ReplicaDrill.alerts}' topic yourself
   */
  readonly notificationEmails?: readonly string[];
  /**
   * The runner image (ARM64).
   * @default - built from this package's containers/pg-dump/Dockerfile, pushed to the replica region
   */
  readonly image?: ecs.ContainerImage;
}

/** Props of {@link ReplicaDrill}. */
export interface ReplicaDrillProps extends ReplicaDrillSettings {
  /** The replica bucket and its key: the DR drill reads backups and writes reports there. */
  readonly bucket: s3.IBucket;
  readonly key: kms.IKey;
  /**
   * Key prefix of all backups (the primary's `backupPrefix`).
   * @default ''
   */
  readonly prefix?: string;
}

/**
 * A replica region's DR drill: the primary's drill workflow ({@link RestoreDrill} of kind `dr`) over the
 * replica bucket under the replica key, with a network, cluster and alerts topic of its own in this
 * region, each database on the DR schedule (monthly by default) and on demand from this region's Step
 * Functions console. Its reports say how old the newest replicated backup was and how long it took to
 * replicate; a database's alarm fires when no DR drill of it passed within the window. There is no
 * KeepProvenBackup: the replica's legal holds come from the primary by replication.
 */
export class ReplicaDrill extends Construct {
  public readonly network: BackupNetwork;
  public readonly cluster: ecs.Cluster;
  /** This region's topic of the DR drill's verdicts and alarms. */
  public readonly alerts: BackupAlerts;
  /** The drill workflow of kind `dr`. */
  public readonly restoreDrill: RestoreDrill;
  /** Key prefix of all backups it reads under. */
  public readonly prefix: string;
  private readonly schedule: string;
  private readonly timeZone: string;
  private readonly maxDaysWithoutSuccess: number;

  constructor(scope: Construct, id: string, props: ReplicaDrillProps) {
    super(scope, id);
    this.prefix = props.prefix ?? '';
    this.schedule = props.schedule ?? DR_DRILL_DEFAULT_SCHEDULE;
    this.timeZone = props.timeZone ?? 'UTC';
    this.maxDaysWithoutSuccess = props.maxDaysWithoutSuccess ?? DR_DRILL_DEFAULT_WINDOW_DAYS;
    const days = this.maxDaysWithoutSuccess;
    if (!Number.isInteger(days) || days < 1 || days > 400) {
      throw new Error(`'drill.maxDaysWithoutSuccess' must be whole days from 1 to 400, got ${days}`);
    }
    ({
      network: this.network,
      cluster: this.cluster,
      alerts: this.alerts,
    } = addTaskPlatform(this, {
      network: props.network,
      bucket: props.bucket,
      notificationEmails: props.notificationEmails,
    }));
    this.restoreDrill = new RestoreDrill(this, 'RestoreDrill', {
      kind: 'dr',
      bucket: props.bucket,
      key: props.key,
      prefix: this.prefix,
      cluster: this.cluster,
      vpc: this.network.vpc,
      subnets: this.network.subnets,
      // The shared group is the one the interface endpoints (ECR, CloudWatch Logs) admit.
      securityGroup: this.network.taskSecurityGroup,
      image: props.image ?? runnerImageAsset(ecs.CpuArchitecture.ARM64),
      architecture: ecs.CpuArchitecture.ARM64,
      topic: this.alerts.topic,
      postgresMajors: props.postgresMajors,
    });
    this.alerts.notifyOn(this.restoreDrill.failedAlarm);
    new CfnOutput(this, 'StateMachineArn', {
      description: 'pgproof DR drill: start it in this region with { "database": "<name>" }',
      value: this.restoreDrill.stateMachine.stateMachineArn,
    });
  }

  /**
   * Drills `db`'s replicas: its name, RTO, checks and scratch server image, on the DR drill's own
   * schedule and window (the primary's are for the primary's drill), and routes its overdue alarm.
   */
  addDatabase(db: DrillDatabaseProps): void {
    this.restoreDrill.addDatabase({
      name: db.name,
      ...(db.rto === undefined ? {} : { rto: db.rto }),
      ...(db.checks === undefined ? {} : { checks: db.checks }),
      ...(db.postgresImage === undefined ? {} : { postgresImage: db.postgresImage }),
      schedule: this.schedule,
      timeZone: this.timeZone,
      maxDaysWithoutSuccess: this.maxDaysWithoutSuccess,
    });
    const overdue = this.restoreDrill.overdueAlarms.get(db.name);
    if (overdue) this.alerts.notifyOn(overdue);
  }
}
