import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { tempsOf, writeFileAtomic } from './atomic.ts';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'mf-atomic-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('writeFileAtomic', () => {
  it('creates the file and its directories, with exactly the mode asked (not narrowed by the umask)', () => {
    const file = join(dir, 'a', 'b', 'conf');
    writeFileAtomic(file, 'one', { mode: 0o666, dirMode: 0o755 });
    expect(readFileSync(file, 'utf8')).toBe('one');
    expect(statSync(file).mode & 0o777).toBe(0o666); // the usual umask 022 alone would give 0644
    expect(statSync(join(dir, 'a', 'b')).isDirectory()).toBe(true);
  });

  it('defaults to 0600 and replaces an existing file, leaving no temp', () => {
    const file = join(dir, 'cache');
    writeFileSync(file, 'old');
    writeFileAtomic(file, Buffer.from('new'), { durable: true });
    expect(readFileSync(file, 'utf8')).toBe('new');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readdirSync(dir)).toEqual(['cache']);
  });

  it('fills the temp with a callback (a copy) and gives it the mode asked, not the source’s', () => {
    const src = join(dir, 'src');
    writeFileSync(src, 'binary', { mode: 0o600 });
    const file = join(dir, 'bin');
    writeFileAtomic(file, (tmp) => writeFileSync(tmp, readFileSync(src)), { mode: 0o755 });
    expect(readFileSync(file, 'utf8')).toBe('binary');
    expect(statSync(file).mode & 0o777).toBe(0o755);
  });

  it('keeps the old file and removes its temp when the write fails', () => {
    const file = join(dir, 'cache');
    writeFileSync(file, 'old');
    expect(() =>
      writeFileAtomic(file, (tmp) => {
        writeFileSync(tmp, 'half');
        throw new Error('killed');
      }),
    ).toThrow('killed');
    expect(readFileSync(file, 'utf8')).toBe('old');
    expect(readdirSync(dir)).toEqual(['cache']);
  });
});

describe('tempsOf', () => {
  it("lists the temps of this file's writes only", () => {
    const file = join(dir, 'net-c1-eth0');
    writeFileSync(join(dir, '.net-c1-eth0.123.abcd1234.tmp'), '');
    writeFileSync(join(dir, '.net-c1-eth01.123.abcd1234.tmp'), ''); // another attachment
    writeFileSync(join(dir, '.net-c1-eth0.123.abcd1234'), ''); // not a temp
    expect(tempsOf(file)).toEqual([join(dir, '.net-c1-eth0.123.abcd1234.tmp')]);
    expect(tempsOf(join(dir, 'missing', 'x'))).toEqual([]);
  });
});
