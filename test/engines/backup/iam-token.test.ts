import { afterEach, describe, expect, it, vi } from 'vitest';
import { rdsAuthTokenProvider } from '../../../engines/backup/iam-token.ts';

const LOGIN = {
  host: 'orders.cluster-abc123.eu-west-1.rds.amazonaws.com',
  port: 5432,
  user: 'pgproof_backup',
  region: 'eu-west-1',
};
const CREDENTIALS = { accessKeyId: 'AKIAEXAMPLEEXAMPLE', secretAccessKey: 'example-secret' };

/** A token is a presigned URL without its scheme: `host:port/?Action=connect&...`. */
const parse = (token: string) => new URL(`https://${token}`);

describe('IAM database tokens', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('signs a connect request for the host, port, user and region, valid 15 minutes', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(new Date('2026-11-21T02:00:00Z'));
    const token = await rdsAuthTokenProvider(LOGIN, { credentials: CREDENTIALS })();
    expect(token).toMatch(/^orders\.cluster-abc123\.eu-west-1\.rds\.amazonaws\.com:5432\/\?/);
    const url = parse(token);
    expect(url.host).toBe('orders.cluster-abc123.eu-west-1.rds.amazonaws.com:5432');
    expect(Object.fromEntries(url.searchParams)).toEqual({
      Action: 'connect',
      DBUser: 'pgproof_backup',
      'X-Amz-Algorithm': 'AWS4-HMAC-SHA256',
      'X-Amz-Credential': 'AKIAEXAMPLEEXAMPLE/20261121/eu-west-1/rds-db/aws4_request',
      'X-Amz-Date': '20261121T020000Z',
      'X-Amz-Expires': '900',
      'X-Amz-SignedHeaders': 'host',
      'X-Amz-Signature': expect.stringMatching(/^[0-9a-f]{64}$/),
    });
  });

  it('signs a new token at each call, never handing out an earlier one', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(new Date('2026-11-21T02:00:00Z'));
    const token = rdsAuthTokenProvider(LOGIN, { credentials: CREDENTIALS });
    const first = parse(await token());
    vi.setSystemTime(new Date('2026-11-21T02:20:00Z'));
    const later = parse(await token());
    expect(later.searchParams.get('X-Amz-Date')).toBe('20261121T022000Z');
    expect(later.searchParams.get('X-Amz-Signature')).not.toBe(first.searchParams.get('X-Amz-Signature'));
  });

  it('fails with the credentials problem and the fix when it cannot sign', async () => {
    const token = rdsAuthTokenProvider(LOGIN, {
      credentials: () => Promise.reject(new Error('Could not load credentials from any providers')),
    });
    await expect(token()).rejects.toThrow(
      'cannot sign an IAM database token for "pgproof_backup" at orders.cluster-abc123.eu-west-1.rds.amazonaws.com:5432 (Could not load credentials from any providers); give the task AWS credentials (its task role) or set PG_IAM_AUTH=false',
    );
  });
});
