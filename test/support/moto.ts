// moto's S3 server, for what s3rver does not do (versioning, conditional writes, Object Lock).
export * from '../../local/moto-server.ts';
