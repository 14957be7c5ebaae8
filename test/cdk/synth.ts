import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, type Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import type * as ecs from 'aws-cdk-lib/aws-ecs';
import { AwsSolutionsChecks } from 'cdk-nag';
import { addPgproofStacks, type PgproofStacks } from '../../cdk/stacks/deployment.ts';
import { type DeploymentConfig, parseDeploymentConfig } from '../../core/config.ts';

const ROOT = join(import.meta.dirname, '../..');

/** cdk.json's context: feature flags and the availability zones that keep synth offline. */
export function cdkJsonContext(): Record<string, unknown> {
  return JSON.parse(readFileSync(join(ROOT, 'cdk.json'), 'utf8')).context;
}

/** The committed example config, parsed. */
export function exampleConfigJson(): Record<string, unknown> {
  return JSON.parse(readFileSync(join(ROOT, 'pgproof.config.example.json'), 'utf8'));
}

/** A synthesized deployment: templates, cdk-nag findings, and the outdir to remove. */
export interface SynthesizedDeployment {
  readonly stacks: Required<PgproofStacks>;
  readonly primary: Template;
  readonly replica: Template;
  /** `<rule id> at <construct path>` for every unsuppressed cdk-nag AwsSolutions finding. */
  readonly nagFindings: readonly string[];
  readonly outdir: string;
  /** Removes the outdir (DESIGN.md: template tests leave nothing behind). */
  cleanup(): void;
}

/** Synthesizes both stacks of `json` once, in a temporary outdir, and runs cdk-nag over them. */
export function synthesize(
  json: unknown,
  runnerImage?: (architecture: ecs.CpuArchitecture) => ecs.ContainerImage,
): SynthesizedDeployment {
  const config: DeploymentConfig = parseDeploymentConfig(json, 'test config');
  const outdir = mkdtempSync(join(tmpdir(), 'pgproof-cdk-'));
  const app = new App({ outdir, context: cdkJsonContext() });
  let stacks: Required<PgproofStacks>;
  try {
    const { replica, primary } = addPgproofStacks(app, config, { runnerImage });
    if (!primary)
      throw new Error('synthesize() needs a config that makes the primary stack: set replicaKeyArn');
    stacks = { replica, primary };
    app.synth();
  } catch (error) {
    rmSync(outdir, { recursive: true, force: true });
    throw error;
  }
  const report = new AwsSolutionsChecks().validateScope(app);
  const nagFindings = report.violations.flatMap((violation) =>
    violation.violatingResources.map(
      (resource) => `${violation.ruleName} at ${(resource as { constructPath?: string }).constructPath}`,
    ),
  );
  const template = (stack: Stack) => Template.fromStack(stack);
  return {
    stacks,
    primary: template(stacks.primary),
    replica: template(stacks.replica),
    nagFindings,
    outdir,
    cleanup: () => rmSync(outdir, { recursive: true, force: true }),
  };
}

/** The logical ids of a template's resources of `type`. */
export function logicalIdsOf(
  template: Template,
  type: string,
  props: Record<string, unknown> = {},
): string[] {
  return Object.keys(template.findResources(type, props));
}

export { joinToText } from '../../local/drill-workflow.ts';
