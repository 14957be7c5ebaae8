/**
 * The CLI's exit codes, documented in the README and `pgproof --help`:
 * 0 success; 1 it could not run (bad flags, no credentials, AWS or PostgreSQL unreachable);
 * 2 it ran and the answer is no (backup failed, drill failed, backup did not verify).
 */
export const EXIT = { ok: 0, error: 1, failed: 2 } as const;

/** One of {@link EXIT}. */
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];
