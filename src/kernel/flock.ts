/**
 * flock(2) through the native addon: the lock the reference plugins take on
 * `<dataDir>/<network>/lock`, so manifold and them can share one store. Taken without
 * blocking the event loop forever: polled, with a deadline that becomes CNI error 11.
 */
import { closeSync, openSync } from 'node:fs';
import { CniError, Code } from '../cni/errors.ts';
import { flock } from '../native/index.cjs';
import { kernelFailure } from './errors.ts';

const LOCK_EX = 2;
const LOCK_NB = 4;
const LOCK_UN = 8;

export interface FileLock {
  release(): void;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Takes an exclusive lock on `path` (created 0600 if missing). */
export async function lockExclusive(path: string, timeoutMs = 60_000): Promise<FileLock> {
  let fd: number;
  try {
    fd = openSync(path, 'a', 0o600);
  } catch (err) {
    throw kernelFailure(`open lock file ${JSON.stringify(path)}`, err);
  }
  const deadline = Date.now() + timeoutMs;
  let wait = 1;
  try {
    while (!flock(fd, LOCK_EX | LOCK_NB)) {
      if (Date.now() >= deadline) {
        throw new CniError(
          Code.TryAgainLater,
          `failed to lock ${JSON.stringify(path)}: still held after ${timeoutMs} ms`,
        );
      }
      await sleep(wait);
      wait = Math.min(wait * 2, 50);
    }
  } catch (err) {
    closeSync(fd);
    throw err instanceof CniError ? err : kernelFailure(`lock ${JSON.stringify(path)}`, err);
  }
  let held = true;
  return {
    release() {
      if (!held) return;
      held = false;
      try {
        flock(fd, LOCK_UN);
      } finally {
        closeSync(fd);
      }
    },
  };
}
