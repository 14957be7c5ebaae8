import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { DeploymentConfigError, loadDeploymentConfig } from '../core/config.ts';
import { addPgproofStacks } from './stacks/deployment.ts';

/**
 * The CDK entry point (cdk.json: `npx tsx cdk/app.ts`). Reads the deployment config named by
 * `-c config=<path>` (default `pgproof.config.json`) and adds the replica and primary stacks,
 * checked by cdk-nag's AwsSolutions rules on every synth.
 */

const app = new App();
const path = String(app.node.tryGetContext('config') ?? 'pgproof.config.json');
try {
  const config = loadDeploymentConfig(path);
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  addPgproofStacks(app, config);
  app.synth();
} catch (error) {
  if (!(error instanceof DeploymentConfigError)) throw error;
  console.error(error.message);
  process.exit(1);
}
