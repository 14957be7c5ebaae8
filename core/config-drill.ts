import { z } from 'zod';
import { cron, text, timeZone, wholeNumber } from './config-fields.ts';
import { MAX_SAMPLE_DAYS, RETRIEVAL_TIERS } from './drill.ts';
import { TIERS } from './retention-tiers.ts';

/**
 * The config's restore drill settings: a database's `drill` (its RTO, schedule, alarm, SQL checks and
 * scratch server image) and the deployment's `drill` (what holds for every database).
 */

/** When a database's `drill` names no schedule: Sundays at 05:00 in the drill's time zone. */
export const DEFAULT_DRILL_SCHEDULE = 'cron(0 5 ? * SUN *)';

/** When a sample in a database's `drill.samples` names no schedule: the 1st of each month at 06:00. */
export const DEFAULT_SAMPLE_SCHEDULE = 'cron(0 6 1 * ? *)';

/** At most this many sampled drills per database (each is a schedule of its own). */
export const MAX_SAMPLES = 10;

/** Days without a passed drill before a database's overdue alarm fires, when its `drill` says nothing. */
export const DEFAULT_MAX_DAYS_WITHOUT_SUCCESS = 7;

const sqlCheckSchema = z
  .object(
    {
      name: text('name the check as the drill report should, e.g. "orders have customers"'),
      sql: text(
        'write a query returning one row whose first column is true, e.g. "select count(*) > 0 from orders"',
      ),
    },
    { error: 'must be an object like { "name": "orders exist", "sql": "select count(*) > 0 from orders" }' },
  )
  .strict();

/** Where the PostgreSQL major goes in a database's `drill.postgresImage`. */
export const MAJOR_PLACEHOLDER = '{major}';

/**
 * The scratch server's image when a database names none: Docker's official PostgreSQL image on ECR
 * Public, pulled through the drill's ECR pull-through cache.
 */
export const DEFAULT_POSTGRES_IMAGE = `public.ecr.aws/docker/library/postgres:${MAJOR_PLACEHOLDER}`;

/** What a `drill.postgresImage` that works looks like, for messages. */
const POSTGRES_IMAGE_EXAMPLES = `e.g. "public.ecr.aws/docker/library/postgres:${MAJOR_PLACEHOLDER}" or "123456789012.dkr.ecr.eu-west-1.amazonaws.com/postgis:${MAJOR_PLACEHOLDER}-3.5"`;

/**
 * A scratch server image of one major, as a drill task pulls it: from ECR Public through the drill's
 * pull-through cache, or from a repository of the deployment's own ECR.
 */
export type ScratchImage =
  | {
      readonly registry: 'ecr-public';
      /** `<registry alias>/<repository>`, e.g. `docker/library/postgres`. */
      readonly repository: string;
      /** `:<tag>`, `@sha256:<digest>`, or empty for `latest`. */
      readonly reference: string;
    }
  | {
      readonly registry: 'ecr';
      readonly account: string;
      readonly region: string;
      readonly repository: string;
      readonly reference: string;
      /** The image as the task pulls it: `<account>.dkr.ecr.<region>.amazonaws.com/<repository><reference>`. */
      readonly uri: string;
    };

/** The major a template is checked with: any major gives the same answer. */
const SAMPLE_MAJOR = 16;

// Docker's reference grammar: lowercase path components, a tag or a digest.
const PATH = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*';
const REFERENCE = '(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}|@sha256:[a-f0-9]{64})?';
const ECR_PUBLIC_IMAGE = new RegExp(`^public\\.ecr\\.aws/(${PATH})(${REFERENCE})$`);
const ECR_IMAGE = new RegExp(
  `^(\\d{12})\\.dkr\\.ecr\\.([a-z]{2}(?:-gov)?-[a-z]+-\\d)\\.amazonaws\\.com(?:\\.cn)?/(${PATH})(${REFERENCE})$`,
);
const ANY_IMAGE = new RegExp(`^(?:[A-Za-z0-9.-]+(?::\\d+)?/)?${PATH}${REFERENCE}$`);

/**
 * The image `template` names for PostgreSQL `major` (each `{major}` replaced), or the problem with the
 * template, worded for the config (`<what is wrong>; <fix>`). Drill tasks have no internet route: they
 * reach only ECR, through the VPC's endpoints, so an image anywhere else could never be pulled.
 */
export function readScratchImage(
  template: string,
  major: number,
): ScratchImage | { readonly problem: string } {
  if (!template.includes(MAJOR_PLACEHOLDER)) {
    return {
      problem: `"${template}" has no ${MAJOR_PLACEHOLDER}; put ${MAJOR_PLACEHOLDER} where the PostgreSQL major goes (each major is drilled in a server of its own), ${POSTGRES_IMAGE_EXAMPLES}`,
    };
  }
  const image = template.replaceAll(MAJOR_PLACEHOLDER, String(major));
  const ecrPublic = ECR_PUBLIC_IMAGE.exec(image);
  if (ecrPublic) {
    const [, repository = '', reference = ''] = ecrPublic;
    if (!repository.includes('/')) {
      return {
        problem: `"${template}" names no registry alias; ECR Public images are public.ecr.aws/<alias>/<repository>, e.g. "public.ecr.aws/docker/library/postgres:${MAJOR_PLACEHOLDER}"`,
      };
    }
    return { registry: 'ecr-public', repository, reference };
  }
  const ecr = ECR_IMAGE.exec(image);
  if (ecr) {
    const [, account = '', region = '', repository = '', reference = ''] = ecr;
    return { registry: 'ecr', account, region, repository, reference, uri: image };
  }
  if (!ANY_IMAGE.test(image)) {
    return {
      problem: `"${template}" is not an image reference; write <registry>/<repository>:<tag> with ${MAJOR_PLACEHOLDER} in it, ${POSTGRES_IMAGE_EXAMPLES}`,
    };
  }
  return {
    problem: `"${template}" is neither on ECR Public nor in this deployment's ECR, and drill tasks reach only ECR (through the VPC's endpoints, no internet route); use the image's ECR Public name ("public.ecr.aws/...", pulled through pgproof's cache) or push it to this account's ECR in the primary region, ${POSTGRES_IMAGE_EXAMPLES}`,
  };
}

/**
 * The problem with an ECR image in another account or region than the deployment's (an interface
 * endpoint of ECR serves its own region only, and pgproof's endpoints admit only the account's own
 * requests), else undefined. Problems of the template itself are {@link readScratchImage}'s.
 */
export function scratchImageHomeProblem(
  template: string,
  account: string,
  region: string,
): string | undefined {
  const image = readScratchImage(template, SAMPLE_MAJOR);
  if ('problem' in image || image.registry !== 'ecr') return undefined;
  if (image.account === account && image.region === region) return undefined;
  const path = template.slice(template.indexOf('/') + 1);
  return `"${template}" is in the ECR of account ${image.account} in ${image.region}, and drill tasks pull only from this deployment's account ${account} in ${region} (the primary region) through the VPC's endpoints; push or replicate the image there, e.g. "${account}.dkr.ecr.${region}.amazonaws.com/${path}"`;
}

/** A database's `drill.postgresImage`: a `{major}` template of an image a drill task can pull. */
const postgresImageSchema = text(
  `name a PostgreSQL image with ${MAJOR_PLACEHOLDER} for the major, ${POSTGRES_IMAGE_EXAMPLES}`,
).superRefine((template, ctx) => {
  if (template === '') return; // text() said so
  const image = readScratchImage(template, SAMPLE_MAJOR);
  if ('problem' in image) ctx.addIssue({ code: 'custom', message: image.problem });
});

const SAMPLE_EXAMPLE = '{ "tier": "monthly", "withinDays": 365, "schedule": "cron(0 6 1 * ? *)" }';

/**
 * A drill of a random backup of one tier taken within a window, on its own schedule (in the drill's
 * time zone): proves that old backups, in colder storage, restore too.
 */
const sampleSchema = z
  .object(
    {
      tier: z.enum(TIERS, {
        error: `must be one of ${TIERS.join(', ')}; name the tier to sample, e.g. "monthly"`,
      }),
      withinDays: wholeNumber(
        1,
        MAX_SAMPLE_DAYS,
        'give the days back a sampled backup may have been taken, e.g. 365',
      ),
      schedule: cron(DEFAULT_SAMPLE_SCHEDULE).default(DEFAULT_SAMPLE_SCHEDULE),
    },
    { error: `must be an object like ${SAMPLE_EXAMPLE}` },
  )
  .strict();

/** A database's `drill.samples`: distinct tier and window pairs, each its own schedule. */
const samplesSchema = z
  .array(sampleSchema, { error: `must be a list like [${SAMPLE_EXAMPLE}]` })
  .max(MAX_SAMPLES, `must list at most ${MAX_SAMPLES} samples; drop some or widen their windows`)
  .superRefine((samples, ctx) => {
    samples.forEach((sample, index) => {
      const first = samples.findIndex((s) => s.tier === sample.tier && s.withinDays === sample.withinDays);
      if (first !== index) {
        ctx.addIssue({
          code: 'custom',
          path: [index],
          message: `samples ${sample.tier} backups within ${sample.withinDays} days as samples[${first}] does; give each sample its own tier or window (one sample can run on any schedule)`,
        });
      }
    });
  });

/**
 * How a database's backups are proven to restore: its RTO, the drill's schedule, alarm and SQL checks.
 * `timeZone` is left out here when unset: the database's own applies (see the database schema).
 */
export const drillSchema = z
  .object(
    {
      rtoMinutes: wholeNumber(
        1,
        10_080,
        'give the minutes a restore (download and pg_restore) may take, e.g. 60',
      ),
      schedule: cron(DEFAULT_DRILL_SCHEDULE).default(DEFAULT_DRILL_SCHEDULE),
      timeZone: timeZone().optional(),
      maxDaysWithoutSuccess: wholeNumber(
        1,
        7,
        'give the days without a passed drill before the alarm fires (a CloudWatch alarm looks back at most 7)',
      ).default(DEFAULT_MAX_DAYS_WITHOUT_SUCCESS),
      checks: z
        .array(sqlCheckSchema, {
          error: 'must be a list like [{ "name": "orders exist", "sql": "select count(*) > 0 from orders" }]',
        })
        .default([]),
      /**
       * The scratch server's image of each major (`{major}` in it), for a database whose backups need
       * what Docker's official image lacks (PostGIS, pgvector...). Unset: {@link DEFAULT_POSTGRES_IMAGE}.
       */
      postgresImage: postgresImageSchema.optional(),
      /**
       * Extra drills of a random backup of a tier within a window, each on its own schedule, e.g.
       * `[{ "tier": "monthly", "withinDays": 365 }]`. Unset: none, only the latest backup is drilled.
       */
      samples: samplesSchema.optional(),
      /**
       * How S3 retrieves this database's backups in Glacier Flexible Retrieval or Deep Archive before a
       * drill: `Standard` (Deep Archive: within 12 hours) or `Bulk` (within 48, cheaper). Unset: `Standard`.
       */
      retrievalTier: z
        .enum(RETRIEVAL_TIERS, {
          error: 'must be "Standard" or "Bulk"; Bulk is cheaper and takes up to 48 hours from Deep Archive',
        })
        .optional(),
    },
    { error: 'must be an object like { "rtoMinutes": 60 }; leave it out to drill only on demand' },
  )
  .strict();

/** Settings of the restore drill that hold for every database. */
export const deploymentDrillSchema = z
  .object(
    {
      postgresMajors: z
        .array(wholeNumber(10, 99, 'give PostgreSQL major versions, e.g. [15, 16, 17]'), {
          error: 'must be a list of PostgreSQL major versions, e.g. [15, 16, 17]',
        })
        .min(1, 'must list at least one PostgreSQL major version, e.g. [16]; leave it out for 13 to 18')
        .optional(),
    },
    { error: 'must be an object like { "postgresMajors": [16, 17] }' },
  )
  .strict();
