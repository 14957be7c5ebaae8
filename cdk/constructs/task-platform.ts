import * as ecs from 'aws-cdk-lib/aws-ecs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type { Construct } from 'constructs';
import { BackupAlerts } from './backup-alerts.ts';
import { BackupNetwork, type BackupNetworkProps } from './backup-network.ts';

/** Where pgproof's tasks run in one region, and where what needs a person goes. */
export interface TaskPlatform {
  /** VPC, subnets, endpoints and the shared task security group. */
  readonly network: BackupNetwork;
  /** The Fargate cluster of the region's pgproof tasks. */
  readonly cluster: ecs.Cluster;
  /** The alerts topic (and its email subscriptions). */
  readonly alerts: BackupAlerts;
}

/**
 * Adds `Network`, `Cluster` and `Alerts` to `scope`: the network the tasks run in (its S3 endpoint lets
 * through `bucket` only), a cluster with Container Insights, and the alerts topic. The primary region's
 * PgproofBackups and the replica region's DR drill both stand on one.
 */
export function addTaskPlatform(
  scope: Construct,
  props: {
    readonly network?: Omit<BackupNetworkProps, 'buckets'>;
    readonly bucket: s3.IBucket;
    readonly notificationEmails?: readonly string[];
  },
): TaskPlatform {
  const network = new BackupNetwork(scope, 'Network', { ...props.network, buckets: [props.bucket] });
  const cluster = new ecs.Cluster(scope, 'Cluster', {
    vpc: network.vpc,
    containerInsightsV2: ecs.ContainerInsights.ENABLED,
  });
  const alerts = new BackupAlerts(scope, 'Alerts', { cluster, emails: props.notificationEmails });
  return { network, cluster, alerts };
}
