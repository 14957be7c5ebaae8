import { S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';

/**
 * The S3 client of the runners and the CLI. Region, credentials and `AWS_ENDPOINT_URL_S3` come from
 * the SDK's own environment variables; `S3_FORCE_PATH_STYLE=true` adds path-style addressing for
 * S3-compatible servers.
 */
export function createS3Client(
  options: { forcePathStyle?: boolean; region?: string; credentials?: S3ClientConfig['credentials'] } = {},
): S3Client {
  return new S3Client({
    forcePathStyle: options.forcePathStyle ?? process.env.S3_FORCE_PATH_STYLE === 'true',
    ...(options.region ? { region: options.region } : {}),
    ...(options.credentials ? { credentials: options.credentials } : {}),
  });
}

/** True when an S3 error means the object does not exist. */
export function isNotFound(error: unknown): boolean {
  const e = error as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e?.name === 'NotFound' || e?.name === 'NoSuchKey' || e?.$metadata?.httpStatusCode === 404;
}
