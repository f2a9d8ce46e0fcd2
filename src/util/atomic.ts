/**
 * The one way manifold replaces a file: write a temp file in the same directory, then rename
 * it over the target, so a reader (a DEL, containerd watching a config dir, kubelet exec'ing
 * the plugin) sees the old file or the new one, never half of one. A crash before the rename
 * leaves the old file and a temp named `.<name>.<pid>.<random>.tmp`, which the owner of the
 * file removes later (`tempsOf`). `durable` adds an fsync before the rename, for records that
 * must survive a host crash, not only a killed process (the VF records).
 */
import {
  closeSync,
  fchmodSync,
  fsyncSync,
  openSync,
  readdirSync,
  renameSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { ensureDir } from './dirs.ts';
import { randomHex } from './random.ts';

export interface AtomicOptions {
  /** Mode of the new file (0600 unless said). */
  readonly mode?: number;
  /** Mode of the directories made for it (0700 unless said). */
  readonly dirMode?: number;
  /** fsync the file before it replaces the old one. */
  readonly durable?: boolean;
}

/** The temp-name prefix of writes to `file` (`.<name>.`); every temp also ends in `.tmp`. */
export function tempPrefix(file: string): string {
  return `.${basename(file)}.`;
}

/**
 * Replaces `file` with `data` (or with what `fill(tmp)` writes at the temp path, e.g. a copy
 * of an executable). The temp is removed when anything fails; the error is thrown as it came.
 */
export function writeFileAtomic(
  file: string,
  data: string | Uint8Array | ((tmp: string) => void),
  opts: AtomicOptions = {},
): void {
  const mode = opts.mode ?? 0o600;
  const dir = dirname(file);
  ensureDir(dir, opts.dirMode ?? 0o700);
  const tmp = join(dir, `${tempPrefix(file)}${process.pid}.${randomHex(4)}.tmp`);
  try {
    if (typeof data === 'function') data(tmp);
    const fd = openSync(tmp, typeof data === 'function' ? 'r+' : 'wx', mode);
    try {
      if (typeof data !== 'function') writeFileSync(fd, data); // loops until all is written
      fchmodSync(fd, mode); // exactly `mode`: not narrowed by the umask, not a copied file's
      if (opts.durable) fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, file);
  } catch (err) {
    try {
      unlinkSync(tmp);
    } catch {
      // nothing written
    }
    throw err;
  }
}

/**
 * Temp files that writes to `file` left behind (a killed process), as full paths. `prefix`
 * widens the match for temps of an older naming (`.<stem>.…tmp`).
 */
export function tempsOf(file: string, prefix = tempPrefix(file)): string[] {
  try {
    return readdirSync(dirname(file))
      .filter((n) => n.startsWith(prefix) && n.endsWith('.tmp'))
      .map((n) => join(dirname(file), n));
  } catch {
    return [];
  }
}
