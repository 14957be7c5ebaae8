import type { Context } from 'aws-lambda';
import { describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { ConfigError } from '../../core/errors.ts';
import { createLogger, createMetrics } from '../../core/observability.ts';
import { describeThrown, InvalidInputError, parseInput, pgproofHandler } from '../../functions/handler.ts';

const context = { functionName: 'pgproof-test', awsRequestId: 'req-1' } as Context;

describe('the shared Lambda handler wrapper', () => {
  it('gives the body the invocation, returns its result and resets the log keys', async () => {
    const logger = createLogger('test');
    const addContext = vi.spyOn(logger, 'addContext');
    const handler = pgproofHandler({ logger }, async (event, invocation) => {
      invocation.logger.appendKeys({ database: 'orders' });
      return { echoed: event, hasContext: invocation.context === context };
    });
    await expect(handler({ a: 1 }, context)).resolves.toEqual({ echoed: { a: 1 }, hasContext: true });
    expect(addContext).toHaveBeenCalledWith(context);
    // The next invocation's log lines carry none of this one's keys.
    const written: string[] = [];
    const write = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
      written.push(String(chunk));
      return true;
    });
    try {
      logger.info('next invocation');
    } finally {
      write.mockRestore();
    }
    const line = JSON.parse(written.join('').trim().split('\n').at(-1) ?? '{}');
    expect(line.message).toBe('next invocation');
    expect(line).not.toHaveProperty('database');
  });

  it('logs a failure once with its kind, publishes the metrics it stored, and rethrows it', async () => {
    const logger = createLogger('test');
    const metrics = createMetrics();
    const error = vi.spyOn(logger, 'error').mockImplementation(() => {});
    const publish = vi.spyOn(metrics, 'publishStoredMetrics').mockImplementation(() => metrics);
    const failure = new ConfigError('no such database "x"');
    const handler = pgproofHandler({ logger, metrics }, async (_event, invocation) => {
      invocation.metrics?.addMetric('Tried', 'Count', 1);
      throw failure;
    });
    await expect(handler({})).rejects.toBe(failure);
    expect(error).toHaveBeenCalledTimes(1);
    expect(error).toHaveBeenCalledWith('no such database "x"', { kind: 'ConfigError' });
    expect(publish).toHaveBeenCalledTimes(1);
  });

  it('describes anything thrown without casting it', () => {
    expect(describeThrown(new TypeError('bad'))).toEqual({ kind: 'TypeError', message: 'bad' });
    expect(describeThrown('just a string')).toEqual({ kind: 'string', message: 'just a string' });
  });

  it('rejects input naming every problem with its path, as a pgproof error', () => {
    const schema = z.object({ database: z.string(), at: z.object({ hour: z.number() }) });
    const parse = () => parseInput(schema, { at: { hour: 'x' } }, 'schedule payload');
    expect(parse).toThrow(InvalidInputError);
    expect(parse).toThrow(ConfigError);
    expect(parse).toThrow(
      'schedule payload rejected: database: Invalid input: expected string, received undefined; at.hour: Invalid input: expected number, received string',
    );
  });
});
