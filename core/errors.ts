/**
 * Errors a person reads. Every message is one line that says what failed and what to do; the
 * runners and the CLI print `message` and exit, so the text is the user interface.
 */

/** Base of the errors pgproof raises on purpose (as opposed to bugs). */
export class PgproofError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'PgproofError';
  }
}

/** The settings (environment, flags, config) are invalid. */
export class ConfigError extends PgproofError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'ConfigError';
  }
}

/** A PostgreSQL server could not be used (login, missing database, lost connection, version). */
export class DatabaseError extends PgproofError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'DatabaseError';
  }
}

/** S3 could not be reached or refused a request. */
export class StorageError extends PgproofError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'StorageError';
  }
}

/** The run was stopped by a signal (ECS sends SIGTERM when it stops a task). */
export class InterruptedError extends PgproofError {
  constructor(signal: string) {
    super(`stopped by ${signal} before it finished; nothing was kept, run it again`);
    this.name = 'InterruptedError';
  }
}

interface PgErrorShape {
  code?: string;
  message?: string;
  errno?: number;
  address?: string;
  port?: number;
}

/** Where a server is, for messages. */
export interface ServerAddress {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly database: string;
  /**
   * How the person named this server, for the fix a message gives, e.g. `--to`.
   * @default - libpq's variables (PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE), as the runners take them
   */
  readonly namedBy?: string;
}

/** Server shutdown or crash (57P0x) and dropped sockets: the connection is gone. */
const LOST_CONNECTION_CODES = new Set(['57P01', '57P02', '57P03', 'ECONNRESET', 'EPIPE']);

/**
 * Turns an error of node-postgres (or of the socket under it) into a {@link DatabaseError} whose
 * one-line message names the server and the fix. `during` says what was under way.
 */
export function describePgError(error: unknown, server: ServerAddress, during: string): PgproofError {
  if (error instanceof PgproofError) return error;
  const e = (error ?? {}) as PgErrorShape;
  const where = `${server.host}:${server.port}`;
  const detail = e.message ?? String(error);
  switch (e.code) {
    case '28P01':
    case '28000':
      return new DatabaseError(
        `cannot log in to PostgreSQL at ${where} as "${server.user}": ${detail}; ${server.namedBy ? `check the user in ${server.namedBy} and the password (PGPASSWORD or ~/.pgpass)` : "check the user and password (PGUSER/PGPASSWORD, or the database's secret)"}`,
        { cause: error },
      );
    case '3D000':
      return new DatabaseError(
        `database "${server.database}" does not exist on ${where}; ${server.namedBy ? `check the database in ${server.namedBy}` : "check PGDATABASE (the config's database name)"}`,
        { cause: error },
      );
    case 'ECONNREFUSED':
    case 'ENOTFOUND':
    case 'EHOSTUNREACH':
    case 'ETIMEDOUT':
      return new DatabaseError(
        `cannot reach PostgreSQL at ${where} (${e.code}); ${server.namedBy ? `check the host and port in ${server.namedBy} and that this machine can reach them` : 'check PGHOST/PGPORT and that the network and security groups let this task in'}`,
        { cause: error },
      );
    default:
      if (/does not support SSL/i.test(detail)) {
        return new DatabaseError(
          `PostgreSQL at ${where} does not offer TLS, and pgproof verifies TLS by default; ${server.namedBy ? `add ?sslmode=disable to ${server.namedBy}` : 'set PGSSLMODE=disable'} to connect without it, on a network you trust`,
          { cause: error },
        );
      }
      if (
        LOST_CONNECTION_CODES.has(e.code ?? '') ||
        /Connection terminated|connection.*(closed|ended)/i.test(detail)
      ) {
        return new DatabaseError(
          `lost the connection to PostgreSQL at ${where} while ${during} (${detail}); nothing was kept: check the server's log and run it again`,
          { cause: error },
        );
      }
      return new DatabaseError(`PostgreSQL at ${where} failed while ${during}: ${detail}`, { cause: error });
  }
}

interface AwsErrorShape {
  name?: string;
  code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
}

/**
 * Turns an AWS SDK (or socket) error of an S3 request into a {@link StorageError} naming the
 * operation, the object and the fix.
 */
export function describeS3Error(
  error: unknown,
  operation: string,
  bucket: string,
  key?: string,
): PgproofError {
  if (error instanceof PgproofError) return error;
  const e = (error ?? {}) as AwsErrorShape;
  const target = key === undefined ? `s3://${bucket}` : `s3://${bucket}/${key}`;
  const code = e.name ?? e.code ?? 'Error';
  const status = e.$metadata?.httpStatusCode;
  if (code === 'NoSuchBucket') {
    return new StorageError(`bucket "${bucket}" does not exist; check the bucket name`, { cause: error });
  }
  if (code === 'AccessDenied' || status === 403) {
    return new StorageError(
      `S3 refused ${operation} on ${target} (${code}); check the role's permissions and the bucket's key policy`,
      { cause: error },
    );
  }
  if (
    /ECONNREFUSED|ENOTFOUND|EHOSTUNREACH|ETIMEDOUT|ECONNRESET|EPIPE|socket hang up/i.test(
      `${e.code} ${e.message}`,
    )
  ) {
    return new StorageError(
      `cannot reach S3 for ${operation} on ${target} (${e.code ?? e.message}); check the network route to S3 (the VPC's S3 endpoint) or AWS_ENDPOINT_URL_S3`,
      { cause: error },
    );
  }
  if (/credential/i.test(`${code} ${e.message}`)) {
    return new StorageError(
      `no AWS credentials for ${operation} on ${target} (${e.message}); configure credentials (role, AWS_PROFILE or AWS_ACCESS_KEY_ID)`,
      { cause: error },
    );
  }
  return new StorageError(
    `S3 ${operation} on ${target} failed (${code}${status ? ` ${status}` : ''}: ${e.message ?? 'no detail'}); try again, and check the bucket if it persists`,
    { cause: error },
  );
}

/** The one-line message of any error, for the last line a runner prints. */
export function oneLine(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.replace(/\s*\n\s*/g, ' | ').trim();
}
