import { DeploymentConfigError, parseDeploymentConfig } from '../../core/config.ts';

/** One database's entry of a valid deployment config, every required field set. */
export const database = {
  name: 'orders',
  host: 'orders.example.internal',
  database: 'orders',
  secretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:pgproof/orders-AbCdEf',
  schedule: 'cron(0 2 * * ? *)',
  timeZone: 'Europe/Berlin',
  rpoHours: 26,
};

/** A valid deployment config of that one database. */
export const valid = {
  account: '123456789012',
  primaryRegion: 'eu-west-1',
  replicaRegion: 'eu-central-1',
  network: { type: 'create' },
  databases: [database],
};

/** The problems reported for `json`, one line each; throws when the config is accepted. */
export function problemsOf(json: unknown): readonly string[] {
  try {
    parseDeploymentConfig(json, 'pgproof.config.json');
  } catch (error) {
    if (error instanceof DeploymentConfigError) return error.problems;
    throw error;
  }
  throw new Error('expected the config to be rejected');
}
