/**
 * ADD with CNI_NETNS naming the host's own namespace (the one the plugin
 * runs in) is refused for every link plugin and the meta-plugin; otherwise the pod's
 * interface would land in the host. Nothing is created or reserved.
 */
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ip, isolateHost, requireRoot } from '../helpers/host.ts';
import { links } from '../helpers/inproc.ts';
import { builtinLoader, runWith } from '../helpers/skel.ts';

requireRoot();
isolateHost();
let work: string;
beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'manifold-it-hostns-'));
  ip('link', 'add', 'hn0', 'type', 'veth', 'peer', 'name', 'hn0p');
  ip('link', 'set', 'hn0', 'up');
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

const ipam = () => ({ type: 'host-local', dataDir: join(work, 'ipam'), subnet: '10.74.0.0/24' });
const CONFS: Record<string, Record<string, unknown>> = {
  macvlan: { type: 'macvlan', master: 'hn0' },
  bridge: { type: 'bridge', bridge: 'hnbr0' },
  vxlan: { type: 'vxlan', vni: 74, master: 'hn0', mode: 'bridge' },
  manifold: {
    type: 'manifold',
    cniDir: join(tmpdir(), 'unused'),
    delegates: [{ cniVersion: '1.1.0', name: 'd', type: 'macvlan', master: 'hn0' }],
  },
};

describe('CNI_NETNS naming the host namespace', () => {
  it.each(Object.keys(CONFS))('%s: ADD is refused and creates nothing', async (type) => {
    const before = links(undefined)
      .map((l) => l.ifname)
      .sort();
    for (const netns of ['/proc/self/ns/net', `/proc/${process.pid}/ns/net`, '/proc/thread-self/ns/net']) {
      const conf = { cniVersion: '1.1.0', name: `hostns-${type}`, ...CONFS[type], ipam: ipam() };
      const r = await runWith(
        builtinLoader(type),
        { CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'hostns', CNI_NETNS: netns, CNI_IFNAME: 'eth9' },
        JSON.stringify(conf),
      );
      expect(r.code, r.stdout).toBe(1);
      expect(r.json?.code).toBe(4);
      expect(String(r.json?.msg)).toMatch(/^invalid CNI_NETNS ".*": it is the host's own network namespace/);
    }
    expect(
      links(undefined)
        .map((l) => l.ifname)
        .sort(),
    ).toEqual(before);
    const store = join(work, 'ipam');
    const reserved = existsSync(store) ? readdirSync(store, { recursive: true }).map(String) : [];
    expect(reserved.filter((f) => /\d+\.\d+\.\d+\.\d+$/.test(f))).toEqual([]);
  });
});
