import { describe, expect, it } from 'vitest';
import {
  BACKUP_PHASE_MESSAGES,
  logEntries,
  phasesFromLog,
  plannedDataStreams,
  roundBackupId,
} from '../../bench/runner-variants.ts';

const stdout = [
  'pgproof: a line that is not JSON',
  '{"level":"INFO","message":"backup started","timestamp":"2026-01-01T00:00:00.300Z"}',
  '{"_aws":{"Timestamp":1},"BackupBytes":5}',
  '{"level":"INFO","message":"snapshot exported","timestamp":"2026-01-01T00:00:00.500Z"}',
  '{"level":"INFO","message":"backup streams","timestamp":"2026-01-01T00:00:00.600Z","streams":3,"data":[{"tables":2,"bytes":300},{"tables":1,"bytes":200}]}',
  '{"level":"INFO","message":"backup succeeded","timestamp":"2026-01-01T00:00:04.000Z"}',
  '{"truncated',
].join('\n');

describe("the runners' logs", () => {
  it('times each phase from its message, seconds after the runner started', () => {
    const started = Date.parse('2026-01-01T00:00:00.000Z');
    expect(phasesFromLog(logEntries(stdout), started, BACKUP_PHASE_MESSAGES)).toEqual({
      'backup started': 0.3,
      'snapshot exported': 0.5,
      'backup streams': 0.6,
      'backup succeeded': 4,
    });
  });

  it("reads the data streams' plan from the 'backup streams' line, none without one", () => {
    expect(plannedDataStreams(logEntries(stdout))).toEqual([
      { tables: 2, bytes: 300 },
      { tables: 1, bytes: 200 },
    ]);
    expect(plannedDataStreams([])).toEqual([]);
  });

  it("gives C's and F's backups of one round different ids", () => {
    expect(roundBackupId(2, 'C')).toBe('20260101T000002Z');
    expect(roundBackupId(2, 'F')).toBe('20260101T010002Z');
  });
});
