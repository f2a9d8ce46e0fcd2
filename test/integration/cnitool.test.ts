/**
 * manifold add|check|del|gc|status on the real kernel, driven through runCli as a person runs
 * them: the network found in NETCONFPATH, plugins found in CNI_PATH — this executable's own
 * names (a bin dir of links to the "executable") in-process, Debian's reference plugins
 * executed — the libcni result cache written, read and removed, addresses released.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { containerIdFor } from '../../src/cli/common/tool-env.ts';
import { cli } from '../helpers/cli.ts';
import { ip, ipJson, isolateHost, newNetns, requireRoot } from '../helpers/host.ts';
import { REFERENCE_PLUGIN_DIR, requireReferencePlugins } from '../helpers/reference.ts';
import { scratchDir } from '../helpers/scratch.ts';

requireRoot();
isolateHost();
const tmp = scratchDir('mf-cnitool-');
const bin = join(tmp, 'bin');
const netd = join(tmp, 'net.d');
const cacheDir = join(tmp, 'libcni');
const dataDir = join(tmp, 'ipam');
const self = join(bin, 'manifold');

beforeAll(() => {
  requireReferencePlugins('tuning');
  mkdirSync(bin);
  mkdirSync(netd);
  writeFileSync(self, '#!/bin/sh\nexit 99\n', { mode: 0o755 }); // stands for this executable: never run
  for (const t of ['macvlan', 'host-local']) symlinkSync('manifold', join(bin, t));
  symlinkSync(join(REFERENCE_PLUGIN_DIR, 'tuning'), join(bin, 'tuning'));
  ip('link', 'add', 'cm0', 'type', 'veth', 'peer', 'name', 'cm0p');
  ip('link', 'set', 'cm0', 'up');
  const ipam = (subnet: string) => ({ type: 'host-local', dataDir, subnet });
  writeFileSync(
    join(netd, '10-mv.conf'),
    JSON.stringify({
      cniVersion: '1.0.0',
      name: 'mv',
      type: 'macvlan',
      master: 'cm0',
      ipam: ipam('10.80.0.0/24'),
    }),
  );
  writeFileSync(
    join(netd, '20-tuned.conflist'),
    JSON.stringify({
      cniVersion: '1.0.0',
      name: 'tuned',
      plugins: [
        { type: 'macvlan', master: 'cm0', ipam: ipam('10.81.0.0/24') },
        { type: 'tuning', mtu: 1400 },
      ],
    }),
  );
  writeFileSync(
    join(netd, '30-pod.conflist'),
    JSON.stringify({
      cniVersion: '1.1.0',
      name: 'pod',
      plugins: [
        {
          type: 'manifold',
          cniDir: join(tmp, 'meta'),
          delegates: [
            { name: 'a', type: 'macvlan', master: 'cm0', ipam: ipam('10.82.0.0/24') },
            { name: 'b', type: 'macvlan', master: 'cm0', ipam: ipam('10.83.0.0/24') },
          ],
        },
      ],
    }),
  );
});

const env = { NETCONFPATH: netd, CNI_PATH: bin };
const run = (...args: string[]) => cli([...args, '--cache-dir', cacheDir], { env, execPath: self });
const podLinks = (ns: string) =>
  ipJson<{ ifname: string; mtu: number }[]>('-n', ns, 'link', 'show').filter((l) => l.ifname !== 'lo');
const reservations = (net: string) =>
  existsSync(join(dataDir, net)) ? readdirSync(join(dataDir, net)).filter((f) => /^\d+\./.test(f)) : [];

describe('manifold add, check, del (cnitool style)', () => {
  it('a conf: the result printed and cached as libcni caches it, CHECK, DEL releases everything', async () => {
    const pod = newNetns();
    const id = containerIdFor(pod.path);
    const add = await run('add', 'mv', pod.path);
    expect(add.code, add.err).toBe(0);
    expect(add.out).toMatch(/^\{\n {4}"cniVersion": "1\.0\.0",\n {4}"interfaces": \[/);
    const result = JSON.parse(add.out);
    expect(result.interfaces).toEqual([expect.objectContaining({ name: 'eth0', sandbox: pod.path })]);
    expect(result.ips).toEqual([{ address: '10.80.0.2/24', gateway: '10.80.0.1', interface: 0 }]);
    expect(result.dns).toEqual({});
    expect(podLinks(pod.name).map((l) => l.ifname)).toEqual(['eth0']);
    const cached = JSON.parse(readFileSync(join(cacheDir, 'results', `mv-${id}-eth0`), 'utf8'));
    expect(cached).toMatchObject({
      kind: 'cniCacheV1',
      containerId: id,
      ifName: 'eth0',
      networkName: 'mv',
      netns: pod.path,
      result,
    });
    expect(JSON.parse(Buffer.from(cached.config, 'base64').toString())).toMatchObject({
      name: 'mv',
      plugins: [{ type: 'macvlan' }],
    });
    expect(readFileSync(join(dataDir, 'mv', '10.80.0.2'), 'utf8')).toBe(`${id}\r\neth0`);

    const check = await run('check', 'mv', pod.path);
    expect(check.code, check.err).toBe(0);
    const again = await run('add', 'mv', pod.path);
    expect(again.code).toBe(1);
    expect(again.err).toMatch(
      /^manifold add: plugin type="macvlan" name="mv" failed \(add\): .*already exists/,
    );
    expect(podLinks(pod.name).map((l) => l.ifname)).toEqual(['eth0']);

    const del = await run('del', 'mv', pod.path);
    expect(del.code, del.err).toBe(0);
    expect(podLinks(pod.name)).toEqual([]);
    expect(reservations('mv')).toEqual([]);
    expect(existsSync(join(cacheDir, 'results', `mv-${id}-eth0`))).toBe(false);
    expect((await run('del', 'mv', pod.path)).code).toBe(0);
  });

  it('CNI_IFNAME and --ifname; a conflist chaining an executed reference plugin', async () => {
    const pod = newNetns();
    const add = await cli(['add', 'tuned', pod.path, '--cache-dir', cacheDir], {
      env: { ...env, CNI_IFNAME: 'net4' },
      execPath: self,
    });
    expect(add.code, add.err).toBe(0);
    expect(podLinks(pod.name)).toEqual([expect.objectContaining({ ifname: 'net4', mtu: 1400 })]);
    expect((await run('check', 'tuned', pod.path, '--ifname', 'net4')).code).toBe(0);
    expect((await run('del', 'tuned', pod.path, '--ifname', 'net4')).code).toBe(0);
    expect(podLinks(pod.name)).toEqual([]);
    expect(reservations('tuned')).toEqual([]);
  });

  it('a manifold conflist: the meta-plugin runs in-process; gc deletes every cached attachment of the network', async () => {
    const pods = [newNetns(), newNetns()];
    for (const p of pods) {
      const r = await run('add', 'pod', p.path);
      expect(r.code, r.err).toBe(0);
      expect(JSON.parse(r.out).interfaces.map((i: { name: string }) => i.name)).toEqual(['eth0', 'net1']);
      expect(
        podLinks(p.name)
          .map((l) => l.ifname)
          .sort(),
      ).toEqual(['eth0', 'net1']);
    }
    const status = await cli(['status', 'pod'], { env, execPath: self });
    expect(status.code, status.err).toBe(0);
    expect(status.err).toBe('manifold status: pod: ready\n');
    const gc = await run('gc', 'pod');
    expect(gc.code, gc.err).toBe(0);
    expect(gc.err).toMatch(/^manifold gc: pod: 2 cached attachment\(s\) deleted/);
    for (const p of pods) expect(podLinks(p.name)).toEqual([]);
    expect([...reservations('a'), ...reservations('b')]).toEqual([]);
    expect(readdirSync(join(cacheDir, 'results')).filter((f) => f.startsWith('pod-'))).toEqual([]);
  });

  it('--log-level verbose --log-format text: the steps on stderr', async () => {
    const pod = newNetns();
    const add = await run('add', 'mv', pod.path, '--log-level', 'verbose', '--log-format', 'text');
    expect(add.code, add.err).toBe(0);
    const id = containerIdFor(pod.path);
    expect(add.err).toMatch(
      new RegExp(
        `\\[verbose\\] macvlan\\[\\d+\\] ADD ${id}/eth0: netns open: ${pod.path} {2}step="netns open" ms=`,
      ),
    );
    for (const step of ['"link create"', 'IPAM', 'addresses', 'routes'])
      expect(add.err).toMatch(new RegExp(`step=${step} ms=\\d`));
    expect((await run('del', 'mv', pod.path)).code).toBe(0);
  });
});
