import { mkdir } from 'node:fs/promises';
import { pgDumpToFile, pgDumpToFolder, pgproofCompressionArg, plainRestore } from './bare-variants.ts';
import type { BenchContext, VariantRun } from './measured-run.ts';
import type { VariantId } from './options.ts';
import { backupRunner, restoreRunner } from './runner-variants.ts';

/**
 * The variants, each one measured run (measured-run.ts): the bare tools (bare-variants.ts) and the
 * pgproof runners (runner-variants.ts).
 */

/** What each variant is, for the report. */
export const VARIANT_LABELS: Record<VariantId, string> = {
  A: 'pg_dump -Fc, default compression (gzip 6), to a local file',
  B: "pg_dump -Fc with pgproof's compression, to a local file",
  C: 'pgproof backup runner in one stream (DUMP_STREAMS=1), end to end into the S3 server',
  D: "pgproof restore runner of C's backup: download, SHA-256, pg_restore -j, ANALYZE, verify",
  E: "pg_restore -j of C's archive from a local file",
  F: 'pgproof backup runner in parallel mode (DUMP_STREAMS=N), end to end into the S3 server',
  G: "pg_dump -Fd -j N with pgproof's compression, to a local folder",
  H: "pg_dump -Fd -j 1 with pgproof's compression, to a local folder",
  I: "pgproof restore runner of F's backup (all its streams)",
};

/** A label with N, `--streams`, filled in. */
export function variantLabel(id: VariantId, streams: number): string {
  return VARIANT_LABELS[id].replace(/\bN\b/, String(streams));
}

/** Runs one variant once (round numbers start at 1; D and E use the backup C took that round, I F's). */
export async function runVariant(context: BenchContext, id: VariantId, round: number): Promise<VariantRun> {
  await mkdir(context.workDir, { recursive: true });
  switch (id) {
    case 'A':
      return pgDumpToFile(context, 'A', []);
    case 'B':
      return pgDumpToFile(context, 'B', [await pgproofCompressionArg(context)]);
    case 'C':
    case 'F':
      return backupRunner(context, round, id);
    case 'D':
    case 'I':
      return restoreRunner(context, round, id);
    case 'E':
      return plainRestore(context, round);
    case 'G':
      return pgDumpToFolder(context, 'G', context.streams);
    case 'H':
      return pgDumpToFolder(context, 'H', 1);
  }
}
