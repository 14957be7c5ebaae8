import { z } from 'zod';
import { isTimeZone } from './environment.ts';

/**
 * The field schemas the deployment config is built from. zod's own messages ("expected string,
 * received undefined") say neither where nor what to do, so every field carries its own fix: each
 * problem then reads `<json path>: <what is wrong>; <fix>`.
 */

/** "is missing" when the field is absent, else "must be a <kind>"; both end in the fix. */
const wrongType =
  (kind: string, fix: string) =>
  (issue: { readonly input?: unknown }): string =>
    issue.input === undefined ? `is missing; ${fix}` : `must be a ${kind}; ${fix}`;

/** A string setting; `fix` tells the user what to put there. */
export const text = (fix: string) =>
  z.string({ error: wrongType('string', fix) }).min(1, `must not be empty; ${fix}`);

/** An integer setting from `min` to `max`. */
export const wholeNumber = (min: number, max: number, fix: string) =>
  z
    .number({ error: wrongType('number', fix) })
    .int(`must be a whole number; ${fix}`)
    .min(min, `must be at least ${min}; ${fix}`)
    .max(max, `must be at most ${max}; ${fix}`);

/** A true/false setting. */
export const flag = (fix: string) => z.boolean({ error: `must be true or false; ${fix}` });

/** A list of non-empty strings (pg_dump patterns). */
export const list = (fix: string) =>
  z.array(z.string({ error: `must be a string; ${fix}` }).min(1, `must not be empty; ${fix}`), {
    error: `must be a list of strings; ${fix}`,
  });

/** The ARN of a KMS key or a Secrets Manager secret; `example` shows one. */
export const arnOf = (service: 'KMS key' | 'Secrets Manager secret', example: string) =>
  text(`set it to the ARN of the ${service}, e.g. "${example}"`).regex(
    new RegExp(`^arn:aws[a-z-]*:${service === 'KMS key' ? 'kms' : 'secretsmanager'}:`),
    `is not a ${service} ARN; use one like "${example}"`,
  );

/**
 * The id of an EC2 resource (`vpc-`, `subnet-`, `rtb-`, `sg-` and 8 to 17 hex digits); `give` asks
 * for it, `what` names its kind in the error.
 */
export const resourceId = (prefix: string, what: string, give: string) => {
  const example = `${prefix}-0123456789abcdef0`;
  return text(`${give}, e.g. "${example}"`).regex(
    new RegExp(`^${prefix}-[0-9a-f]{8,17}$`),
    `is not a ${what} id; use one like "${example}"`,
  );
};

/** An AWS region name such as `eu-west-1`. */
export const region = (fix: string) =>
  text(fix).regex(/^[a-z]{2}(-gov)?-[a-z]+-\d$/, `is not an AWS region; ${fix}`);

/**
 * EventBridge Scheduler cron: `cron(minutes hours day-of-month month day-of-week year)`, with `?` in
 * exactly one of the two day fields. Checked here because the service rejects it only at deploy time.
 */
function cronProblem(expression: string, example: string): string | undefined {
  const fix = `write cron(minutes hours day-of-month month day-of-week year), e.g. "${example}"`;
  const fields = /^cron\((.*)\)$/.exec(expression)?.[1]?.trim().split(/\s+/);
  if (fields?.length !== 6) return `"${expression}" is not an EventBridge Scheduler cron expression; ${fix}`;
  const [, , dayOfMonth, , dayOfWeek] = fields;
  if ((dayOfMonth === '?') === (dayOfWeek === '?')) {
    return `"${expression}" must have "?" in exactly one of day-of-month and day-of-week; e.g. "${example}"`;
  }
  return undefined;
}

/** An EventBridge Scheduler cron setting; `example` shows the user one that works. */
export const cron = (example: string) =>
  text(`write a cron expression, e.g. "${example}"`).superRefine((value, ctx) => {
    const problem = cronProblem(value, example);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  });

/** An IANA time zone name. */
export const timeZone = () =>
  text('use an IANA time zone, e.g. "Europe/Berlin" or "UTC"').refine(isTimeZone, {
    error: (issue) =>
      `"${String(issue.input)}" is not an IANA time zone; use a name like "Europe/Berlin" or "UTC"`,
  });
