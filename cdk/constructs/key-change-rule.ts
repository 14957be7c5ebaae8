import * as events from 'aws-cdk-lib/aws-events';
import { Construct } from 'constructs';

/** The KMS calls that could crypto-shred every backup, or open the way to it. */
export const GUARDED_KEY_ACTIONS = ['ScheduleKeyDeletion', 'DisableKey', 'PutKeyPolicy'] as const;

/** Props of {@link KeyChangeRule}. */
export interface KeyChangeRuleProps {
  /** ARNs of the keys to watch (in this rule's region: CloudTrail events reach their own region's bus). */
  readonly keyArns: readonly string[];
  /** Where a matched call goes: the alerts topic, or the primary region's event bus. */
  readonly target: events.IRuleTarget;
}

/**
 * An EventBridge rule on CloudTrail's record of any {@link GUARDED_KEY_ACTIONS} call on the given keys,
 * whoever made it and whether or not the key policy denied it. CloudTrail delivers management events
 * to EventBridge only in an account with a trail that logs them.
 */
export class KeyChangeRule extends Construct {
  public readonly rule: events.Rule;

  constructor(scope: Construct, id: string, props: KeyChangeRuleProps) {
    super(scope, id);
    this.rule = new events.Rule(this, 'Rule', {
      description: 'pgproof: someone tried to delete, disable or re-police a backup key',
      eventPattern: {
        source: ['aws.kms'],
        detailType: ['AWS API Call via CloudTrail'],
        detail: {
          eventSource: ['kms.amazonaws.com'],
          eventName: [...GUARDED_KEY_ACTIONS],
          resources: { ARN: [...props.keyArns] },
        },
      },
      targets: [props.target],
    });
  }
}

/** The text a person reads when a guarded key call is recorded. */
export function keyChangeMessage(): events.RuleTargetInput {
  const field = events.EventField.fromPath;
  return events.RuleTargetInput.fromText(
    `pgproof ALERT: ${field('$.detail.eventName')} on backup key ${field('$.detail.resources[0].ARN')} ` +
      `by ${field('$.detail.userIdentity.arn')} in ${field('$.region')} ` +
      `(error: ${field('$.detail.errorCode')}). Every backup is encrypted under this key: if no one ` +
      'meant this, cancel a scheduled deletion (kms:CancelKeyDeletion) or re-enable the key now, and find out who made the call.',
  );
}
