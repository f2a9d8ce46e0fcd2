/**
 * The built executable as the meta-plugin, driven by libcni (what containerd and CRI-O use):
 * a conflist whose first plugin is manifold, delegating to a built-in (macvlan, in-process)
 * and to Debian's reference ptp (executed from CNI_PATH), with DEL and CHECK from libcni's
 * own result cache.
 */
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ip, ipJson, isolateHost, newNetns } from '../helpers/host.ts';
import { cniAdd, cniCheck, cniDel, writeConfFile } from '../helpers/libcni.ts';
import { REFERENCE_PLUGIN_DIR, requireReferencePlugins } from '../helpers/reference.ts';
import { scratchDir } from '../helpers/scratch.ts';

const BIN = resolve('dist/bin');
isolateHost();
const tmp = scratchDir('mf-e2e-meta-');
const dataDir = join(tmp, 'ipam');

beforeAll(() => {
  if (!existsSync(join(BIN, 'manifold')))
    throw new Error('dist/bin/manifold is missing: run ./build.sh first');
  requireReferencePlugins('ptp', 'host-local');
  ip('link', 'add', 'em0', 'type', 'veth', 'peer', 'name', 'em0p');
  ip('link', 'set', 'em0', 'up');
});

function conf(version: string, name: string) {
  return {
    cniVersion: version,
    name,
    plugins: [
      {
        type: 'manifold',
        cniDir: join(tmp, 'cache'),
        delegates: [
          {
            name: 'mv',
            type: 'macvlan',
            master: 'em0',
            ipam: { type: 'host-local', dataDir, subnet: '10.61.0.0/24' },
          },
          { name: 'pp', type: 'ptp', ipam: { type: 'host-local', dataDir, subnet: '10.62.0.0/24' } },
        ],
      },
    ],
  };
}

describe.each(['0.4.0', '1.0.0'])('manifold through libcni, cniVersion %s', (version) => {
  it('ADD gives the merged result, CHECK passes, DEL leaves nothing', async () => {
    const pod = newNetns();
    const file = writeConfFile(conf(version, `meta-${version.replace(/\./g, '')}`), tmp);
    const opts = {
      conf: file,
      netns: pod.path,
      ifname: 'eth0',
      containerId: `e2e${version.replace(/\./g, '')}`,
      cniPath: [BIN, REFERENCE_PLUGIN_DIR],
      cacheDir: join(tmp, 'libcni'),
    };
    const add = await cniAdd(opts);
    expect(add.ok, JSON.stringify(add)).toBe(true);
    if (!add.ok) return;
    expect(add.result.cniVersion).toBe(version);
    expect(add.result.interfaces?.map((i) => i.name)).toEqual(expect.arrayContaining(['eth0', 'net1']));
    expect(
      add.result.ips?.map((i) => i.address.split('/')[0]?.split('.').slice(0, 3).join('.')).sort(),
    ).toEqual(['10.61.0', '10.62.0']);
    const names = ipJson<{ ifname: string }[]>('-n', pod.name, 'link', 'show').map((l) => l.ifname);
    expect(names).toEqual(expect.arrayContaining(['eth0', 'net1']));

    const check = await cniCheck(opts);
    expect(check.ok, JSON.stringify(check)).toBe(true);

    const del = await cniDel(opts);
    expect(del.ok, JSON.stringify(del)).toBe(true);
    expect(ipJson<{ ifname: string }[]>('-n', pod.name, 'link', 'show').map((l) => l.ifname)).toEqual(['lo']);
    const left = readdirSync(dataDir).flatMap((n) =>
      readdirSync(join(dataDir, n)).filter((f) => /^\d+\.\d+/.test(f)),
    );
    expect(left).toEqual([]);
  });
});

describe('failure and waiting, through libcni', () => {
  function opts(file: string, netns: string, id: string) {
    return {
      conf: file,
      netns,
      ifname: 'eth0',
      containerId: id,
      cniPath: [BIN, REFERENCE_PLUGIN_DIR],
      cacheDir: join(tmp, 'libcni'),
    };
  }

  it('a failing delegate rolls the others back: nothing is left in the pod or the IP store', async () => {
    const pod = newNetns();
    const c = conf('1.0.0', 'meta-broken');
    const list = c.plugins[0] as { delegates: object[] };
    list.delegates.push({ name: 'bad', type: 'macvlan', master: 'no-such-master' });
    const add = await cniAdd(opts(writeConfFile(c, tmp), pod.path, 'e2ebroken'));
    expect(add.ok).toBe(false);
    if (add.ok) return;
    expect(add.error.msg).toMatch(
      /^delegate "bad" \(macvlan\) failed: failed to find master "no-such-master"/,
    );
    expect(ipJson<{ ifname: string }[]>('-n', pod.name, 'link', 'show').map((l) => l.ifname)).toEqual(['lo']);
    const left = readdirSync(dataDir).flatMap((n) =>
      readdirSync(join(dataDir, n)).filter((f) => /^\d+\.\d+/.test(f)),
    );
    expect(left).toEqual([]);
  });

  it('ADD waits for the readiness indicator file', async () => {
    const pod = newNetns();
    const flag = join(tmp, 'cluster-ready');
    const c = conf('1.0.0', 'meta-ready');
    Object.assign(c.plugins[0] as object, { readinessindicatorfile: flag, readinessTimeoutSeconds: 10 });
    const o = opts(writeConfFile(c, tmp), pod.path, 'e2eready');
    let written = false;
    const timer = setTimeout(() => {
      writeFileSync(flag, '');
      written = true;
    }, 500);
    const add = await cniAdd(o);
    clearTimeout(timer);
    expect(add.ok, JSON.stringify(add)).toBe(true);
    expect(written, 'ADD returned before the readiness file appeared').toBe(true);
    expect((await cniDel(o)).ok).toBe(true);
  });
});
