/**
 * The single executable's native addons. An addon is extracted
 * to `$MANIFOLD_NATIVE_DIR/<hash>/<name>`, falling back to `$TMPDIR/manifold-native-<uid>/`;
 * whichever directory it is, manifold must never load a file it did not write or cannot
 * verify (owner, mode, its bytes against the executable's own copy), and must never hang on a
 * directory it cannot make. The planted library is real code: its constructor writes a
 * marker file, so "loaded" means "ran as root".
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { execCni } from '../helpers/exec-plugin.ts';
import { requireRoot, uniq } from '../helpers/host.ts';

requireRoot();
const DIST = fileURLToPath(new URL('../../dist/', import.meta.url));
const HOST_LOCAL = join(DIST, 'bin/host-local');
if (!existsSync(HOST_LOCAL)) throw new Error(`${HOST_LOCAL} is missing: run ./build.sh first`);
/** host-local takes flock(2) through manifold's own addon: that is the one a call loads. */
const ADDON = 'manifold_native.node';
const manifest = JSON.parse(readFileSync(join(DIST, 'sea/manifest.json'), 'utf8')) as {
  natives: Record<string, string>;
};
const HASH = manifest.natives[ADDON] as string;
const GOOD = readFileSync(join(DIST, 'ncc', ADDON));
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
/** `b` with its last byte changed: the same size, not the same file. */
const oneByteChanged = (b: Buffer) => {
  const c = Buffer.from(b);
  c[c.length - 1] = (c[c.length - 1] ?? 0) ^ 0xff;
  return c;
};

let work: string;
let planted: string;
beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'manifold-e2e-native-'));
  chmodSync(work, 0o755);
  const src = join(work, 'planted.c');
  writeFileSync(
    src,
    '#include <stdio.h>\n#include <stdlib.h>\n__attribute__((constructor)) static void planted(void) {\n' +
      '  const char *m = getenv("PLANT_MARK"); FILE *f = m ? fopen(m, "w") : 0; if (f) { fputs("ran", f); fclose(f); }\n}\n',
  );
  planted = join(work, 'planted.so');
  execFileSync('gcc', ['-shared', '-fPIC', '-o', planted, src]);
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

let t: { tmp: string; primary: string; mark: string; dataDir: string };
beforeEach(() => {
  const base = join(work, uniq('case'));
  mkdirSync(base);
  t = {
    tmp: join(base, 'tmp'),
    primary: join(base, 'native'),
    mark: join(base, 'MARK'),
    dataDir: join(base, 'ipam'),
  };
  mkdirSync(t.tmp, { mode: 0o1777 });
  chmodSync(t.tmp, 0o1777);
});

/** One host-local ADD (it loads the addon) with the given native dir. */
function run(nativeDir: string, timeoutMs = 20_000) {
  return execCni(
    HOST_LOCAL,
    {
      command: 'ADD',
      containerId: 'native1',
      netns: '/proc/self/ns/net',
      ifname: 'eth0',
      env: { MANIFOLD_NATIVE_DIR: nativeDir, TMPDIR: t.tmp, PLANT_MARK: t.mark },
      timeoutMs,
    },
    {
      cniVersion: '1.1.0',
      name: 'native',
      type: 'host-local',
      ipam: { type: 'host-local', dataDir: t.dataDir, subnet: '10.75.0.0/24' },
    },
  );
}

/** Puts `content` (or a symlink to it) at `<root>/<hash>/<addon>`, owned and moded as asked. */
function plant(
  root: string,
  o: { uid?: number; rootMode?: number; fileMode?: number; symlink?: boolean; content?: Buffer },
) {
  const dir = join(root, HASH);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = join(dir, ADDON);
  if (o.symlink) symlinkSync(planted, file);
  else writeFileSync(file, o.content ?? readFileSync(planted), { mode: o.fileMode ?? 0o600 });
  if (o.fileMode !== undefined && !o.symlink) chmodSync(file, o.fileMode);
  chmodSync(root, o.rootMode ?? 0o700);
  if (o.uid !== undefined) for (const p of [root, dir, file]) chownSync(p, o.uid, o.uid);
  return file;
}

const fallback = () => join(t.tmp, `manifold-native-${process.getuid?.() ?? 0}`);
/** A MANIFOLD_NATIVE_DIR that cannot be made (under a regular file): the fallback is used. */
function unusablePrimary(): string {
  writeFileSync(join(t.primary), '');
  return join(t.primary, 'sub');
}

describe('defect 8: a planted native addon is never loaded', () => {
  it('in the fallback directory, owned by another user: not loaded; the call fails with a CNI error', async () => {
    plant(fallback(), { uid: 65534 });
    const r = await run(unusablePrimary());
    expect(existsSync(t.mark), 'the planted library ran as root').toBe(false);
    expect(r.status).toBe(1);
    expect(r.json).toMatchObject({ code: 999 });
    expect(String(r.json?.msg)).toMatch(/native addon/);
    expect(r.stdout).not.toMatch(/\bat .*:\d+:\d+/);
  });

  it.each([
    ['the wrong content (sha256)', {}],
    ['the wrong content of the right size (one byte changed)', { content: oneByteChanged(GOOD) }],
    ['a group/other-writable file', { fileMode: 0o666, content: GOOD }],
    ['a symlink', { symlink: true }],
  ])('in our own fallback directory, %s: not loaded, replaced by the right file', async (_, how) => {
    const file = plant(fallback(), how);
    const r = await run(unusablePrimary());
    expect(existsSync(t.mark), 'the planted library ran as root').toBe(false);
    expect(r.status, r.stdout).toBe(0);
    const st = statSync(file, { throwIfNoEntry: true });
    expect(st.isFile()).toBe(true);
    expect(st.mode & 0o777).toBe(0o600);
    expect(sha(readFileSync(file))).toBe(sha(GOOD));
  });

  it('in the primary directory too: the wrong content is replaced before anything is loaded', async () => {
    const file = plant(t.primary, {});
    const r = await run(t.primary);
    expect(existsSync(t.mark)).toBe(false);
    expect(r.status, r.stdout).toBe(0);
    expect(sha(readFileSync(file))).toBe(sha(GOOD));
  });

  it('a group/other-writable primary directory is not used (the fallback is)', async () => {
    mkdirSync(t.primary, { mode: 0o777 });
    chmodSync(t.primary, 0o777);
    const r = await run(t.primary);
    expect(r.status, r.stdout).toBe(0);
    expect(existsSync(join(t.primary, HASH))).toBe(false);
    expect(sha(readFileSync(join(fallback(), HASH, ADDON)))).toBe(sha(GOOD));
  });

  it('extracts into fresh directories 0700 with the file 0600', async () => {
    const r = await run(join(t.primary, 'deep', 'er'));
    expect(r.status, r.stdout).toBe(0);
    expect(statSync(join(t.primary, 'deep', 'er')).mode & 0o777).toBe(0o700);
    expect(statSync(join(t.primary, 'deep', 'er', HASH)).mode & 0o777).toBe(0o700);
    expect(statSync(join(t.primary, 'deep', 'er', HASH, ADDON)).mode & 0o777).toBe(0o600);
  });
});

describe('defect 9: no hang where mkdir answers ENOENT', () => {
  it.each(['/proc/nonexistent/native', '/proc/self/native', '/proc/sys/manifold/native'])(
    'MANIFOLD_NATIVE_DIR=%s: the call ends, through the fallback directory',
    async (dir) => {
      const r = await run(dir, 15_000);
      expect(r.status, `killed after 15 s: ${r.stderr}`).not.toBeNull();
      expect(r.status, r.stdout).toBe(0);
      expect(existsSync(join(fallback(), HASH, ADDON))).toBe(true);
    },
  );
});
