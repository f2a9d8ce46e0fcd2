/**
 * Creating a state directory and its missing parents without Node's recursive mkdir, which
 * spins forever where mkdir answers ENOENT for a parent that exists (/proc, some FUSE
 * filesystems). One mkdir per path component, so the work is bounded by the path's depth;
 * any error other than "already there" ends it.
 */
import { mkdirSync, statSync } from 'node:fs';
import { resolve, sep } from 'node:path';

/** Makes `dir` and its missing parents with `mode` (0700 by default); existing ones are left as they are. */
export function ensureDir(dir: string, mode = 0o700): void {
  // the usual case, one stat: it is there (every host-local ADD and cache write asks)
  if (statSync(dir, { throwIfNoEntry: false })?.isDirectory()) return;
  const parts = resolve(dir)
    .split(sep)
    .filter((p) => p !== '');
  let cur = '';
  for (const part of parts) {
    cur += `${sep}${part}`;
    try {
      mkdirSync(cur, { mode });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      if (!statSync(cur).isDirectory()) {
        throw Object.assign(new Error(`${cur} exists and is not a directory`), { code: 'ENOTDIR' });
      }
    }
  }
}
