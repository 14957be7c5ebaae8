import { ListObjectsV2Command, S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import { describeS3Error } from './errors.ts';

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

/**
 * Every key under `prefix`, in S3's (lexical) order, following continuation tokens. `startAfter`
 * skips the keys up to and including it without listing them.
 */
export async function listKeys(
  s3: S3Client,
  bucket: string,
  prefix: string,
  startAfter?: string,
): Promise<string[]> {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    try {
      const page = await s3.send(
        new ListObjectsV2Command({
          Bucket: bucket,
          Prefix: prefix,
          ...(startAfter === undefined ? {} : { StartAfter: startAfter }),
          ContinuationToken: token,
        }),
      );
      for (const object of page.Contents ?? []) if (object.Key !== undefined) keys.push(object.Key);
      token = page.IsTruncated === false ? undefined : page.NextContinuationToken;
    } catch (error) {
      throw describeS3Error(error, 'ListObjectsV2', bucket, prefix);
    }
  } while (token);
  return keys;
}
