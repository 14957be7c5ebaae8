import type { Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PRIMARY_TEST_CONFIG, primaryTemplateQueries } from './primary-stack/fixture.ts';
import { type SynthesizedDeployment, synthesize } from './synth.ts';

let deployment: SynthesizedDeployment;
let template: Template;

beforeAll(() => {
  deployment = synthesize(PRIMARY_TEST_CONFIG);
  template = deployment.primary;
});
afterAll(() => deployment.cleanup());
const { bucketId } = primaryTemplateQueries(() => template);

/** The stack's wiring: the constructs' parts are tested in primary-stack/. */
describe('primary stack', () => {
  it('passes cdk-nag AwsSolutions with no unsuppressed finding', () => {
    expect(deployment.nagFindings).toEqual([]);
  });

  it('exposes what the restore drill wires into', () => {
    const { primary } = deployment.stacks;
    expect(primary.vault.bucket).toBeDefined();
    expect(primary.vault.key).toBeDefined();
    expect(primary.cluster).toBeDefined();
    expect(primary.network.vpc).toBeDefined();
    expect(primary.network.taskSecurityGroup).toBeDefined();
    expect(primary.alerts.topic).toBeDefined();
    expect(primary.restoreDrill.stateMachine).toBeDefined();
    // The toBeDefined checks above hold by type; these fail if the drill is wired to something else.
    expect(primary.restoreDrill.securityGroup).toBe(primary.network.taskSecurityGroup);
    expect(primary.restoreDrill.taskDefinitions.size).toBe(3);
    for (const task of primary.restoreDrill.taskDefinitions.values()) {
      expect(task.taskRole).toBe(primary.restoreDrill.taskRole);
    }
  });

  it('outputs what the pgproof CLI looks the deployment up by', () => {
    const outputs = template.toJSON().Outputs as Record<string, { Value: unknown }>;
    expect(outputs.BackupBucketName?.Value).toEqual({ Ref: bucketId() });
    expect(outputs.BackupPrefix?.Value).toBe('pg/');
    expect(JSON.stringify(outputs.LauncherFunctionName?.Value)).toContain('LauncherFunction');
    const schedules = JSON.stringify(outputs.BackupSchedules?.Value);
    for (const text of [
      'orders',
      'billing',
      'DatabaseOrdersSchedule',
      'DatabaseBillingSchedule',
      'default',
    ]) {
      expect(schedules).toContain(text);
    }
  });
});
