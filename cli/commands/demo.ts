import { ConfigError } from '../../core/errors.ts';
import { defineCommand } from './command.ts';

/**
 * `pgproof demo`: the whole pipeline on this machine (cli/demo.ts). Loaded only when run: it pulls in
 * the CDK and the local Step Functions engine.
 */
export const demo = defineCommand({
  name: 'demo',
  synopsis: ['pgproof demo'],
  summary: 'the whole pipeline locally, no AWS account needed',
  takesDatabase: false,
  options: {},
  optionHelp: {},
  async run({ output, context }) {
    const runDemo = context.demo ?? (await loadDemo());
    return runDemo(output);
  },
});

/**
 * The demo's module. It needs the repository's development packages (a local S3 server, the local Step
 * Functions engine, PostgreSQL servers), which an installed pgproof package does not carry.
 */
async function loadDemo(): Promise<typeof import('../demo.ts').runDemo> {
  try {
    return (await import('../demo.ts')).runDemo;
  } catch (error) {
    if ((error as { code?: string }).code !== 'ERR_MODULE_NOT_FOUND') throw error;
    throw new ConfigError(
      `the demo needs pgproof's development packages (${(error as Error).message.match(/'([^']+)'/)?.[1] ?? 'one is missing'}); run it from a clone of the repository: npm ci && npm run demo`,
    );
  }
}
