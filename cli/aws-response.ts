import type { z } from 'zod';
import { PgproofError } from '../core/errors.ts';

/**
 * AWS answers are parsed, not cast: a stack output, a schedule's payload or a Lambda's result that is
 * not in the shape pgproof wrote (edited by hand, an older or newer deployment) fails here, in one
 * line naming what and where, instead of as an `undefined` further on.
 */

/** AWS answered, but not in the shape pgproof expects. */
export class UnexpectedResponseError extends PgproofError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'UnexpectedResponseError';
  }
}

/** Checks `value` against `schema`; the error names `what`, the first field that does not fit, and `fix`. */
export function parseResponse<T>(schema: z.ZodType<T>, value: unknown, what: string, fix: string): T {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const at = issue?.path.length ? ` at ${issue.path.join('.')}` : '';
  throw new UnexpectedResponseError(`${what} is not what pgproof expects${at}: ${issue?.message}; ${fix}`);
}

/** Parses JSON text, then checks it as {@link parseResponse} does. */
export function parseJsonResponse<T>(schema: z.ZodType<T>, text: string, what: string, fix: string): T {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    throw new UnexpectedResponseError(`${what} is not JSON; ${fix}`, { cause });
  }
  return parseResponse(schema, json, what, fix);
}
