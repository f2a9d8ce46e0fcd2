/**
 * install in daemon mode (shim.ts, setup.ts) with a stand-in shim (bytes holding the config
 * region): the region patched in place and nothing else changed, paths made absolute, what
 * cannot fit refused; the shim as `manifold` and the executable as `manifold-oneshot`,
 * idempotent; one-shot install on a node with the shim puts the executable back.
 */
import { mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { install } from './setup.ts';
import { ONESHOT_NAME, patchShim, SHIM_CONFIG_MARKER, SHIM_CONFIG_SIZE, shimConfig } from './shim.ts';

/** A stand-in shim: code, the region (marker + NULs), more code. */
function fakeShim(): Buffer {
  const region = Buffer.alloc(SHIM_CONFIG_SIZE);
  region.write(SHIM_CONFIG_MARKER);
  return Buffer.concat([Buffer.from('\x7fELF code before'), region, Buffer.from('code after')]);
}

describe('patchShim', () => {
  it('writes socket= and oneshot= into the region, NUL-padded, and changes nothing else', () => {
    const shim = fakeShim();
    const out = patchShim(shim, '/run/manifold/manifold.sock', '/opt/cni/bin/manifold-oneshot');
    expect(out.length).toBe(shim.length);
    const at = shim.indexOf(SHIM_CONFIG_MARKER);
    expect(out.subarray(0, at + SHIM_CONFIG_MARKER.length)).toEqual(
      shim.subarray(0, at + SHIM_CONFIG_MARKER.length),
    );
    expect(out.subarray(at + SHIM_CONFIG_SIZE)).toEqual(shim.subarray(at + SHIM_CONFIG_SIZE));
    const text = 'socket=/run/manifold/manifold.sock\noneshot=/opt/cni/bin/manifold-oneshot\n';
    const start = at + SHIM_CONFIG_MARKER.length;
    expect(out.subarray(start, start + text.length).toString()).toBe(text);
    expect(out.subarray(start + text.length, at + SHIM_CONFIG_SIZE).every((b) => b === 0)).toBe(true);
    expect(shimConfig(out)).toEqual({
      socket: '/run/manifold/manifold.sock',
      oneshot: '/opt/cni/bin/manifold-oneshot',
    });
    expect(shimConfig(shim)).toBeUndefined();
  });

  it('re-patches a patched copy (a shorter path leaves no tail of the longer one)', () => {
    const once = patchShim(fakeShim(), '/a/very/long/socket/path/manifold.sock', '/x/manifold-oneshot');
    expect(shimConfig(patchShim(once, '/s', '/o'))).toEqual({ socket: '/s', oneshot: '/o' });
  });

  it('refuses what the shim cannot use: no region, two regions, a newline, a socket path over 107 bytes', () => {
    expect(() => patchShim(Buffer.from('no region'), '/s', '/o')).toThrow(/exactly one config region/);
    expect(() => patchShim(Buffer.concat([fakeShim(), fakeShim()]), '/s', '/o')).toThrow(/exactly one/);
    expect(() => patchShim(fakeShim(), '/s\nx', '/o')).toThrow(/newline/);
    expect(() => patchShim(fakeShim(), `/${'s'.repeat(107)}`, '/o')).toThrow(
      /longer than a unix socket path/,
    );
  });
});

describe('install --mode daemon', () => {
  const roots: string[] = [];
  afterEach(() => {
    for (const r of roots.splice(0)) rmSync(r, { recursive: true, force: true });
  });

  function node() {
    const root = mkdtempSync(join(tmpdir(), 'mf-install-shim-'));
    roots.push(root);
    const binDir = join(root, 'bin');
    const confDir = join(root, 'net.d');
    mkdirSync(binDir);
    mkdirSync(confDir);
    writeFileSync(
      join(confDir, '10-flannel.conflist'),
      JSON.stringify({ cniVersion: '0.3.1', name: 'cbr0', plugins: [{ type: 'flannel' }] }),
    );
    const source = join(root, 'manifold-build');
    writeFileSync(source, '#!/bin/sh\n', { mode: 0o755 });
    return { binDir, confDir, source, env: {}, serviceAccountDir: '/nonexistent' };
  }

  it('installs the patched shim as manifold and the executable as manifold-oneshot; idempotent; one-shot install undoes it', async () => {
    const opts = node();
    const daemon = { socket: '/run/m/m.sock', shim: fakeShim };
    const shim = join(opts.binDir, 'manifold');
    const oneshot = join(opts.binDir, ONESHOT_NAME);
    expect(await install({ ...opts, daemon })).toEqual([
      `binary: ${oneshot} (installed)`,
      `shim: ${shim} for the daemon at /run/m/m.sock, falling back to ${oneshot} (installed)`,
      `config: ${join(opts.confDir, '00-manifold.conflist')} wraps ${join(opts.confDir, '10-flannel.conflist')} (written)`,
    ]);
    expect(shimConfig(readFileSync(shim))).toEqual({ socket: '/run/m/m.sock', oneshot });
    expect(statSync(shim).mode & 0o777).toBe(0o755);
    expect(readFileSync(oneshot, 'utf8')).toBe('#!/bin/sh\n');
    // the wrapper is the one-shot install's
    const conf = JSON.parse(readFileSync(join(opts.confDir, '00-manifold.conflist'), 'utf8'));
    expect(conf.plugins[0].type).toBe('manifold');

    const again = await install({ ...opts, daemon });
    expect(again[0]).toBe(`binary: ${oneshot} (unchanged)`);
    expect(again[1]).toMatch(/\(unchanged\)$/);

    expect((await install(opts)).slice(0, 2)).toEqual([
      `binary: ${shim} (installed)`,
      `binary: ${oneshot} (now a link to manifold: one-shot mode)`,
    ]);
    expect(readFileSync(shim, 'utf8')).toBe('#!/bin/sh\n');
    // a shim still running from daemon mode falls back to it: it executes the one-shot now
    expect(readlinkSync(oneshot)).toBe('manifold');
    expect(readFileSync(oneshot, 'utf8')).toBe('#!/bin/sh\n');
    expect((await install(opts)).slice(0, 2)).toEqual([
      `binary: ${shim} (unchanged)`,
      expect.stringMatching(/^config: /),
    ]);
  });
});
