/**
 * install() and uninstall() (setup.ts). On a node with flannel: the executable copied (by
 * rename), flannel wrapped as the master, a valid manifold config, idempotence, a plain
 * failure without a primary, the kubeconfig from a pod's service account. Then install's
 * choice of primary and of its own file name: a Multus config is never
 * wrapped (its master is), manifold's file sorts first in the order the runtimes read (a lower
 * name when something sorts before 00-manifold.conflist, a loud failure naming the file in the
 * way when none is low enough), a primary without cniVersion is wrapped, and an uninstall
 * racing a refresh (the preStop hook against `install --watch`) always wins.
 */
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseMetaConf } from '../../meta/config.ts';
import { install, uninstall } from './setup.ts';

const FLANNEL = {
  name: 'cbr0',
  cniVersion: '0.3.1',
  plugins: [{ type: 'flannel', delegate: { isDefaultGateway: true } }],
};

const roots: string[] = [];
afterEach(() => {
  for (const r of roots.splice(0)) rmSync(r, { recursive: true, force: true });
});

function node(files: Record<string, unknown>) {
  const root = mkdtempSync(join(tmpdir(), 'mf-install-'));
  roots.push(root);
  const binDir = join(root, 'bin');
  const confDir = join(root, 'net.d');
  mkdirSync(binDir);
  mkdirSync(confDir);
  for (const [name, body] of Object.entries(files)) {
    writeFileSync(join(confDir, name), typeof body === 'string' ? body : JSON.stringify(body));
  }
  const source = join(root, 'manifold-build');
  writeFileSync(source, '#!/bin/sh\n', { mode: 0o755 });
  const opts = { binDir, confDir, source, env: {}, serviceAccountDir: '/nonexistent' };
  return { root, confDir, opts };
}

/** The network files of a dir in libcni's order (byte order of the names). */
const order = (dir: string) =>
  readdirSync(dir)
    .filter((n) => /\.(conf|conflist|json)$/.test(n))
    .sort();
const wrapper = (path: string) => JSON.parse(readFileSync(path, 'utf8'));

describe('a node running Multus', () => {
  it('wraps the master of a thin Multus config (delegates[0]), never Multus, and says so', async () => {
    const multus = {
      cniVersion: '0.3.1',
      name: 'multus-cni-network',
      type: 'multus',
      kubeconfig: '/etc/cni/net.d/multus.d/multus.kubeconfig',
      delegates: [FLANNEL],
    };
    const n = node({ '00-multus.conf': multus, '10-flannel.conflist': FLANNEL });
    const report = await install(n.opts);
    expect(report).toContain(
      `primary: ${join(n.confDir, '00-multus.conf')} delegates[0] is the master of the multus config ${join(n.confDir, '00-multus.conf')}, which is never wrapped (a meta-plugin)`,
    );
    const conf = wrapper(join(n.confDir, '00-manifold.conflist'));
    expect(conf.plugins[0].delegates).toEqual([{ ...FLANNEL, manifold: { exec: true } }]);
    expect(order(n.confDir)[0]).toBe('00-manifold.conflist');
  });

  it('follows a thick Multus shim to its clusterNetwork: a /host path, or a network name', async () => {
    const shim = (clusterNetwork: string) => ({
      cniVersion: '0.3.1',
      name: 'multus-cni-network',
      type: 'multus-shim',
      clusterNetwork,
    });
    const byPath = node({
      '00-multus.conf': shim('/host/etc/cni/net.d/10-flannel.conflist'),
      '10-flannel.conflist': FLANNEL,
    });
    expect((await install(byPath.opts)).at(-1)).toBe(
      `config: ${join(byPath.confDir, '00-manifold.conflist')} wraps ${join(byPath.confDir, '10-flannel.conflist')} (written)`,
    );
    const byName = node({ '00-multus.conf': shim('cbr0'), '10-flannel.conflist': FLANNEL });
    await install(byName.opts);
    expect(wrapper(join(byName.confDir, '00-manifold.conflist')).plugins[0].delegates[0].name).toBe('cbr0');
    // a shim naming nothing found: skipped with the reason, the next file is the primary
    const lost = node({ '00-multus.conf': shim('nowhere'), '10-flannel.conflist': FLANNEL });
    const report = await install(lost.opts);
    expect(report.find((l) => l.startsWith('skipped'))).toMatch(
      /00-multus\.conf: a multus-shim config \(never wrapped\), and its clusterNetwork "nowhere" is no network in/,
    );
    expect(wrapper(join(lost.confDir, '00-manifold.conflist')).plugins[0].delegates[0].name).toBe('cbr0');
  });
});

describe("manifold's file is the one the runtime reads", () => {
  it('takes a lower name when the primary sorts before 00-manifold.conflist; uninstall removes it', async () => {
    const cilium = { cniVersion: '0.3.1', name: 'cilium', plugins: [{ type: 'cilium-cni' }] };
    const n = node({ '00-cilium.conflist': cilium });
    const report = await install(n.opts);
    expect(report.at(-1)).toBe(
      `config: ${join(n.confDir, '0-manifold.conflist')} wraps ${join(n.confDir, '00-cilium.conflist')} (written)`,
    );
    expect(order(n.confDir)).toEqual(['0-manifold.conflist', '00-cilium.conflist']);
    expect(await uninstall(n.confDir)).toEqual([
      `config: ${join(n.confDir, '0-manifold.conflist')} (removed)`,
    ]);
    expect(order(n.confDir)).toEqual(['00-cilium.conflist']);
  });

  it('moves its file when a new one sorts before it, leaving one manifold file', async () => {
    const n = node({ '10-flannel.conflist': FLANNEL });
    await install(n.opts);
    writeFileSync(
      join(n.confDir, '00-calico.conflist'),
      JSON.stringify({ ...FLANNEL, name: 'k8s-pod-network' }),
    );
    await install({ ...n.opts, refreshOnly: true });
    expect(order(n.confDir)).toEqual(['0-manifold.conflist', '00-calico.conflist', '10-flannel.conflist']);
  });

  it('fails loudly, naming the file in the way, when no name of its own sorts first', async () => {
    const n = node({ '0-0-0.conf': { cniVersion: '1.0.0', name: 'low', type: 'bridge' } });
    await expect(async () => install(n.opts)).rejects.toThrow(
      `failed to install config in "${n.confDir}": "0-0-0.conf" sorts before every name manifold can take`,
    );
    expect(order(n.confDir)).toEqual(['0-0-0.conf']);
  });

  it('installs the executable before the config, and writes no config without it', async () => {
    const n = node({ '10-flannel.conflist': FLANNEL });
    await expect(async () => install({ ...n.opts, source: join(n.root, 'missing') })).rejects.toThrow(
      /ENOENT/,
    );
    expect(order(n.confDir)).toEqual(['10-flannel.conflist']);
  });
});

describe('a primary without cniVersion (0.1.0)', () => {
  it('is wrapped: the wrapper speaks 0.4.0, the primary keeps 0.1.0', async () => {
    const old = { name: 'legacy', type: 'bridge', bridge: 'cni0' };
    const n = node({ '10-legacy.conf': old });
    await install(n.opts);
    const conf = wrapper(join(n.confDir, '00-manifold.conflist'));
    expect(conf.cniVersion).toBe('0.4.0');
    expect(conf.plugins[0].delegates).toEqual([{ cniVersion: '0.1.0', ...old, manifold: { exec: true } }]);
    expect(() =>
      parseMetaConf({ ...conf.plugins[0], name: conf.name, cniVersion: conf.cniVersion }),
    ).not.toThrow();
  });
});

describe('install --watch racing uninstall (preStop)', () => {
  it('a refresh that saw the config never re-creates it after uninstall removed it', async () => {
    const n = node({ '10-flannel.conflist': FLANNEL });
    await install(n.opts);
    const conf = join(n.confDir, '00-manifold.conflist');
    writeFileSync(
      join(n.confDir, '10-flannel.conflist'),
      JSON.stringify({ ...FLANNEL, cniVersion: '1.0.0' }),
    );
    let removal: Promise<string[]> | undefined;
    await install({
      ...n.opts,
      refreshOnly: true,
      // uninstall starts after the refresh decided to write, before its rename
      beforeWrite: async () => {
        removal = uninstall(n.confDir);
        await Promise.race([removal, new Promise((r) => setTimeout(r, 200))]);
      },
    });
    expect(await removal).toEqual([`config: ${conf} (removed)`]);
    expect(existsSync(conf)).toBe(false);
    // and later refreshes do not bring it back
    await install({ ...n.opts, refreshOnly: true });
    expect(existsSync(conf)).toBe(false);
  });
});

const FLANNEL_PORTMAP = {
  name: 'cbr0',
  cniVersion: '0.3.1',
  plugins: [
    { type: 'flannel', delegate: { hairpinMode: true, isDefaultGateway: true } },
    { type: 'portmap', capabilities: { portMappings: true } },
  ],
};

/** A node with flannel and portmap as its primary conflist, and a build of manifold to install. */
function flannelNode() {
  const root = mkdtempSync(join(tmpdir(), 'mf-node-'));
  roots.push(root);
  const binDir = join(root, 'opt/cni/bin');
  const confDir = join(root, 'etc/cni/net.d');
  mkdirSync(binDir, { recursive: true });
  mkdirSync(confDir, { recursive: true });
  writeFileSync(join(confDir, '10-flannel.conflist'), JSON.stringify(FLANNEL_PORTMAP, null, 2));
  const source = join(root, 'manifold-build');
  writeFileSync(source, '#!/bin/sh\necho v1\n', { mode: 0o755 });
  return { root, binDir, confDir, source };
}

describe('install / uninstall on a node with flannel', () => {
  it('copies the executable, wraps flannel as the master, names the kubeconfig; a valid manifold config', async () => {
    const n = flannelNode();
    const report = await install({
      binDir: n.binDir,
      confDir: n.confDir,
      kubeconfig: '/etc/cni/net.d/manifold.d/manifold.kubeconfig',
      source: n.source,
      env: {},
      serviceAccountDir: '/nonexistent',
    });
    expect(report[0]).toBe(`binary: ${join(n.binDir, 'manifold')} (installed)`);
    expect(report.at(-1)).toBe(
      `config: ${join(n.confDir, '00-manifold.conflist')} wraps ${join(n.confDir, '10-flannel.conflist')} (written)`,
    );
    expect(readFileSync(join(n.binDir, 'manifold'), 'utf8')).toBe('#!/bin/sh\necho v1\n');
    expect(statSync(join(n.binDir, 'manifold')).mode & 0o777).toBe(0o755);
    const conf = JSON.parse(readFileSync(join(n.confDir, '00-manifold.conflist'), 'utf8'));
    expect(conf).toEqual({
      cniVersion: '0.3.1',
      name: 'manifold-cni-network',
      plugins: [
        {
          type: 'manifold',
          capabilities: {
            portMappings: true,
            'io.kubernetes.cri.pod-annotations': true,
            bandwidth: true,
            ipRanges: true,
            dns: true,
            cgroupPath: true,
          },
          kubeconfig: '/etc/cni/net.d/manifold.d/manifold.kubeconfig',
          delegates: [{ ...FLANNEL_PORTMAP, manifold: { exec: true } }],
        },
      ],
    });
    // what libcni hands the plugin: the list's name and cniVersion injected
    expect(() =>
      parseMetaConf({ ...conf.plugins[0], name: conf.name, cniVersion: conf.cniVersion }),
    ).not.toThrow();
    // libcni loads the lexically first file: manifold's
    expect(readdirSync(n.confDir).sort()[0]).toBe('00-manifold.conflist');
  });

  it('is idempotent, never wraps itself, and replaces a running binary by rename (new inode)', async () => {
    const n = flannelNode();
    const opts = {
      binDir: n.binDir,
      confDir: n.confDir,
      source: n.source,
      env: {},
      serviceAccountDir: '/nonexistent',
    };
    await install(opts);
    const inode = statSync(join(n.binDir, 'manifold')).ino;
    const conf = readFileSync(join(n.confDir, '00-manifold.conflist'), 'utf8');
    const again = await install(opts);
    expect(again[0]).toMatch(/\(unchanged\)$/);
    expect(again.at(-1)).toMatch(/wraps .*10-flannel\.conflist \(unchanged\)$/);
    expect(readFileSync(join(n.confDir, '00-manifold.conflist'), 'utf8')).toBe(conf);
    expect(statSync(join(n.binDir, 'manifold')).ino).toBe(inode);
    // a renamed manifold config is recognised by content and not wrapped either
    writeFileSync(join(n.confDir, '05-copy.conflist'), conf);
    const third = await install(opts);
    expect(third).toContain(`skipped ${join(n.confDir, '05-copy.conflist')}: a manifold config`);
    expect(
      JSON.parse(readFileSync(join(n.confDir, '00-manifold.conflist'), 'utf8')).plugins[0].delegates[0].name,
    ).toBe('cbr0');
    // a new build: the old inode is left to whoever runs it, the name points at the new file
    writeFileSync(n.source, '#!/bin/sh\necho v2\n');
    expect((await install(opts))[0]).toMatch(/\(installed\)$/);
    expect(statSync(join(n.binDir, 'manifold')).ino).not.toBe(inode);
    expect(readdirSync(n.binDir)).toEqual(['manifold']);
  });

  it('fails plainly without a primary config, and uninstall leaves the node on flannel', async () => {
    const n = flannelNode();
    const empty = join(n.root, 'empty');
    mkdirSync(empty);
    await expect(
      install({ binDir: n.binDir, confDir: empty, source: n.source, env: {}, serviceAccountDir: '/x' }),
    ).rejects.toThrow(/no primary network config in/);
    await install({
      binDir: n.binDir,
      confDir: n.confDir,
      source: n.source,
      env: {},
      serviceAccountDir: '/x',
    });
    expect(await uninstall(n.confDir)).toEqual([
      `config: ${join(n.confDir, '00-manifold.conflist')} (removed)`,
    ]);
    expect(readdirSync(n.confDir).filter((f) => f !== 'manifold.d')).toEqual(['10-flannel.conflist']);
    expect(await uninstall(n.confDir)).toEqual([
      `config: ${join(n.confDir, '00-manifold.conflist')} (not there)`,
    ]);
    writeFileSync(join(n.confDir, '00-manifold.conflist'), JSON.stringify(FLANNEL_PORTMAP));
    await expect(uninstall(n.confDir)).rejects.toThrow(/is not a manifold config: left alone/);
  });

  it('in a pod: writes a kubeconfig from the service account, token as a file beside it', async () => {
    const n = flannelNode();
    const sa = join(n.root, 'sa');
    mkdirSync(sa);
    writeFileSync(join(sa, 'token'), 'tok-1');
    writeFileSync(join(sa, 'ca.crt'), 'CA');
    const kc = join(n.confDir, 'manifold.d/manifold.kubeconfig');
    const env = { KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' };
    const opts = {
      binDir: n.binDir,
      confDir: n.confDir,
      kubeconfig: kc,
      source: n.source,
      env,
      serviceAccountDir: sa,
    };
    expect(await install(opts)).toContain(`kubeconfig: ${kc} for https://10.96.0.1:443 (written)`);
    expect(JSON.parse(readFileSync(kc, 'utf8')).users[0].user.tokenFile).toBe(
      join(n.confDir, 'manifold.d/token'),
    );
    expect(readFileSync(join(n.confDir, 'manifold.d/token'), 'utf8')).toBe('tok-1');
    writeFileSync(join(sa, 'token'), 'tok-2');
    expect(await install({ ...opts, refreshOnly: true })).toContain(
      `kubeconfig: ${kc} for https://10.96.0.1:443 (written)`,
    );
    expect(readFileSync(join(n.confDir, 'manifold.d/token'), 'utf8')).toBe('tok-2');
    // refresh never re-creates a config uninstall removed
    await uninstall(n.confDir);
    await install({ ...opts, refreshOnly: true });
    expect(existsSync(join(n.confDir, '00-manifold.conflist'))).toBe(false);
  });
});
