import { type DatabaseConfig, parseDeploymentConfig } from '../../core/config.ts';
import { exampleConfigJson } from './synth.ts';

/**
 * The example config (two databases, a new VPC) plus a backup prefix and an object lock mode, with
 * billing's drill left out: orders is drilled on its schedule, billing only on demand. The wiring test
 * synthesizes the deployment from it; the construct tests build their construct from its databases.
 */
const example = exampleConfigJson() as { databases: Record<string, unknown>[] };
export const PRIMARY_TEST_CONFIG = {
  ...example,
  backupPrefix: 'pg/',
  objectLockMode: 'COMPLIANCE',
  databases: example.databases.map(({ drill, ...db }) => (db.name === 'billing' ? db : { ...db, drill })),
};

/** The databases of {@link PRIMARY_TEST_CONFIG}, parsed: orders, then billing. */
export function testDatabases(): readonly DatabaseConfig[] {
  return parseDeploymentConfig(PRIMARY_TEST_CONFIG, 'test config').databases;
}
