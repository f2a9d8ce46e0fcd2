/**
 * Whether two files hold the same bytes, without loading either: sizes first, then both read
 * side by side in fixed 256 KiB chunks. install compares the ~110 MB executable with the copy
 * already in the bin dir on every start; reading both whole (or hashing a whole read) peaked
 * at ~175 MiB RSS and got the DaemonSet's container OOM-killed.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';

const CHUNK = 256 << 10;

function readFull(fd: number, buf: Buffer, position: number): number {
  let got = 0;
  while (got < buf.length) {
    const n = readSync(fd, buf, got, buf.length - got, position + got);
    if (n === 0) break;
    got += n;
  }
  return got;
}

/** True when both exist and hold the same bytes; false when they differ or one is missing. */
export function sameFile(a: string, b: string): boolean {
  let fa = -1;
  let fb = -1;
  try {
    fa = openSync(a, 'r');
    fb = openSync(b, 'r');
    const size = fstatSync(fa).size;
    if (fstatSync(fb).size !== size) return false;
    const ba = Buffer.allocUnsafe(CHUNK);
    const bb = Buffer.allocUnsafe(CHUNK);
    for (let pos = 0; pos < size; pos += CHUNK) {
      const na = readFull(fa, ba, pos);
      const nb = readFull(fb, bb, pos);
      if (na !== nb || ba.compare(bb, 0, nb, 0, na) !== 0) return false;
      if (na === 0) break;
    }
    return true;
  } catch {
    return false;
  } finally {
    if (fa >= 0) closeSync(fa);
    if (fb >= 0) closeSync(fb);
  }
}
