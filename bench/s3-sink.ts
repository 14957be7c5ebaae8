import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';

/**
 * A stand-in for S3 that keeps only what the backup runner reads back (sizes; bodies of small objects)
 * and throws the dump's bytes away: with it, C measures the runner without an S3 server's CPU and disk
 * on the same two cores (`npm run bench -- --s3 sink`). Backups only: it cannot serve a restore.
 * Same contract as s3-server.ts: writes its environment to the file named by the first argument,
 * prints `ready`, stops on SIGTERM.
 */

const [infoFile] = process.argv.slice(2);
if (!infoFile) throw new Error('usage: s3-sink.ts <info-file>');

/** Objects kept whole when at most this big (manifest, globals); bigger ones only by size. */
const KEEP_BYTES = 1024 * 1024;
const objects = new Map<string, { bytes: number; body?: Buffer }>();
const uploads = new Map<string, number>();

function reply(res: ServerResponse, status: number, body = '', headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/xml', ...headers });
  res.end(body);
}

async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://sink');
  const key = decodeURIComponent(url.pathname);
  let bytes = 0;
  const kept: Buffer[] = [];
  for await (const chunk of req) {
    bytes += (chunk as Buffer).length;
    if (bytes <= KEEP_BYTES) kept.push(chunk as Buffer);
  }
  const uploadId = url.searchParams.get('uploadId');
  if (req.method === 'POST' && url.searchParams.has('uploads')) {
    const id = randomUUID();
    uploads.set(id, 0);
    return reply(
      res,
      200,
      `<InitiateMultipartUploadResult><Key>${key}</Key><UploadId>${id}</UploadId></InitiateMultipartUploadResult>`,
    );
  }
  if (req.method === 'PUT' && uploadId) {
    uploads.set(uploadId, (uploads.get(uploadId) ?? 0) + bytes);
    return reply(res, 200, '', { etag: `"${randomUUID()}"` });
  }
  if (req.method === 'POST' && uploadId) {
    objects.set(key, { bytes: uploads.get(uploadId) ?? 0 });
    uploads.delete(uploadId);
    return reply(
      res,
      200,
      `<CompleteMultipartUploadResult><Key>${key}</Key><ETag>"sink"</ETag></CompleteMultipartUploadResult>`,
    );
  }
  if (req.method === 'DELETE' && uploadId) {
    uploads.delete(uploadId);
    return reply(res, 204);
  }
  if (req.method === 'PUT') {
    objects.set(key, { bytes, ...(bytes <= KEEP_BYTES ? { body: Buffer.concat(kept) } : {}) });
    return reply(res, 200, '', { etag: '"sink"' });
  }
  const object = objects.get(key);
  if (req.method === 'HEAD' || req.method === 'GET') {
    if (!object) return reply(res, 404, req.method === 'GET' ? '<Error><Code>NoSuchKey</Code></Error>' : '');
    const headers = { 'content-length': String(object.bytes), etag: '"sink"' };
    if (req.method === 'HEAD') {
      res.writeHead(200, headers);
      return void res.end();
    }
    if (!object.body)
      return reply(
        res,
        501,
        '<Error><Code>NotImplemented</Code><Message>the sink keeps no dump bytes</Message></Error>',
      );
    res.writeHead(200, { ...headers, 'content-type': 'application/octet-stream' });
    return void res.end(object.body);
  }
  reply(res, 501, `<Error><Code>NotImplemented</Code><Message>${req.method} ${req.url}</Message></Error>`);
}

const server = createServer((req, res) => {
  handle(req, res).catch((error: Error) =>
    reply(res, 500, `<Error><Code>InternalError</Code><Message>${error.message}</Message></Error>`),
  );
});
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('the sink has no port');
  const endpoint = `http://127.0.0.1:${address.port}`;
  const requestLog = `${infoFile}.requests.jsonl`;
  writeFileSync(requestLog, '');
  writeFileSync(
    infoFile,
    JSON.stringify({
      endpoint,
      bucket: 'bench-backups',
      requestLog,
      env: {
        BACKUP_BUCKET: 'bench-backups',
        AWS_ENDPOINT_URL_S3: endpoint,
        AWS_REGION: 'us-east-1',
        AWS_ACCESS_KEY_ID: 'SINK',
        AWS_SECRET_ACCESS_KEY: 'SINK',
        S3_FORCE_PATH_STYLE: 'true',
        AWS_REQUEST_CHECKSUM_CALCULATION: 'WHEN_REQUIRED',
        AWS_RESPONSE_CHECKSUM_VALIDATION: 'WHEN_REQUIRED',
      },
    }),
  );
  process.stdout.write('ready\n');
});
process.once('SIGTERM', () => {
  server.closeAllConnections();
  server.close(() => process.exit(0));
});
