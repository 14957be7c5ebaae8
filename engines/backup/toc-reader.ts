import { spawn } from 'node:child_process';
import { Transform, type TransformCallback } from 'node:stream';
import { parseTocListing, type TocEntry } from '../../core/archive-toc.ts';
import { DumpFailedError } from './pg-tools.ts';

/**
 * Learns the archive's table of contents while it streams past. A custom-format archive starts with
 * its TOC; `pg_restore --list` reads that and exits, so the runner copies the stream's first bytes
 * into it until it does. The entries arrive while pg_dump is still dumping data, early enough to
 * count rows in the same snapshot in parallel.
 */
export class TocReader {
  /** Resolves with the entries once pg_restore has read the TOC. */
  readonly entries: Promise<TocEntry[]>;
  private readonly child;
  private open = true;

  constructor(pgRestore: string) {
    this.child = spawn(pgRestore, ['--list'], { stdio: ['pipe', 'pipe', 'pipe'] });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    this.child.stdout.on('data', (c: Buffer) => stdout.push(c));
    this.child.stderr.on('data', (c: Buffer) => stderr.push(c));
    // pg_restore closing its stdin early is the expected end, not an error.
    this.child.stdin.on('error', () => {
      this.open = false;
    });
    this.entries = new Promise((resolve, reject) => {
      this.child.on('error', (cause) =>
        reject(new DumpFailedError(`cannot start ${pgRestore}: ${cause.message}; set PG_BIN_DIR`, { cause })),
      );
      this.child.on('close', (code) => {
        this.open = false;
        if (code === 0) return resolve(parseTocListing(Buffer.concat(stdout).toString('utf8')));
        const why = Buffer.concat(stderr).toString('utf8').trim().split('\n').at(-1);
        reject(new DumpFailedError(`pg_restore --list could not read the archive pg_dump wrote: ${why}`));
      });
    });
    this.entries.catch(() => {});
  }

  /** A pass-through stream that feeds the TOC reader as data flows. */
  tap(): Transform {
    return new Transform({
      transform: (chunk: Buffer, _encoding, callback: TransformCallback) => {
        if (!this.open) return callback(null, chunk);
        // Wait for pg_restore to take the bytes: it stops reading (and exits) right after the TOC.
        if (this.child.stdin.write(chunk)) return callback(null, chunk);
        const resume = () => {
          this.child.stdin.off('drain', resume);
          this.child.off('close', resume);
          callback(null, chunk);
        };
        this.child.stdin.once('drain', resume);
        this.child.once('close', resume);
      },
      flush: (callback: TransformCallback) => {
        if (this.open) this.child.stdin.end();
        callback();
      },
    });
  }

  /** Stops pg_restore (the backup is being abandoned). */
  stop(): void {
    this.open = false;
    this.child.kill('SIGTERM');
  }
}
