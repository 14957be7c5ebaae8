import { describe, expect, it } from 'vitest';
import { DEFAULT_SCALE, parseOptions } from '../../bench/options.ts';

describe('bench options', () => {
  it('defaults to one ~1 GB pgbench scale, 3 rounds, every variant', () => {
    expect(parseOptions([])).toEqual({
      dataSet: 'pgbench',
      scales: [DEFAULT_SCALE],
      rounds: 3,
      variants: ['A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I'],
      streams: 2,
      reuse: false,
      profile: false,
      outDir: 'bench',
      runnerEnv: {},
      s3: 's3rver',
      clientBinDir: undefined,
      forceSegments: false,
    });
  });

  it('takes the eight-tables and many-tables data sets, and refuses another naming the three', () => {
    expect(parseOptions(['--data-set', 'many-tables', '--scale', '10'])).toMatchObject({
      dataSet: 'many-tables',
      scales: [10],
    });
    expect(parseOptions(['--data-set=eight-tables']).dataSet).toBe('eight-tables');
    expect(() => parseOptions(['--data-set', 'tpcc'])).toThrow(
      '--data-set takes pgbench, eight-tables, many-tables, got "tpcc"',
    );
  });

  it('forces the large-size regime: 1 MiB segment objects, sizes --runner-env may change', () => {
    expect(parseOptions(['--force-segments', '--runner-env', 'VERIFY=none'])).toMatchObject({
      forceSegments: true,
      runnerEnv: { UPLOAD_PART_MIB: '1', UPLOAD_SEGMENT_PARTS: '1', VERIFY: 'none' },
    });
    expect(
      parseOptions(['--force-segments', '--runner-env', 'UPLOAD_PART_MIB=5,UPLOAD_SEGMENT_PARTS=2'])
        .runnerEnv,
    ).toEqual({ UPLOAD_PART_MIB: '5', UPLOAD_SEGMENT_PARTS: '2' });
  });

  it('takes the client folder of every variant, and refuses the flag without one', () => {
    expect(parseOptions(['--client-bin-dir', '/usr/lib/postgresql/15/bin']).clientBinDir).toBe(
      '/usr/lib/postgresql/15/bin',
    );
    expect(() => parseOptions(['--client-bin-dir'])).toThrow(
      /^--client-bin-dir takes the folder of pg_dump and pg_restore\n/,
    );
  });

  it('takes two scales in one run, and flags with = or a separate value', () => {
    const options = parseOptions(['--scales', '5,55', '--rounds=4', '--reuse', '--variants', 'c,a,b']);
    expect(options.scales).toEqual([5, 55]);
    expect(options.rounds).toBe(4);
    expect(options.reuse).toBe(true);
    expect(options.variants).toEqual(['A', 'B', 'C']);
  });

  it('rejects every bad argument at once, naming each', () => {
    expect(() => parseOptions(['--scale', '0', '--rounds', 'x', '--bogus'])).toThrow(
      /--scale takes whole numbers of at least 1 \(e.g. --scale 5\), got "0"; --rounds takes whole numbers.*; unknown argument "--bogus"/,
    );
  });

  it('passes extra environment to the runners', () => {
    expect(parseOptions(['--runner-env', 'VERIFY=none,DUMP_GLOBALS=false']).runnerEnv).toEqual({
      VERIFY: 'none',
      DUMP_GLOBALS: 'false',
    });
    expect(() => parseOptions(['--runner-env', 'verify'])).toThrow(
      '--runner-env takes NAME=value pairs separated by commas, got "verify"',
    );
  });

  it('rejects restores with the sink that keeps no dump', () => {
    expect(() => parseOptions(['--s3', 'sink'])).toThrow(
      '--s3 sink keeps no dump to restore: add --variants A,B,C or A,B,C,F,G,H',
    );
    expect(parseOptions(['--s3', 'sink', '--variants', 'B,C,F,G']).s3).toBe('sink');
  });

  it('rejects restores without the backup they restore', () => {
    expect(() => parseOptions(['--variants', 'A,D,E'])).toThrow(
      '--variants D and E restore the backup C takes: include C',
    );
    expect(() => parseOptions(['--variants', 'C,I'])).toThrow(
      '--variants I restores the backup F takes: include F',
    );
    expect(parseOptions(['--variants', 'f,i,g,h']).variants).toEqual(['F', 'G', 'H', 'I']);
  });

  it('takes the streams of F and G, 2 to 16, and refuses DUMP_STREAMS as runner environment', () => {
    expect(parseOptions(['--streams', '4']).streams).toBe(4);
    expect(() => parseOptions(['--streams', '1'])).toThrow(
      "--streams takes 2 to 16 (F's pg_dump processes; C is the one-stream run), got 1",
    );
    expect(() => parseOptions(['--streams', '17'])).toThrow('--streams takes 2 to 16');
    expect(() => parseOptions(['--runner-env', 'DUMP_STREAMS=4'])).toThrow(
      '--runner-env sets no DUMP_STREAMS: C runs one stream, F --streams N',
    );
  });

  it('rejects several numbers after --scale, pointing at --scales', () => {
    expect(() => parseOptions(['--scale', '5,10'])).toThrow('use --scales N,M for several');
  });
});
