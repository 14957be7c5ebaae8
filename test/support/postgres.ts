// The harness's PostgreSQL clusters are the local stand-ins the demo uses too.
export * from '../../local/postgres.ts';
