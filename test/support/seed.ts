// The harness's seed data is the demo's sample database.
export * from '../../local/sample-data.ts';
