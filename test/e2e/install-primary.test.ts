/**
 * The wrapped primary runs its own plugin binaries (`manifold.exec`): a
 * node's pods outlive installing and removing manifold. With the reference bridge (Debian's,
 * /usr/lib/cni) as the primary, with ipMasq (an iptables `CNI-<hash>` chain per pod; manifold's
 * built-in would make an nftables rule instead):
 *   (a) a pod ADDed through the installed wrapper, DELed by the reference directly after
 *       uninstall: the DEL succeeds and leaves neither chain nor rule;
 *   (b) a pod ADDed by the reference directly, then install, then DEL through the wrapper: the
 *       reference's chain and rule are gone.
 * Real libcni (test/helpers/libcni.ts), the built executable, a throwaway netns as the host.
 * In daemon mode (`e2e-daemon`, test/helpers/mode.ts) install is `install --mode daemon` for
 * the file's daemon: the wrapper's calls go through the shim, and the daemon executes the
 * reference bridge.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isolateHost, newNetns, uniq } from '../helpers/host.ts';
import { cniAdd, cniDel } from '../helpers/libcni.ts';
import { daemonServed, installModeArgs, MODE } from '../helpers/mode.ts';

const BIN = resolve('dist/bin/manifold');
const REFERENCE = '/usr/lib/cni';
isolateHost();
const root = mkdtempSync(join(tmpdir(), 'mf-e2e-primary-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function node(tag: string) {
  const dir = join(root, tag);
  const binDir = join(dir, 'bin');
  const confDir = join(dir, 'net.d');
  mkdirSync(binDir, { recursive: true });
  mkdirSync(confDir, { recursive: true });
  const primary = join(confDir, '10-bridge.conflist');
  writeFileSync(
    primary,
    JSON.stringify({
      cniVersion: '1.0.0',
      name: `prim${tag}`,
      plugins: [
        {
          type: 'bridge',
          bridge: uniq('mfb'),
          isGateway: true,
          ipMasq: true,
          ipam: { type: 'host-local', dataDir: join(dir, 'ipam'), subnet: '10.97.0.0/24' },
        },
      ],
    }),
  );
  const cacheDir = join(dir, 'libcni');
  const cniPath = [binDir, REFERENCE];
  const cli = (...args: string[]) => {
    const r = spawnSync(BIN, args, {
      encoding: 'utf8',
      env: { PATH: '/usr/bin:/bin:/usr/sbin:/sbin', MANIFOLD_NATIVE_DIR: join(dir, 'native') },
    });
    expect(r.status, r.stderr).toBe(0);
    return r.stdout;
  };
  const install = () => {
    cli('install', '--bin-dir', binDir, '--conf-dir', confDir, ...installModeArgs());
    const wrapper = join(confDir, '00-manifold.conflist');
    const conf = JSON.parse(readFileSync(wrapper, 'utf8'));
    conf.plugins[0].cniDir = join(dir, 'cache'); // manifold's cache off the machine's /var/lib
    writeFileSync(wrapper, JSON.stringify(conf));
    return wrapper;
  };
  const uninstall = () => cli('uninstall', '--conf-dir', confDir);
  return { primary, cacheDir, cniPath, install, uninstall, confDir };
}

/** Calls the file's daemon served so far (0 one-shot): the wrapper's calls must be its own. */
const served = () => (MODE === 'daemon' ? daemonServed() : Promise.resolve(0));

/** The attachment's masquerade: the reference's iptables rule or manifold's nftables one. */
function masq(containerId: string): { iptables: boolean; nft: boolean } {
  const ipt = execFileSync('iptables-save', ['-t', 'nat'], { encoding: 'utf8' });
  const nft = execFileSync('nft', ['list', 'ruleset'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  return { iptables: ipt.includes(containerId), nft: nft.includes(containerId) };
}

describe('the wrapped primary runs its own binaries', () => {
  it('(a) ADD through manifold, then uninstall, then DEL by the reference: nothing left', async () => {
    if (!existsSync(BIN)) throw new Error('dist/bin/manifold is missing: run ./build.sh first');
    const n = node('a');
    const wrapper = n.install();
    const pod = newNetns();
    const containerId = uniq('poda');
    const base = { netns: pod.path, ifname: 'eth0', containerId, cniPath: n.cniPath, cacheDir: n.cacheDir };
    const before = await served();
    const added = await cniAdd({ ...base, conf: wrapper });
    expect(added.ok, JSON.stringify(added)).toBe(true);
    if (MODE === 'daemon') expect((await served()) - before).toBe(1);
    expect(masq(containerId)).toEqual({ iptables: true, nft: false });
    n.uninstall();
    const deleted = await cniDel({ ...base, conf: n.primary });
    expect(deleted.ok, JSON.stringify(deleted)).toBe(true);
    expect(masq(containerId)).toEqual({ iptables: false, nft: false });
  });

  it('(b) ADD by the reference, then install, then DEL through manifold: its chain and rule are gone', async () => {
    const n = node('b');
    const pod = newNetns();
    const containerId = uniq('podb');
    const base = { netns: pod.path, ifname: 'eth0', containerId, cniPath: n.cniPath, cacheDir: n.cacheDir };
    const added = await cniAdd({ ...base, conf: n.primary });
    expect(added.ok, JSON.stringify(added)).toBe(true);
    expect(masq(containerId)).toEqual({ iptables: true, nft: false });
    const wrapper = n.install();
    const before = await served();
    const deleted = await cniDel({ ...base, conf: wrapper });
    expect(deleted.ok, JSON.stringify(deleted)).toBe(true);
    if (MODE === 'daemon') expect((await served()) - before).toBe(1);
    expect(masq(containerId)).toEqual({ iptables: false, nft: false });
  });
});
