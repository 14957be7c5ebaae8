import { Match } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DrillStack, synthesizeDrill, TEST_DATABASES } from './drill-stack.ts';
import { joinToText } from './synth.ts';

/** The state machine's definition, each reference replaced by its logical id. */
function definitionOf(drill: DrillStack) {
  const [machine] = Object.values(drill.template.findResources('AWS::StepFunctions::StateMachine'));
  const text = joinToText(machine?.Properties.DefinitionString, (ref) =>
    JSON.stringify(ref)
      .replace(/[^A-Za-z0-9]/g, '')
      .replace(/^(FnGetAtt|Ref)/, ''),
  );
  return JSON.parse(text) as { States: Record<string, Record<string, unknown>>; TimeoutSeconds?: number };
}

/** The text of a synthesized resource ARN with each reference replaced by its logical id. */
const arnText = (arn: unknown) =>
  joinToText(arn, (ref) => {
    const reference = ref as { Ref?: string; 'Fn::GetAtt'?: string[] };
    return String(reference.Ref ?? reference['Fn::GetAtt']?.[0]);
  });

describe('RestoreDrill: archived backups and sampled drills', () => {
  let drill: DrillStack;
  beforeAll(() => {
    drill = synthesizeDrill({
      prefix: 'pg/',
      databases: [
        {
          ...TEST_DATABASES[0],
          name: 'shop',
          samples: [{ tier: 'monthly', withinDays: 365, schedule: 'cron(0 6 1 * ? *)' }],
        },
        { name: 'billing_v2', retrievalTier: 'Bulk' },
      ],
    });
  });
  afterAll(() => drill?.cleanup());

  it('passes cdk-nag with the retrieval function and the sample schedule', () => {
    expect(drill.nagFindings).toEqual([]);
  });

  it('retrieves an archived backup before RunRestore, polling every 30 minutes, and times out after 74 hours', () => {
    const { States, TimeoutSeconds } = definitionOf(drill);
    expect(TimeoutSeconds).toBe(74 * 3600);
    expect(States['Archived?']).toEqual({
      Type: 'Choice',
      Choices: [{ Variable: '$.drill.retrieval', IsPresent: true, Next: 'RetrieveBackup' }],
      Default: 'RunRestore',
    });
    expect(States.RetrieveBackup).toMatchObject({
      ResultPath: '$.drill',
      Next: 'Retrieved?',
      Catch: [{ ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'NotifyFailure' }],
    });
    expect(States['Retrieved?']).toEqual({
      Type: 'Choice',
      Choices: [{ Variable: '$.drill.retrieval.status', StringEquals: 'available', Next: 'RunRestore' }],
      Default: 'WaitForRetrieval',
    });
    expect(States.WaitForRetrieval).toMatchObject({ Type: 'Wait', Seconds: 1800, Next: 'RetrieveBackup' });
  });

  it("lets RetrieveBackup restore and head only the drillable databases' objects, with no key to read them", () => {
    const [role] = Object.entries(drill.template.findResources('AWS::IAM::Role')).filter(([id]) =>
      /RetrieveBackupRole/.test(id),
    );
    expect(role).toBeDefined();
    const policies = drill.template.findResources('AWS::IAM::Policy', {
      Properties: { Roles: [{ Ref: role?.[0] }] },
    });
    const statements = Object.values(policies).flatMap(
      (p) => p.Properties.PolicyDocument.Statement as { Action: string | string[]; Resource: unknown }[],
    );
    const restore = statements.filter((s) => [s.Action].flat().includes('s3:RestoreObject'));
    expect(restore).toHaveLength(1);
    expect([restore[0]?.Action].flat()).toEqual(['s3:RestoreObject', 's3:GetObject']);
    expect([restore[0]?.Resource].flat().map(arnText)).toEqual([
      'Bucket83908E77/pg/shop/*',
      'Bucket83908E77/pg/billing_v2/*',
    ]);
    // Nothing else of S3, and no KMS: it can start a restore and read headers, not a byte of a backup.
    expect(statements.flatMap((s) => [s.Action].flat()).filter((a) => /^(s3|kms):/.test(a))).toEqual([
      's3:RestoreObject',
      's3:GetObject',
    ]);
    drill.template.hasResourceProperties('AWS::Lambda::Function', {
      Description: 'pgproof: restores an archived backup (Glacier, Deep Archive) before its drill',
      Environment: { Variables: { BACKUP_BUCKET: Match.anyValue() } },
    });
  });

  it("gives ResolveBackup each database's retrieval tier and schedules the sample next to the database's own", () => {
    const [resolve] = Object.values(
      drill.template.findResources('AWS::Lambda::Function', {
        Properties: { Environment: { Variables: { DRILL_DATABASES: Match.anyValue() } } },
      }),
    );
    expect(JSON.parse(resolve?.Properties.Environment.Variables.DRILL_DATABASES)).toMatchObject({
      shop: { rtoMinutes: 30 },
      billing_v2: { retrievalTier: 'Bulk' },
    });
    const inputs = Object.values(drill.template.findResources('AWS::Scheduler::Schedule')).map((s) =>
      JSON.parse(s.Properties.Target.Input),
    );
    expect(inputs).toEqual([
      { database: 'shop' },
      { database: 'shop', sample: { tier: 'monthly', withinDays: 365 } },
    ]);
  });
});
