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
    const runDemo = context.demo ?? (await import('../demo.ts')).runDemo;
    return runDemo(output);
  },
});
