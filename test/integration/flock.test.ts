/**
 * The store lock (src/kernel/flock.ts) against other processes and within one: a lock held
 * elsewhere is taken once it is released (waited for in the kernel, no polling), a lock held
 * past the deadline is CNI error 11 without hanging, and callers of one process take turns.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CniError } from '../../src/cni/errors.ts';
import { lockExclusive } from '../../src/kernel/flock.ts';

const dir = mkdtempSync(join(tmpdir(), 'manifold-flock-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Another process holding `lock` until it has written `marker` (after `seconds`). */
function holder(lock: string, marker: string, seconds: number): Promise<void> {
  return new Promise((ready, fail) => {
    const p = spawn('flock', ['-x', lock, 'sh', '-c', `echo held; sleep ${seconds}; : > ${marker}`], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    p.on('error', fail);
    p.stdout.once('data', () => ready());
  });
}

describe('lockExclusive', () => {
  it('takes a lock another process holds as soon as it lets go', async () => {
    const lock = join(dir, 'a.lock');
    const marker = join(dir, 'a.released');
    await holder(lock, marker, 0.3);
    const l = await lockExclusive(lock, 10_000);
    expect(existsSync(marker)).toBe(true);
    l.release();
  });

  it('gives up with code 11 when the lock stays held past the deadline', async () => {
    const lock = join(dir, 'b.lock');
    await holder(lock, '/dev/null', 1);
    const err = await lockExclusive(lock, 200).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CniError);
    expect(err).toMatchObject({ code: 11, message: expect.stringContaining('still held after 200 ms') });
  });

  it('lets callers of one process take turns on one lock file', async () => {
    const lock = join(dir, 'c.lock');
    const order: string[] = [];
    const one = async (name: string) => {
      const l = await lockExclusive(lock, 5_000);
      order.push(`${name} in`);
      await new Promise((r) => setTimeout(r, 20));
      order.push(`${name} out`);
      l.release();
    };
    await Promise.all([one('a'), one('b'), one('c')]);
    expect(order).toEqual(['a in', 'a out', 'b in', 'b out', 'c in', 'c out']);
  });
});
