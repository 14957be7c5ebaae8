import { readFile } from 'node:fs/promises';

/**
 * The S3 server's side of a variant: which requests it served and how long they took, from the
 * request log bench/s3-server.ts writes.
 */

/** One request as the S3 server logged it. */
export interface LoggedRequest {
  readonly method: string;
  readonly url: string;
  readonly startMs: number;
  readonly endMs: number;
}

/** The S3 operation a request is, from its method and query. */
export function s3OperationOf(method: string, url: string): string {
  const query = new URLSearchParams(url.includes('?') ? url.slice(url.indexOf('?') + 1) : '');
  if (method === 'POST' && query.has('uploads')) return 'CreateMultipartUpload';
  if (method === 'PUT' && query.has('partNumber')) return 'UploadPart';
  if (method === 'POST' && query.has('uploadId')) return 'CompleteMultipartUpload';
  if (method === 'DELETE' && query.has('uploadId')) return 'AbortMultipartUpload';
  if (
    method === 'GET' &&
    (query.has('list-type') || url.split('?')[0]?.split('/').filter(Boolean).length === 1)
  )
    return 'ListObjects';
  if (method === 'GET') return 'GetObject';
  if (method === 'HEAD') return 'HeadObject';
  if (method === 'PUT') return 'PutObject';
  return method;
}

/** Requests of one operation within a variant. */
export interface OperationTiming {
  readonly count: number;
  /** Time the server spent on them, summed (they may overlap), seconds. */
  readonly serverSeconds: number;
  /** From the first one's start to the last one's end, seconds after the variant started. */
  readonly firstStartSeconds: number;
  readonly lastEndSeconds: number;
}

/** Groups the requests that started within [fromMs, toMs] by operation. */
export function timeOperations(
  requests: readonly LoggedRequest[],
  fromMs: number,
  toMs: number,
): Record<string, OperationTiming> {
  const operations: Record<string, OperationTiming> = {};
  for (const r of requests) {
    if (r.startMs < fromMs || r.startMs > toMs) continue;
    const name = s3OperationOf(r.method, r.url);
    const o = operations[name];
    operations[name] = {
      count: (o?.count ?? 0) + 1,
      serverSeconds: (o?.serverSeconds ?? 0) + (r.endMs - r.startMs) / 1000,
      firstStartSeconds: Math.min(
        o?.firstStartSeconds ?? Number.POSITIVE_INFINITY,
        (r.startMs - fromMs) / 1000,
      ),
      lastEndSeconds: Math.max(o?.lastEndSeconds ?? 0, (r.endMs - fromMs) / 1000),
    };
  }
  return operations;
}

/** Reads the request log. */
export async function readRequestLog(path: string): Promise<LoggedRequest[]> {
  const text = await readFile(path, 'utf8');
  return text
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as LoggedRequest);
}
