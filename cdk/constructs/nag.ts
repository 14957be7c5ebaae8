import { Stack, Validations } from 'aws-cdk-lib';
import { flattenCfnReference } from 'cdk-nag/lib/utils/flatten-cfn-reference.js';
import type { IConstruct } from 'constructs';

/** The wildcard findings of cdk-nag's AwsSolutions-IAM5 to acknowledge on one role or policy. */
export interface Wildcards {
  /** Resource ARNs (tokens allowed) containing `*`, exactly as granted. */
  readonly resources?: readonly string[];
  /** Actions containing `*`, exactly as granted. */
  readonly actions?: readonly string[];
}

/**
 * Acknowledges AwsSolutions-IAM5 for exactly the given wildcard resources and actions on `scope`,
 * so that any other wildcard added later is still reported. The finding ids are built the way
 * cdk-nag builds them (`AwsSolutions-IAM5[Resource::<Bucket.Arn>/orders/*]`).
 */
export function acknowledgeWildcards(scope: IConstruct, reason: string, wildcards: Wildcards): void {
  const stack = Stack.of(scope);
  const ids = [
    ...(wildcards.resources ?? []).map((arn) => `Resource::${flattenCfnReference(stack.resolve(arn))}`),
    ...(wildcards.actions ?? []).map((action) => `Action::${action}`),
  ];
  for (const id of ids) Validations.of(scope).acknowledge({ id: `AwsSolutions-IAM5[${id}]`, reason });
}
