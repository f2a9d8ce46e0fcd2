import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cniRejectionOf } from '../../test/helpers/skel.ts';
import { CniError } from '../cni/errors.ts';
import { checkPluginType } from '../cni/names.ts';
import { execPlugin, findPlugin, PluginNotFoundError } from './exec.ts';

const root = mkdtempSync(join(tmpdir(), 'manifold-exec-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const bin1 = join(root, 'bin1');
const bin2 = join(root, 'bin2');
mkdirSync(bin1);
mkdirSync(bin2);

/** Writes a /bin/sh plugin into `dir`. */
function plugin(dir: string, name: string, body: string, mode = 0o755): string {
  const f = join(dir, name);
  writeFileSync(f, `#!/bin/sh\n${body}\n`);
  chmodSync(f, mode);
  return f;
}

const run = (type: string, extra: Partial<Parameters<typeof execPlugin>[0]> = {}) =>
  execPlugin({
    type,
    command: 'ADD',
    path: [bin1, bin2],
    env: { PATH: '/usr/bin:/bin' },
    stdin: '{}',
    ...extra,
  });

describe('checkPluginType', () => {
  it.each(['host-local', 'my_ipam', 'whereabouts', 'a.b'])('accepts %j', (t) => {
    expect(() => checkPluginType(t)).not.toThrow();
  });
  it.each(['', '/usr/lib/cni/host-local', 'sub/dir', '..', '../x', 'a..b', 'x\u0000y'])(
    'refuses %j (code 7)',
    (t) => {
      let e: unknown;
      try {
        checkPluginType(t, 'ipam.type');
      } catch (err) {
        e = err;
      }
      expect(e).toBeInstanceOf(CniError);
      expect(e).toMatchObject({
        code: 7,
        message: expect.stringMatching(/^ipam\.type: invalid plugin type /),
      });
    },
  );
});

describe('findPlugin', () => {
  plugin(bin1, 'only-in-2-noexec', 'exit 0', 0o644);
  plugin(bin2, 'only-in-2-noexec', 'exit 0');
  mkdirSync(join(bin1, 'a-dir'));
  plugin(bin1, 'both', 'exit 0');
  plugin(bin2, 'both', 'exit 0');

  it('takes the first executable file along the path', () => {
    expect(findPlugin('both', [bin1, bin2])).toBe(join(bin1, 'both'));
    expect(findPlugin('only-in-2-noexec', [bin1, bin2])).toBe(join(bin2, 'only-in-2-noexec'));
  });

  it('says where it looked when it finds nothing, and when there is nowhere to look', () => {
    expect(() => findPlugin('a-dir', [bin1])).toThrow(`failed to find plugin "a-dir" in path [${bin1}]`);
    expect(() => findPlugin('nope', [bin1, bin2])).toThrow(
      `failed to find plugin "nope" in path [${bin1} ${bin2}]`,
    );
    expect(() => findPlugin('nope', [])).toThrow('failed to find plugin "nope": CNI_PATH is empty');
  });
});

describe('execPlugin', () => {
  it('runs the plugin with exactly the given environment, CNI_COMMAND set, overrides winning, config on stdin', async () => {
    const envOut = join(root, 'env.txt');
    const stdinOut = join(root, 'stdin.txt');
    plugin(
      bin1,
      'record',
      `env | sort > ${envOut}\ncat > ${stdinOut}\necho '{"cniVersion":"1.0.0","ips":[{"address":"10.0.0.2/24"}]}'`,
    );
    const r = await run('record', {
      command: 'DEL',
      env: {
        PATH: '/usr/bin:/bin',
        CNI_COMMAND: 'ADD',
        CNI_IFNAME: 'eth0',
        CNI_ARGS: 'A=1',
        DROPPED: undefined,
      },
      overrides: { CNI_IFNAME: 'net1', CNI_NETNS: '' },
      stdin: '{"name":"x"}',
    });
    expect(r).toEqual({ cniVersion: '1.0.0', ips: [{ address: '10.0.0.2/24' }] });
    const env = readFileSync(envOut, 'utf8');
    expect(env).toContain('CNI_COMMAND=DEL\n');
    expect(env).toContain('CNI_IFNAME=net1\n');
    expect(env).toContain('CNI_NETNS=\n');
    expect(env).toContain('CNI_ARGS=A=1\n');
    expect(env).not.toContain('DROPPED');
    expect(env).not.toMatch(/^HOME=/m); // nothing of this process's environment leaks in
    expect(readFileSync(stdinOut, 'utf8')).toBe('{"name":"x"}');
  });

  it('returns undefined for empty output of DEL, CHECK, STATUS, GC', async () => {
    plugin(bin1, 'quiet', 'cat >/dev/null\nexit 0');
    for (const command of ['DEL', 'CHECK', 'STATUS', 'GC'] as const)
      expect(await run('quiet', { command })).toBeUndefined();
  });

  it('an ADD that prints nothing, or no JSON object, is an error (code 6), not an empty result', async () => {
    plugin(bin1, 'quiet-add', 'cat >/dev/null\nexit 0');
    expect(await cniRejectionOf(run('quiet-add'))).toMatchObject({
      code: 6,
      message: 'plugin "quiet-add" printed no result for ADD',
    });
    for (const out of ['null', '[]', '"x"', '42']) {
      plugin(bin1, 'odd-add', `cat >/dev/null\necho '${out}'`);
      expect(await cniRejectionOf(run('odd-add')), out).toMatchObject({
        code: 6,
        message: `plugin "odd-add" printed a result for ADD that is not a JSON object: ${out}`,
      });
    }
  });

  it('refuses to execute this very executable under another name (a nested meta-plugin), code 7', async () => {
    symlinkSync(process.execPath, join(bin1, 'multus'));
    const e = await cniRejectionOf(run('multus'));
    expect(e.code).toBe(7);
    expect(e.message).toMatch(/^type: plugin "multus" .* is this executable/);
  });

  it('a plugin that is not installed is a PluginNotFoundError (DEL treats it as permanent)', async () => {
    expect(await cniRejectionOf(run('not-installed'))).toBeInstanceOf(PluginNotFoundError);
  });

  it('does not fail when a plugin exits without reading a large stdin', async () => {
    plugin(bin1, 'no-read', 'exit 0');
    expect(
      await run('no-read', { command: 'DEL', stdin: JSON.stringify({ pad: 'x'.repeat(1 << 20) }) }),
    ).toBeUndefined();
    plugin(bin1, 'no-read-fail', `echo '{"code":7,"msg":"bad"}'\nexit 1`);
    expect(await cniRejectionOf(run('no-read-fail', { stdin: 'x'.repeat(1 << 20) }))).toMatchObject({
      code: 7,
      message: 'bad',
    });
  });

  it('passes a plugin’s CNI error on with its code, msg and details', async () => {
    plugin(
      bin1,
      'err',
      `cat >/dev/null\necho '{"cniVersion":"1.0.0","code":11,"msg":"try later","details":"busy"}'\nexit 1`,
    );
    const e = await cniRejectionOf(run('err'));
    expect(e).toMatchObject({ code: 11, message: 'try later', details: 'busy' });
  });

  it('reports a plugin that fails without a CNI error, naming it, its status and its output', async () => {
    plugin(bin1, 'crash', 'cat >/dev/null\necho "panic: runtime error"\necho "goroutine 1" \nexit 2');
    const e = await cniRejectionOf(run('crash'));
    expect(e).toMatchObject({
      code: 999,
      message: 'plugin "crash" exited with status 2: panic: runtime error goroutine 1',
    });
    plugin(bin1, 'silent-fail', 'exit 3');
    expect((await cniRejectionOf(run('silent-fail'))).message).toBe(
      'plugin "silent-fail" exited with status 3',
    );
    plugin(bin1, 'killed', 'kill -9 $$');
    expect((await cniRejectionOf(run('killed'))).message).toBe('plugin "killed" was killed by SIGKILL');
    plugin(bin1, 'long', `printf 'x%.0s' $(seq 1 400)\nexit 1`);
    const long = await cniRejectionOf(run('long'));
    expect(long.message.length).toBeLessThan(260);
    expect(long.message.endsWith('...')).toBe(true);
  });

  it('refuses output that is not JSON on success (code 6)', async () => {
    plugin(bin1, 'garbage', 'cat >/dev/null\necho "hello"');
    expect(await cniRejectionOf(run('garbage'))).toMatchObject({
      code: 6,
      message: 'plugin "garbage" printed a result that is not JSON: hello',
    });
  });

  it('leaves stderr to the caller’s stderr (not parsed as output)', async () => {
    plugin(bin1, 'noisy', `cat >/dev/null\necho "log line" >&2\necho '{"cniVersion":"1.0.0"}'`);
    expect(await run('noisy')).toEqual({ cniVersion: '1.0.0' });
  });

  it('reports a file it cannot execute', async () => {
    const f = join(bin1, 'bad-interp');
    writeFileSync(f, '#!/nonexistent/interpreter\n');
    chmodSync(f, 0o755);
    const e = await cniRejectionOf(run('bad-interp'));
    expect(e.code).toBe(999);
    expect(e.message).toBe(`failed to run plugin "bad-interp" (${f}): spawn ${f} ENOENT`);
    expect(e.message).not.toMatch(/\n/);
  });

  it('refuses a type that is a path before looking for it', async () => {
    expect(await cniRejectionOf(run('../bin2/both'))).toMatchObject({ code: 7 });
  });
});
