import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import S3rver, { type S3rverContext } from 's3rver';
import { listKeys } from '../core/s3-client.ts';
import { freePort } from './ports.ts';

/**
 * An S3-compatible server in-process (s3rver) on a free loopback port, with what s3rver lacks:
 * AbortMultipartUpload, a log of every request's headers (s3rver ignores SSE-KMS, tags and
 * Object Lock, so tests assert the requests), and injectable failures.
 */

/** One request as the server received it. */
export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  readonly query: Record<string, string>;
  readonly headers: Record<string, string>;
}

/**
 * A failure to inject: requests matching `when` get `status` and an S3 error `code`, after `delayMs`.
 * With `status: 0` the request is only delayed, then served.
 */
export interface InjectedFault {
  when(request: RecordedRequest): boolean;
  status: number;
  code?: string;
  delayMs?: number;
  /** How many matching requests fail; default: all. */
  times?: number;
}

/** A running S3-compatible server. */
export interface S3Server {
  readonly endpoint: string;
  readonly bucket: string;
  readonly requests: RecordedRequest[];
  /** Environment a runner needs to reach this server (endpoint, region, credentials, path style). */
  readonly env: Record<string, string>;
  /** A client configured for this server. */
  readonly client: S3Client;
  inject(fault: InjectedFault): void;
  clearFaults(): void;
  /** Keys of every object in the bucket under a prefix. */
  keys(prefix?: string): Promise<string[]>;
  /** An object's bytes. */
  get(key: string): Promise<Buffer>;
  /** Multipart uploads started and neither completed nor aborted. */
  incompleteUploads(): string[];
  stop(): Promise<void>;
}

const UPLOADS_DIR = '._S3rver_uploads';

/** Settings every S3 client of a test needs against s3rver (see DESIGN.md's toolchain facts). */
export function s3rverClient(endpoint: string): S3Client {
  return new S3Client({
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

function flatten(record: Record<string, string | string[] | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(record))
    if (v !== undefined) out[k] = Array.isArray(v) ? v.join(',') : v;
  return out;
}

/** Starts a server with one bucket (default `backups`). */
export async function startS3(options: { bucket?: string } = {}): Promise<S3Server> {
  const bucket = options.bucket ?? 'backups';
  const directory = mkdtempSync(join(tmpdir(), 'pgproof-s3-'));
  const port = await freePort();
  const server = new S3rver({
    address: '127.0.0.1',
    port,
    silent: true,
    directory,
    configureBuckets: [{ name: bucket }],
  });
  const requests: RecordedRequest[] = [];
  let faults: InjectedFault[] = [];

  server.middleware.unshift(async (ctx: S3rverContext, next) => {
    const request: RecordedRequest = {
      method: ctx.method,
      path: decodeURIComponent(ctx.path),
      query: flatten(ctx.query),
      headers: flatten(ctx.headers),
    };
    requests.push(request);
    const fault = faults.find((f) => f.when(request) && (f.times === undefined || f.times > 0));
    if (fault) {
      if (fault.times !== undefined) fault.times -= 1;
      if (fault.delayMs) await new Promise((resolve) => setTimeout(resolve, fault.delayMs));
    }
    if (fault && fault.status !== 0) {
      // Read the whole request first, as S3 does: answering mid-upload makes the client see EPIPE
      // instead of the error, depending on timing.
      await new Promise<void>((resolve) => {
        ctx.req.on('end', resolve);
        ctx.req.on('error', () => resolve());
        ctx.req.resume();
      });
      ctx.status = fault.status;
      ctx.type = 'application/xml';
      ctx.body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${fault.code ?? 'InternalError'}</Code><Message>injected by the test</Message></Error>`;
      return;
    }
    // AbortMultipartUpload: s3rver has no route for it; drop the upload's parts.
    if (ctx.method === 'DELETE' && typeof ctx.query.uploadId === 'string') {
      const bucketName = ctx.path.split('/')[1] ?? '';
      const uploadId = ctx.query.uploadId.replace(/[^0-9a-f]/g, '');
      await rm(join(directory, bucketName, UPLOADS_DIR, uploadId), { recursive: true, force: true });
      ctx.status = 204;
      return;
    }
    await next();
  });

  await server.run();
  const endpoint = `http://127.0.0.1:${port}`;
  const client = s3rverClient(endpoint);

  return {
    endpoint,
    bucket,
    requests,
    client,
    env: {
      BACKUP_BUCKET: bucket,
      AWS_ENDPOINT_URL_S3: endpoint,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'S3RVER',
      AWS_SECRET_ACCESS_KEY: 'S3RVER',
      S3_FORCE_PATH_STYLE: 'true',
      AWS_REQUEST_CHECKSUM_CALCULATION: 'WHEN_REQUIRED',
      AWS_RESPONSE_CHECKSUM_VALIDATION: 'WHEN_REQUIRED',
    },
    inject(fault) {
      faults.push(fault);
    },
    clearFaults() {
      faults = [];
    },
    keys: (prefix = '') => listKeys(client, bucket, prefix),
    async get(key) {
      const response = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      return Buffer.from((await response.Body?.transformToByteArray()) ?? []);
    },
    incompleteUploads() {
      try {
        return readdirSync(join(directory, bucket, UPLOADS_DIR));
      } catch {
        return [];
      }
    },
    async stop() {
      client.destroy();
      await server.close();
      rmSync(directory, { recursive: true, force: true });
    },
  };
}
