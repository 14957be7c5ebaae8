import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import aslValidator from 'asl-validator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { synthesizeDrillWorkflow } from '../../local/drill-workflow.ts';
import { TEST_DATABASES } from './drill-stack.ts';
import { exampleConfigJson, type SynthesizedDeployment, synthesize } from './synth.ts';

/**
 * What a deploy would reject, found before one: cfn-lint over both synthesized templates (preinstalled on
 * the project's machines; where it is absent the test says so and is skipped), and the drill's state
 * machine definition through an Amazon States Language validator. The templates are the example
 * config's, with each database's drill given a scratch server image of its own (one in the account's
 * ECR, one on ECR Public), so that every kind of resource the config can make is linted.
 */
const cfnLint = spawnSync('cfn-lint', ['--version'], { encoding: 'utf8' });
const hasCfnLint = cfnLint.status === 0;
if (!hasCfnLint) {
  console.warn(
    'cfn-lint is not installed on this machine: the synthesized templates were NOT linted (pip install cfn-lint)',
  );
}

/** `json` with the drill of its first database on an image of the account's ECR, of its second on ECR Public. */
function withScratchImages(json: Record<string, unknown>): Record<string, unknown> {
  const images = [
    `${json.account}.dkr.ecr.${json.primaryRegion}.amazonaws.com/postgis:{major}-3.5`,
    'public.ecr.aws/bitnami/postgresql:{major}',
  ];
  const databases = json.databases as { drill: Record<string, unknown> }[];
  return {
    ...json,
    databases: databases.map((db, i) => ({ ...db, drill: { ...db.drill, postgresImage: images[i] } })),
  };
}

describe('deploy-time validation', () => {
  let deployment: SynthesizedDeployment;
  beforeAll(() => {
    deployment = synthesize(withScratchImages(exampleConfigJson()));
  });
  afterAll(() => deployment?.cleanup());

  it.skipIf(!hasCfnLint)(
    "cfn-lint finds no error in either stack's template",
    () => {
      const templates = readdirSync(deployment.outdir)
        .filter((f) => f.endsWith('.template.json'))
        .map((f) => join(deployment.outdir, f));
      expect(templates.map((t) => t.split('/').at(-1)).sort()).toEqual([
        'Pgproof-Primary.template.json',
        'Pgproof-Replica.template.json',
      ]);
      // Errors only (E...): warnings and informational findings are advice, not deploy failures.
      const result = spawnSync(
        'cfn-lint',
        ['--format', 'parseable', '--ignore-checks', 'W', 'I', '--', ...templates],
        {
          encoding: 'utf8',
        },
      );
      expect(result.stdout + result.stderr).toBe('');
      expect(result.status).toBe(0);
    },
    120_000,
  );

  it('the deployment with scratch server images of the databases own passes cdk-nag, with their drill tasks', () => {
    expect(deployment.nagFindings).toEqual([]);
    // Three majors in the example config: the default tasks and those of both databases.
    deployment.primary.resourceCountIs('AWS::ECS::TaskDefinition', 2 + 3 * 3);
  });

  it('the drill state machine is valid Amazon States Language', () => {
    const { definition } = synthesizeDrillWorkflow(TEST_DATABASES);
    const result = aslValidator(definition);
    expect(result.errorsText()).toBe('');
    expect(result.isValid).toBe(true);
  });
});
