/**
 * The command line: the table's usage and one-line errors, and install/uninstall against a
 * fake node (a bin dir and a conf dir holding flannel's conflist).
 */
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli as run } from '../../test/helpers/cli.ts';
import { parseMetaConf } from '../meta/config.ts';
import { install, uninstall } from './install.ts';

const FLANNEL = {
  name: 'cbr0',
  cniVersion: '0.3.1',
  plugins: [
    { type: 'flannel', delegate: { hairpinMode: true, isDefaultGateway: true } },
    { type: 'portmap', capabilities: { portMappings: true } },
  ],
};

function node() {
  const root = mkdtempSync(join(tmpdir(), 'mf-node-'));
  const binDir = join(root, 'opt/cni/bin');
  const confDir = join(root, 'etc/cni/net.d');
  mkdirSync(binDir, { recursive: true });
  mkdirSync(confDir, { recursive: true });
  writeFileSync(join(confDir, '10-flannel.conflist'), JSON.stringify(FLANNEL, null, 2));
  const source = join(root, 'manifold-build');
  writeFileSync(source, '#!/bin/sh\necho v1\n', { mode: 0o755 });
  return { root, binDir, confDir, source };
}

const cli = (...args: string[]) => run(args);

describe('command table', () => {
  it('--help lists the commands', async () => {
    const r = await cli('--help');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/usage: manifold <command>/);
    expect(r.out).toMatch(/install +copy manifold/);
    expect(r.out).toMatch(/uninstall +remove manifold's network config/);
    expect((await cli('--version')).out).toBe('manifold 9.9.9\n');
  });

  it.each([
    [
      ['frobnicate'],
      2,
      /^manifold: unknown command "frobnicate"\n\nmanifold 9\.9\.9: [^\n]+\n\nusage: manifold <command>/,
    ],
    [['--frob'], 2, /^manifold: unknown flag "--frob"/],
    [
      ['install', '--bin-dir', '/x'],
      2,
      /^manifold install: --conf-dir is required\nusage: manifold install --bin-dir DIR/,
    ],
    [
      ['install', '--bin-dir', '/x', '--conf-dir', '/y', '--colour'],
      2,
      /^manifold install: unknown flag --colour\n/,
    ],
    [['install', '--bin-dir'], 2, /--bin-dir needs a value/],
    [['uninstall', 'stray'], 2, /unexpected argument "stray"/],
    [
      ['install', '--bin-dir', '/nonexistent/bin', '--conf-dir', '/nonexistent/conf'],
      1,
      /^manifold install: [^\n]+\n$/,
    ],
  ])('%j: exit %i, one line', async (args, code, msg) => {
    const r = await cli(...args);
    expect(r.code).toBe(code);
    expect(r.err).toMatch(msg);
    expect(r.err).not.toMatch(/\n\s+at /);
  });
});

describe('install / uninstall on a node with flannel', () => {
  it('copies the executable, wraps flannel as the master, names the kubeconfig; a valid manifold config', async () => {
    const n = node();
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
          delegates: [{ ...FLANNEL, manifold: { exec: true } }],
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
    const n = node();
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
    const n = node();
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
    writeFileSync(join(n.confDir, '00-manifold.conflist'), JSON.stringify(FLANNEL));
    await expect(uninstall(n.confDir)).rejects.toThrow(/is not a manifold config: left alone/);
  });

  it('in a pod: writes a kubeconfig from the service account, token as a file beside it', async () => {
    const n = node();
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
