import type { Template } from 'aws-cdk-lib/assertions';
import { expect } from 'vitest';
import { exampleConfigJson, logicalIdsOf } from '../synth.ts';

/**
 * The example config (two databases, a new VPC) plus a backup prefix and an object lock mode, with
 * billing's drill left out: orders is drilled on its schedule, billing only on demand.
 */
const example = exampleConfigJson() as { databases: Record<string, unknown>[] };
export const PRIMARY_TEST_CONFIG = {
  ...example,
  backupPrefix: 'pg/',
  objectLockMode: 'COMPLIANCE',
  databases: example.databases.map(({ drill, ...db }) => (db.name === 'billing' ? db : { ...db, drill })),
};

/** Lookups in the primary stack's template that several test files share. */
export function primaryTemplateQueries(templateOf: () => Template) {
  /** The one resource of `type` whose logical id contains `fragment`. */
  function resource(
    type: string,
    fragment: string,
  ): { Properties: Record<string, unknown> } & Record<string, unknown> {
    const matches = Object.entries(templateOf().findResources(type)).filter(([id]) => id.includes(fragment));
    expect(matches.map(([id]) => id)).toHaveLength(1);
    return matches[0]?.[1] as { Properties: Record<string, unknown> };
  }

  const bucketId = () =>
    logicalIdsOf(templateOf(), 'AWS::S3::Bucket').find((id) => id.startsWith('VaultBucket')) ?? '';
  const keyId = () =>
    logicalIdsOf(templateOf(), 'AWS::KMS::Key').find((id) => id.startsWith('VaultKey')) ?? '';
  const topicRef = () => ({ Ref: logicalIdsOf(templateOf(), 'AWS::SNS::Topic')[0] });

  return { resource, bucketId, keyId, topicRef };
}
