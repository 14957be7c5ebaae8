import type { Logger } from '@aws-lambda-powertools/logger';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import type { Context } from 'aws-lambda';
import type { z } from 'zod';
import { ConfigError } from '../core/errors.ts';

/**
 * What every pgproof Lambda does around its work, in one place: the invocation's context on every log
 * line, its metrics flushed, a failure logged once (as an error of its kind) and rethrown so the
 * invocation counts as failed, and the log keys reset for the next invocation.
 */

/** What a handler's body is given. */
export interface Invocation {
  readonly logger: Logger;
  /** Present when the function publishes metrics. */
  readonly metrics: Metrics | undefined;
  readonly context: Context | undefined;
}

/** The name and message of anything thrown, without casting it. */
export function describeThrown(error: unknown): { kind: string; message: string } {
  return error instanceof Error
    ? { kind: error.name, message: error.message }
    : { kind: typeof error, message: String(error) };
}

/** Wraps a handler body: `(event, invocation) => result`, as Lambda's `(event, context) => result`. */
export function pgproofHandler<R>(
  tools: { readonly logger: Logger; readonly metrics?: Metrics },
  body: (event: unknown, invocation: Invocation) => Promise<R>,
): (event: unknown, context?: Context) => Promise<R> {
  const { logger, metrics } = tools;
  return async (event, context) => {
    if (context) logger.addContext(context);
    try {
      return await body(event, { logger, metrics, context });
    } catch (error) {
      const { kind, message } = describeThrown(error);
      logger.error(message, { kind });
      throw error;
    } finally {
      if (metrics?.hasStoredMetrics()) metrics.publishStoredMetrics();
      logger.resetKeys();
    }
  };
}

/** A function's input or environment is not what pgproof sends or sets; the message lists every problem. */
export class InvalidInputError extends ConfigError {
  constructor(what: string, error: z.ZodError) {
    super(
      `${what} rejected: ${error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`,
    );
    this.name = 'InvalidInputError';
  }
}

/** Parses `value` with `schema`, or throws an {@link InvalidInputError} naming `what`. */
export function parseInput<S extends z.ZodType>(schema: S, value: unknown, what: string): z.infer<S> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new InvalidInputError(what, parsed.error);
  return parsed.data;
}
