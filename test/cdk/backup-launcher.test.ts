import { Match, Template } from 'aws-cdk-lib/assertions';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { beforeAll, describe, it } from 'vitest';
import { BackupLauncher } from '../../cdk/constructs/backup-launcher.ts';
import { BackupNetwork } from '../../cdk/constructs/backup-network.ts';
import { BackupVault } from '../../cdk/constructs/backup-vault.ts';
import { bareStacks } from './bare-stack.ts';

const stack = bareStacks();

/** A launcher of backups under `pg/`, in a new network. Its schedules and the tasks it may start come from each DatabaseBackup (database-backup.test.ts). */
describe('BackupLauncher', () => {
  let template: Template;
  let bucketRef: unknown;
  beforeAll(() => {
    const scope = stack();
    const network = new BackupNetwork(scope, 'Network');
    const bucket = new s3.Bucket(scope, 'Bucket');
    new BackupLauncher(scope, 'Launcher', {
      cluster: new ecs.Cluster(scope, 'Cluster', { vpc: network.vpc }),
      vpc: network.vpc,
      subnets: network.subnets,
      vault: BackupVault.fromBucketAndKey(bucket, new kms.Key(scope, 'Key')),
      prefix: 'pg/',
    });
    template = Template.fromStack(scope);
    bucketRef = scope.resolve(bucket.bucketName);
  });

  it('runs the launcher on Node.js 24, ARM64, with the cluster, subnets and bucket', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Runtime: 'nodejs24.x',
      Architectures: ['arm64'],
      Handler: 'index.handler',
      Environment: {
        Variables: {
          CLUSTER_ARN: { 'Fn::GetAtt': [Match.stringLikeRegexp('^Cluster'), 'Arn'] },
          SUBNET_IDS: {
            'Fn::Join': [
              '',
              [{ Ref: Match.stringLikeRegexp('Subnet1') }, ',', { Ref: Match.stringLikeRegexp('Subnet2') }],
            ],
          },
          BACKUP_BUCKET: bucketRef,
          BACKUP_PREFIX: 'pg/',
        },
      },
    });
  });

  it('lets the launcher see the tasks of its cluster only', () => {
    template.hasResourceProperties('AWS::IAM::Policy', {
      Roles: [{ Ref: Match.stringLikeRegexp('^LauncherRole') }],
      PolicyDocument: {
        Statement: Match.arrayWith([
          {
            Action: ['ecs:DescribeTasks', 'ecs:ListTasks'],
            Condition: {
              ArnEquals: { 'ecs:cluster': { 'Fn::GetAtt': [Match.stringLikeRegexp('^Cluster'), 'Arn'] } },
            },
            Effect: 'Allow',
            Resource: '*',
          },
        ]),
      },
    });
  });

  it('denies the launcher starting a task in any other cluster', () => {
    template.hasResourceProperties('AWS::IAM::Policy', {
      Roles: [{ Ref: Match.stringLikeRegexp('^LauncherRole') }],
      PolicyDocument: {
        Statement: Match.arrayWith([
          {
            Action: 'ecs:RunTask',
            Condition: {
              ArnNotEquals: { 'ecs:cluster': { 'Fn::GetAtt': [Match.stringLikeRegexp('^Cluster'), 'Arn'] } },
            },
            Effect: 'Deny',
            Resource: '*',
          },
        ]),
      },
    });
  });

  it("lets only this account's schedules assume the schedule role", () => {
    template.hasResourceProperties('AWS::IAM::Role', {
      AssumeRolePolicyDocument: {
        Statement: [
          {
            Action: 'sts:AssumeRole',
            Effect: 'Allow',
            Principal: { Service: 'scheduler.amazonaws.com' },
            Condition: {
              StringEquals: { 'aws:SourceAccount': '123456789012' },
              ArnLike: { 'aws:SourceArn': 'arn:aws:scheduler:eu-west-1:123456789012:schedule/default/*' },
            },
          },
        ],
      },
    });
  });

  it('keeps failed schedule deliveries in an encrypted queue and alarms on them and on errors', () => {
    template.hasResourceProperties('AWS::SQS::Queue', {
      SqsManagedSseEnabled: true,
      MessageRetentionPeriod: 1209600,
    });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/SQS',
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Threshold: 1,
    });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/Lambda',
      MetricName: 'Errors',
    });
  });
});
