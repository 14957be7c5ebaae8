import { describe, expect, it } from 'vitest';
import { parseTocListing, tableDataOids } from '../../core/archive-toc.ts';

const LISTING = `;
; Archive created at 2026-11-21 20:30:59 UTC
;     dbname: x
;
6; 2615 16385 SCHEMA - my schema postgres
215; 1259 16386 TABLE my schema odd name postgres
3209; 0 0 TABLE ATTACH public p1 postgres
3352; 0 16386 TABLE DATA my schema odd name postgres
3353; 0 16389 TABLE DATA public t2 postgres
3360; 0 0 SEQUENCE SET public t2_id_seq postgres
`;

describe('archive table of contents', () => {
  it('parses entries and skips comments', () => {
    const entries = parseTocListing(LISTING);
    expect(entries).toHaveLength(6);
    expect(entries[1]).toEqual({
      dumpId: 215,
      tableOid: 1259,
      oid: 16386,
      description: 'TABLE my schema odd name postgres',
    });
  });

  it('finds the OIDs of tables whose data the archive holds, names with spaces included', () => {
    expect(tableDataOids(parseTocListing(LISTING))).toEqual([16386, 16389]);
  });
});
