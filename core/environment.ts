import { z } from 'zod';
import { ConfigError } from './errors.ts';
import { DATABASE_NAME_PATTERN, DATABASE_NAME_RULE, isKeyPrefix, KEY_PREFIX_RULE } from './layout.ts';

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

/**
 * A list of names: comma-separated (`a, b`), or, for names that hold a comma, a JSON list of strings
 * (`["a,b", "c"]`, when the value starts with `[`). Unset is empty.
 */
export const nameListVariable = (name: string) =>
  z
    .string()
    .optional()
    .transform((value, ctx): string[] => {
      const text = (value ?? '').trim();
      if (!text.startsWith('[')) return csvVariable.parse(text);
      let list: unknown;
      try {
        list = JSON.parse(text);
      } catch {
        list = undefined;
      }
      if (!Array.isArray(list) || !list.every((item) => typeof item === 'string' && item.trim())) {
        ctx.addIssue({
          code: 'custom',
          message: `${name} starts with "[" but is not a JSON list of names; write ["sales.orders", "public.a,b"] or a comma-separated list`,
        });
        return z.NEVER;
      }
      return list;
    });

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

/**
 * A variable holding JSON that `schema` validates. Not JSON: `notJson` is the issue. Not what the
 * schema takes: `invalid` turns the schema's error into the issue's message, or by default each of the
 * schema's issues is kept with its path under the variable's (`DRILL_DATABASES.orders.rtoMinutes`).
 */
export function jsonVariable<S extends z.ZodType>(
  schema: S,
  messages: { readonly notJson: string; readonly invalid?: (error: z.ZodError) => string },
) {
  return z.string().transform((text, ctx): z.infer<S> => {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      ctx.addIssue({ code: 'custom', message: messages.notJson });
      return z.NEVER;
    }
    const parsed = schema.safeParse(value);
    if (parsed.success) return parsed.data;
    if (messages.invalid) ctx.addIssue({ code: 'custom', message: messages.invalid(parsed.error) });
    else for (const issue of parsed.error.issues) ctx.addIssue({ ...issue, code: 'custom' });
    return z.NEVER;
  });
}

/** Where both runners' objects live: `BACKUP_BUCKET`, `BACKUP_PREFIX` and `BACKUP_NAME` (DESIGN.md). */
export const backupLocationVariables = {
  BACKUP_BUCKET: z.string({ error: 'BACKUP_BUCKET is required: set it to the backup bucket name' }).min(1),
  BACKUP_PREFIX: z
    .string()
    .optional()
    .transform((v) => v ?? '')
    .refine(isKeyPrefix, `BACKUP_PREFIX ${KEY_PREFIX_RULE}`),
  BACKUP_NAME: z.string().regex(DATABASE_NAME_PATTERN, `BACKUP_NAME ${DATABASE_NAME_RULE}`).optional(),
};

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
