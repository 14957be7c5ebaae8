import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import {
  CreateBucketCommand,
  GetObjectCommand,
  GetObjectTaggingCommand,
  ListMultipartUploadsCommand,
  ListObjectVersionsCommand,
  PutBucketVersioningCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { listKeys } from '../core/s3-client.ts';
import { freePort } from './ports.ts';

/**
 * moto's S3 server (Debian sid's python3-moto, built by `scripts/moto-server.sh`) as a child process on a
 * free loopback port: the S3 stand-in for what s3rver does not do: versioning and version ids,
 * conditional writes (`If-None-Match: *` answers 412), Object Lock (a locked version cannot be deleted),
 * AbortMultipartUpload, SSE-KMS parameters on multipart uploads. Its bucket is versioned with Object Lock
 * enabled, as production's is. State lives in the process and goes with it.
 */

const launcherScript = fileURLToPath(new URL('../scripts/moto-server.sh', import.meta.url));

/**
 * The folder of the `moto_server` launcher `scripts/moto-server.sh` builds (about 50 s and 500 MB once, as
 * root); with `build: false`, `undefined` when it has not been built.
 */
export function motoServerBinDir(options: { build: boolean }): string | undefined {
  const args = options.build ? [launcherScript] : [launcherScript, '--if-built'];
  const stdout = execFileSync('bash', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  return stdout.trim().split('\n').at(-1) || undefined;
}

/** One stored version of a key, newest first in {@link MotoServer.versions}. */
export interface ObjectVersion {
  readonly versionId: string;
  readonly isLatest: boolean;
  readonly size: number;
}

/** A running moto S3 server with one bucket. */
export interface MotoServer {
  readonly endpoint: string;
  readonly bucket: string;
  /** Environment a runner needs to reach this server (endpoint, region, credentials, path style). */
  readonly env: Record<string, string>;
  /** A client configured for this server (the SDK's default checksum settings, as production has). */
  readonly client: S3Client;
  /** Keys of every object (its current version) in the bucket under a prefix. */
  keys(prefix?: string): Promise<string[]>;
  /** An object's bytes: its current version, or the version named. */
  get(key: string, versionId?: string): Promise<Buffer>;
  /** Every version of exactly `key`, newest first. */
  versions(key: string): Promise<ObjectVersion[]>;
  /** An object's tags (its current version), by key. */
  tags(key: string): Promise<Record<string, string>>;
  /** The version ids of the delete markers of exactly `key`, newest first. */
  deleteMarkers(key: string): Promise<string[]>;
  /** Keys of multipart uploads started and neither completed nor aborted. */
  incompleteUploads(): Promise<string[]>;
  stop(): Promise<void>;
}

const REGION = 'us-east-1';
const CREDENTIALS = { accessKeyId: 'moto', secretAccessKey: 'moto' };

/** How long the server may take to answer its first request (it starts in about 0.4 s). */
const START_TIMEOUT_MS = 20_000;

/**
 * Starts moto's server with one versioned, Object-Lock-enabled bucket (default `backups`). The server
 * must have been built (`bash scripts/moto-server.sh`; the tests' global setup builds it).
 */
export async function startMoto(options: { bucket?: string } = {}): Promise<MotoServer> {
  const bucket = options.bucket ?? 'backups';
  const binDir = process.env.PGPROOF_MOTO_BIN_DIR ?? motoServerBinDir({ build: false });
  if (!binDir) {
    throw new Error("moto's S3 server is not built: run `bash scripts/moto-server.sh` once (as root)");
  }
  const port = await freePort();
  const endpoint = `http://127.0.0.1:${port}`;
  const child = spawn(`${binDir}/moto_server`, ['-H', '127.0.0.1', '-p', String(port)], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  // A test process that ends without stop() must not leave the server behind.
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);

  const client = new S3Client({ endpoint, region: REGION, forcePathStyle: true, credentials: CREDENTIALS });
  try {
    await waitUntilServing(endpoint, child, () => stderr);
    await client.send(new CreateBucketCommand({ Bucket: bucket, ObjectLockEnabledForBucket: true }));
    await client.send(
      new PutBucketVersioningCommand({ Bucket: bucket, VersioningConfiguration: { Status: 'Enabled' } }),
    );
  } catch (error) {
    child.kill('SIGKILL');
    await exited;
    process.removeListener('exit', killOnExit);
    client.destroy();
    throw error;
  }

  return {
    endpoint,
    bucket,
    client,
    env: {
      BACKUP_BUCKET: bucket,
      AWS_ENDPOINT_URL_S3: endpoint,
      AWS_REGION: REGION,
      AWS_ACCESS_KEY_ID: CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: CREDENTIALS.secretAccessKey,
      S3_FORCE_PATH_STYLE: 'true',
    },
    keys: (prefix = '') => listKeys(client, bucket, prefix),
    async get(key, versionId) {
      const response = await client.send(
        new GetObjectCommand({ Bucket: bucket, Key: key, ...(versionId ? { VersionId: versionId } : {}) }),
      );
      return Buffer.from((await response.Body?.transformToByteArray()) ?? []);
    },
    async versions(key) {
      const page = await client.send(new ListObjectVersionsCommand({ Bucket: bucket, Prefix: key }));
      return (page.Versions ?? [])
        .filter((v) => v.Key === key)
        .map((v) => ({ versionId: v.VersionId ?? '', isLatest: v.IsLatest === true, size: v.Size ?? 0 }));
    },
    async tags(key) {
      const { TagSet } = await client.send(new GetObjectTaggingCommand({ Bucket: bucket, Key: key }));
      return Object.fromEntries((TagSet ?? []).map((tag) => [tag.Key ?? '', tag.Value ?? '']));
    },
    async deleteMarkers(key) {
      const page = await client.send(new ListObjectVersionsCommand({ Bucket: bucket, Prefix: key }));
      return (page.DeleteMarkers ?? []).filter((m) => m.Key === key).map((m) => m.VersionId ?? '');
    },
    async incompleteUploads() {
      const page = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket }));
      return (page.Uploads ?? []).map((u) => u.Key ?? '');
    },
    async stop() {
      client.destroy();
      child.kill('SIGTERM');
      await exited;
      process.removeListener('exit', killOnExit);
    },
  };
}

/** Polls the server until it answers HTTP, failing with its own output if it exits first. */
async function waitUntilServing(endpoint: string, child: ChildProcess, output: () => string): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(
        `moto_server exited (${child.exitCode ?? child.signalCode}) before serving: ${output()}`,
      );
    }
    try {
      await fetch(`${endpoint}/`, { signal: AbortSignal.timeout(1000) });
      return;
    } catch {
      if (Date.now() > deadline) {
        throw new Error(
          `moto_server did not answer on ${endpoint} within ${START_TIMEOUT_MS} ms: ${output()}`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }
}
