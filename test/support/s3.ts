// The harness's S3 server is the local stand-in the demo uses too.
export * from '../../local/s3-server.ts';
