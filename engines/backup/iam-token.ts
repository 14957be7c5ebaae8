import { Signer, type SignerConfig } from '@aws-sdk/rds-signer';
import { ConfigError } from '../../core/errors.ts';

/**
 * IAM database authentication: the password of every connection is a token signed with the task
 * role's credentials (a SigV4 presigned `connect` request, valid 15 minutes). The token is never
 * stored: each connection, the runner's own or a child program's, asks for a fresh one, so a long
 * dump never opens a later connection with a token that has expired meanwhile.
 */

/** Signs a fresh token for one connection. */
export type AuthTokenProvider = () => Promise<string>;

/** The login a token is signed for: RDS checks the host, port, user and region it names. */
export interface IamLogin {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly region: string;
}

/**
 * A provider of tokens for `login`, signed by `@aws-sdk/rds-signer`. `credentials` defaults to the
 * SDK's chain (in ECS, the task role); tests pass static ones.
 */
export function rdsAuthTokenProvider(
  login: IamLogin,
  options: { readonly credentials?: SignerConfig['credentials'] } = {},
): AuthTokenProvider {
  const signer = new Signer({
    hostname: login.host,
    port: login.port,
    username: login.user,
    region: login.region,
    ...(options.credentials ? { credentials: options.credentials } : {}),
  });
  return async () => {
    try {
      return await signer.getAuthToken();
    } catch (cause) {
      // The SDK's message names the credential source that failed; never the token (there is none).
      throw new ConfigError(
        `cannot sign an IAM database token for "${login.user}" at ${login.host}:${login.port} (${(cause as Error).message.split('\n')[0]}); give the task AWS credentials (its task role) or set PG_IAM_AUTH=false`,
        { cause },
      );
    }
  };
}
