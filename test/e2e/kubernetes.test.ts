/**
 * The built executable on a fake node, as the DaemonSet uses it: its command line (usage,
 * one-line errors), `install` (copies itself, wraps the node's primary config), a pod ADD/DEL
 * driven by libcni through the installed 00-manifold.conflist with the pod's CNI_ARGS and a
 * kubeconfig to a local HTTPS API-server stand-in, then `uninstall`. In daemon mode
 * (`e2e-daemon`, test/helpers/mode.ts) the node is installed with `install --mode daemon` for the
 * file's daemon: the pod's ADD and DEL go through the shim and are served by the daemon.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeApiServer } from '../helpers/fake-apiserver.ts';
import { ip, ipJson, isolateHost, newNetns } from '../helpers/host.ts';
import { libcni } from '../helpers/libcni.ts';
import { daemonServed, installModeArgs, MODE } from '../helpers/mode.ts';
import { makePki } from '../helpers/pki.ts';
import { scratchDir } from '../helpers/scratch.ts';

const BIN = resolve('dist/bin/manifold');
isolateHost();
const root = scratchDir('mf-e2e-k8s-');
const binDir = join(root, 'opt/cni/bin');
const confDir = join(root, 'etc/cni/net.d');
const dataDir = join(root, 'ipam');
const kubeconfig = join(confDir, 'manifold.d/manifold.kubeconfig');
const api = new FakeApiServer(makePki());
const env = { MANIFOLD_NATIVE_DIR: join(root, 'native') };

function run(...args: string[]) {
  const r = spawnSync(BIN, args, { encoding: 'utf8', env: { PATH: '/usr/bin:/bin', ...env } });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

beforeAll(async () => {
  if (!existsSync(BIN)) throw new Error('dist/bin/manifold is missing: run ./build.sh first');
  mkdirSync(binDir, { recursive: true });
  mkdirSync(join(confDir, 'manifold.d'), { recursive: true });
  ip('link', 'add', 'ke0', 'type', 'veth', 'peer', 'name', 'ke0p');
  ip('link', 'set', 'ke0', 'up');
  // the node's primary network: a macvlan conflist, run by the node's own (reference) binary
  writeFileSync(
    join(confDir, '10-primary.conflist'),
    JSON.stringify({
      cniVersion: '1.0.0',
      name: 'primary',
      plugins: [
        {
          type: 'macvlan',
          master: 'ke0',
          ipam: { type: 'host-local', dataDir, subnet: '10.80.0.0/24', routes: [{ dst: '0.0.0.0/0' }] },
        },
      ],
    }),
  );
  await api.start();
  api.tokens.add('e2e');
  writeFileSync(join(confDir, 'manifold.d/token'), 'e2e');
  api.writeKubeconfig(kubeconfig, { tokenFile: join(confDir, 'manifold.d/token') });
  api.addNad('default', 'side', {
    cniVersion: '1.0.0',
    type: 'macvlan',
    master: 'ke0',
    capabilities: { ips: true },
    ipam: { type: 'host-local', dataDir, subnet: '10.81.0.0/24' },
  });
});
afterAll(() => api.stop());

// the executable's own command line, no CNI call: nothing for daemon mode to serve
describe.skipIf(MODE === 'daemon')('the command line of the executable', () => {
  it('--help and errors are plain text, never a stack', () => {
    const help = run('--help');
    expect(help.code).toBe(0);
    expect(help.out).toMatch(/usage: manifold <command> \[arguments\] \[flags\]/);
    const bad = run('frobnicate');
    expect(bad.code).toBe(2);
    expect(bad.err.split('\n')[0]).toBe('manifold: unknown command "frobnicate"');
    const flag = run('install', '--bin-dir', binDir, '--conf-dir', confDir, '--force');
    expect(flag.code).toBe(2);
    expect(flag.err).toBe(
      `manifold install: unknown flag --force\nusage: manifold install --bin-dir DIR --conf-dir DIR [--kubeconfig FILE] [--watch]\n(manifold install --help for more)\n`,
    );
    expect(`${bad.err}${flag.err}`).not.toMatch(/\s+at /);
  });

  it('no arguments is still a CNI call', () => {
    const r = spawnSync(BIN, [], { encoding: 'utf8', env: { CNI_COMMAND: 'VERSION' } });
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout).supportedVersions).toContain('1.1.0');
  });
});

describe('a node', () => {
  it('install, a pod with a NAD through libcni, network-status, uninstall', async () => {
    const install = ['install', '--bin-dir', binDir, '--conf-dir', confDir, '--kubeconfig', kubeconfig];
    const inst = run(...install, ...installModeArgs());
    expect(inst.code, inst.err).toBe(0);
    // daemon mode: the executable goes beside the shim, as its fallback
    const exe = join(binDir, MODE === 'daemon' ? 'manifold-oneshot' : 'manifold');
    expect(inst.out).toContain(`binary: ${exe} (installed)`);
    expect(readFileSync(exe).equals(readFileSync(BIN))).toBe(true);
    if (MODE === 'daemon') expect(inst.out).toContain(`shim: ${join(binDir, 'manifold')} for the daemon at `);
    expect(run(...install, ...installModeArgs()).out).toMatch(
      /binary: .* \(unchanged\)\n[\s\S]*wraps .*10-primary\.conflist \(unchanged\)/,
    );
    const conf = join(confDir, '00-manifold.conflist');
    const installed = JSON.parse(readFileSync(conf, 'utf8'));
    expect(installed.plugins[0].kubeconfig).toBe(kubeconfig);
    // the cache dir is the test's (the config is the node's; a real node keeps the default)
    installed.plugins[0].cniDir = join(root, 'cache');
    writeFileSync(conf, JSON.stringify(installed));

    api.addPod({
      namespace: 'default',
      name: 'web',
      uid: 'u-web',
      annotations: {
        'k8s.v1.cni.cncf.io/networks': '[{"name":"side","interface":"side0","ips":["10.81.0.77"]}]',
      },
    });
    const pod = newNetns();
    const opts = {
      conf,
      netns: pod.path,
      ifname: 'eth0',
      containerId: 'e2ek8s1',
      // the primary (wrapped with manifold.exec) runs the node's own macvlan: Debian's reference
      cniPath: [binDir, '/usr/lib/cni'],
      cacheDir: join(root, 'libcni'),
      args: {
        IgnoreUnknown: '1',
        K8S_POD_NAMESPACE: 'default',
        K8S_POD_NAME: 'web',
        K8S_POD_UID: 'u-web',
        K8S_POD_INFRA_CONTAINER_ID: 'e2ek8s1',
      },
    };
    const servedBefore = MODE === 'daemon' ? await daemonServed() : 0;
    const add = await libcni('add', opts);
    expect(add.ok, JSON.stringify(add)).toBe(true);
    if (!add.ok) return;
    expect(add.result.interfaces?.map((i) => i.name)).toEqual(['eth0', 'side0']);
    const names = ipJson<{ ifname: string }[]>('-n', pod.name, 'link', 'show')
      .map((l) => l.ifname)
      .sort();
    expect(names).toEqual(['eth0', 'lo', 'side0']);
    expect(ip('-n', pod.name, 'addr', 'show', 'side0')).toContain('10.81.0.77/24');
    const status = JSON.parse(
      api.annotation('default', 'web', 'k8s.v1.cni.cncf.io/network-status') ?? '[]',
    ) as { name: string; interface: string }[];
    expect(status.map((s) => [s.name, s.interface])).toEqual([
      ['primary', 'eth0'],
      ['default/side', 'side0'],
    ]);

    await api.stop(); // DEL needs no API server
    try {
      const del = await libcni('del', opts);
      expect(del.ok, JSON.stringify(del)).toBe(true);
    } finally {
      await api.start(api.port);
    }
    expect(ipJson<{ ifname: string }[]>('-n', pod.name, 'link', 'show').map((l) => l.ifname)).toEqual(['lo']);
    // the ADD and the DEL were the daemon's (none fell back: daemon-mode-setup.ts checks that)
    if (MODE === 'daemon') expect((await daemonServed()) - servedBefore).toBe(2);

    const un = run('uninstall', '--conf-dir', confDir);
    expect(un.code, un.err).toBe(0);
    expect(readdirSync(confDir).sort()).toEqual(['10-primary.conflist', 'manifold.d']);
  });
});
