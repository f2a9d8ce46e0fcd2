/**
 * flock(2) through the native addon: the lock the reference plugins take on
 * `<dataDir>/<network>/lock`, so manifold and them can share one store. A free lock is taken
 * at once, synchronously (LOCK_NB: what almost every call meets, at no extra cost). No
 * polling: a lock held by another process is waited for in the kernel, on a libuv worker
 * thread (a blocking flock that a timer interrupts at the deadline, which becomes CNI error
 * 11), so it is taken the moment it is released, and the event loop serves other calls
 * meanwhile. Callers in one process take turns per path in JavaScript first: two opens of
 * one file are two lock owners, a wait behind its own process's holder would last until the
 * deadline, and each waiter holds a worker thread (libuv has 4): one per lock file at most.
 */
import { closeSync, openSync } from 'node:fs';
import { resolve } from 'node:path';
import { CniError, Code, q } from '../cni/errors.ts';
import { flock, flockWaitAsync } from '../native/index.cjs';
import { kernelFailure } from './errors.ts';

const LOCK_EX = 2;
const LOCK_NB = 4;
const LOCK_UN = 8;

export interface FileLock {
  release(): void;
}

/** Per lock file, the turn of the last caller in this process. */
const turns = new Map<string, Promise<void>>();

/** Takes an exclusive lock on `path` (created 0600 if missing). */
export async function lockExclusive(path: string, timeoutMs = 60_000): Promise<FileLock> {
  const deadline = Date.now() + timeoutMs;
  const key = resolve(path);
  const before = turns.get(key) ?? Promise.resolve();
  let done = () => {};
  const mine = before.then(() => new Promise<void>((r) => (done = r)));
  turns.set(key, mine);
  const leave = () => {
    done();
    if (turns.get(key) === mine) turns.delete(key);
  };
  await before;
  let fd: number;
  try {
    fd = openSync(path, 'a', 0o600);
  } catch (err) {
    leave();
    throw kernelFailure(`open lock file ${q(path)}`, err);
  }
  try {
    if (
      !flock(fd, LOCK_EX | LOCK_NB) &&
      !(await flockWaitAsync(fd, LOCK_EX, Math.max(0, deadline - Date.now())))
    ) {
      throw new CniError(Code.TryAgainLater, `failed to lock ${q(path)}: still held after ${timeoutMs} ms`);
    }
  } catch (err) {
    closeSync(fd);
    leave();
    throw err instanceof CniError ? err : kernelFailure(`lock ${q(path)}`, err);
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
        leave();
      }
    },
  };
}
