import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A stand-in for the one KMS call the backup runner makes (DescribeKey), on loopback: the runner reaches
 * it through `AWS_ENDPOINT_URL_KMS` as the SDK reaches AWS. It answers with the state each key was given,
 * and records every request so tests can assert exactly what was asked.
 */

/** A request the stand-in received. */
export interface KmsRequest {
  /** `X-Amz-Target`, e.g. `TrentService.DescribeKey`. */
  readonly target: string;
  readonly body: unknown;
}

/** A running stand-in. */
export interface KmsServer {
  readonly requests: KmsRequest[];
  /** Environment for a runner: the endpoint (credentials and region come with the S3 stand-in's). */
  readonly env: Record<string, string>;
  /** Sets a key's state (`Enabled`, `Disabled`, `PendingDeletion`...). */
  setKeyState(keyId: string, state: string): void;
  stop(): Promise<void>;
}

async function readBody(request: IncomingMessage): Promise<string> {
  let text = '';
  for await (const chunk of request) text += chunk;
  return text;
}

/** Starts the stand-in on a free loopback port. */
export async function startKms(): Promise<KmsServer> {
  const states = new Map<string, string>();
  const requests: KmsRequest[] = [];
  const server = createServer(async (request, response) => {
    const target = String(request.headers['x-amz-target'] ?? '');
    const body: unknown = JSON.parse((await readBody(request)) || '{}');
    requests.push({ target, body });
    const keyId = (body as { KeyId?: unknown }).KeyId;
    const state = typeof keyId === 'string' ? states.get(keyId) : undefined;
    response.setHeader('content-type', 'application/x-amz-json-1.1');
    if (target !== 'TrentService.DescribeKey' || state === undefined) {
      response.statusCode = 400;
      response.end(
        JSON.stringify({ __type: 'NotFoundException', message: `Key '${String(keyId)}' does not exist` }),
      );
      return;
    }
    response.end(
      JSON.stringify({
        KeyMetadata: { KeyId: keyId, Arn: keyId, KeyState: state, Enabled: state === 'Enabled' },
      }),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    requests,
    env: { AWS_ENDPOINT_URL_KMS: `http://127.0.0.1:${port}` },
    setKeyState: (keyId, state) => {
      states.set(keyId, state);
    },
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
