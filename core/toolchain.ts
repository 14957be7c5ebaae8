import { z } from 'zod';
import toolchainJson from '../scripts/toolchain.json' with { type: 'json' };

/**
 * The toolchain production runs, from `scripts/toolchain.json`, the one place it is written: the
 * PostgreSQL client major the runner image installs (and the tests run), the server majors the version
 * matrix proves, the Node.js major of the image and the Lambda functions, and the runners' NODE_OPTIONS.
 */
const toolchainSchema = z.object({
  postgresClientMajor: z.number().int().min(10),
  postgresServerMajors: z.array(z.number().int().min(10)).min(1),
  nodeMajor: z.number().int().min(20),
  /** NODE_OPTIONS of the runners in the image (and in the benchmark, which measures what the image runs). */
  runnerNodeOptions: z.string(),
});

/** What production runs. */
export type Toolchain = z.infer<typeof toolchainSchema>;

/** The production toolchain. */
export const toolchain: Toolchain = toolchainSchema.parse(toolchainJson);
