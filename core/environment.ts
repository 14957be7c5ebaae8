import { z } from 'zod';
import { ConfigError } from './errors.ts';

/**
 * Reading a runner's environment: the zod pieces both runners use, and one parse that reports every
 * problem at once, each naming its variable.
 */

/** A comma-separated list (`a, b` → `['a', 'b']`); unset is empty. */
export const csvVariable = z
  .string()
  .optional()
  .transform((value) =>
    (value ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
  );

/** `true` or `false`; unset is `fallback`. */
export const flagVariable = (name: string, fallback: boolean) =>
  z
    .string()
    .optional()
    .transform((value, ctx) => {
      if (value === undefined || value === '') return fallback;
      if (value === 'true') return true;
      if (value === 'false') return false;
      ctx.addIssue({ code: 'custom', message: `${name} must be true or false, got "${value}"` });
      return z.NEVER;
    });

/** True for an IANA time zone name this runtime knows. */
export function isTimeZone(name: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: name });
    return true;
  } catch {
    return false;
  }
}

/**
 * Parses an environment with `schema`, empty variables counting as unset. Throws a {@link ConfigError}
 * `invalid environment: <problem>; <problem>...`, each problem naming its variable.
 */
export function parseEnvironment<S extends z.ZodType>(schema: S, env: NodeJS.ProcessEnv): z.infer<S> {
  const blanksRemoved = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== ''));
  const parsed = schema.safeParse(blanksRemoved);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((issue) => {
    const variable = String(issue.path[0]);
    return issue.message.includes(variable) ? issue.message : `${variable}: ${issue.message}`;
  });
  throw new ConfigError(`invalid environment: ${problems.join('; ')}`);
}
