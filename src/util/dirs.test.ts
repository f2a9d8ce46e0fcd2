import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ensureDir } from './dirs.ts';

const work = mkdtempSync(join(tmpdir(), 'manifold-dirs-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('ensureDir', () => {
  it('makes missing parents with the mode, and leaves existing ones', () => {
    const d = join(work, 'a', 'b', 'c');
    ensureDir(d);
    expect(statSync(d).mode & 0o777).toBe(0o700);
    expect(statSync(join(work, 'a')).mode & 0o777).toBe(0o700);
    ensureDir(d);
  });

  it('refuses a path through a file', () => {
    writeFileSync(join(work, 'f'), '');
    expect(() => ensureDir(join(work, 'f', 'x'))).toThrow(/ENOTDIR|not a directory/);
  });

  it("ends (with an error) under /proc, where Node's recursive mkdir spins forever", () => {
    expect(() => ensureDir('/proc/nonexistent/a/b')).toThrow();
    expect(() => ensureDir('/proc/self/x')).toThrow();
  });
});
