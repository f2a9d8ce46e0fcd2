/**
 * manifold explain without root: the forecast of each built-in and of the meta-plugin — the
 * next host-local address after the store's last reservation, requested addresses, pretend
 * reservations shared across one dry run, interface names, in-process or executed, the merged
 * result — and that it writes nothing: the store is byte for byte as before, a missing
 * dataDir stays missing. (test/integration/explain.test.ts runs ADD after explain and
 * compares on the real kernel.)
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { hostVethName } from '../../../plugins/vxlan/names.ts';
import { cli } from '../../../test/helpers/cli.ts';
import { scratchDir } from '../../../test/helpers/scratch.ts';
import type { Explanation } from './explanation.ts';

const dir = scratchDir('mf-explain-');
let n = 0;

function file(content: object, ext = 'conf'): string {
  const f = join(dir, `e${++n}.${ext}`);
  writeFileSync(f, JSON.stringify(content, null, 2));
  return f;
}

function snapshot(d: string): string[] {
  if (!existsSync(d)) return [];
  return readdirSync(d, { recursive: true, withFileTypes: true }).map((e) => {
    const p = join(e.parentPath, e.name);
    const st = statSync(p);
    return `${p} ${st.mtimeMs} ${e.isFile() ? readFileSync(p, 'utf8') : 'dir'}`;
  });
}

async function explain(args: string[], env: Record<string, string> = {}): Promise<Explanation> {
  const r = await cli(['explain', '--json', ...args], { env });
  expect(r.code, r.out + r.err).toBe(0);
  return JSON.parse(r.out) as Explanation;
}

const macvlan = (name: string, dataDir: string, extra: object = {}) => ({
  cniVersion: '1.0.0',
  name,
  type: 'macvlan',
  master: 'eth1',
  ipam: {
    type: 'host-local',
    dataDir,
    ranges: [[{ subnet: '10.1.0.0/24', rangeStart: '10.1.0.2', rangeEnd: '10.1.0.9' }]],
  },
  ...extra,
});

describe('explain: host-local', () => {
  it('the next address after last_reserved_ip, read from the store; nothing written', async () => {
    const dataDir = join(dir, 'ipam1');
    mkdirSync(join(dataDir, 'mv'), { recursive: true });
    writeFileSync(join(dataDir, 'mv', '10.1.0.2'), 'other-pod\r\neth0');
    writeFileSync(join(dataDir, 'mv', '10.1.0.4'), 'third-pod\r\neth0');
    writeFileSync(join(dataDir, 'mv', 'last_reserved_ip.0'), '10.1.0.3');
    const before = snapshot(dataDir);
    const e = await explain([file(macvlan('mv', dataDir))]);
    expect(e.result.ips).toEqual([{ address: '10.1.0.5/24', gateway: '10.1.0.1', interface: 0 }]);
    expect(e.attachments[0]?.sources).toEqual([
      'host-local next free address of range 10.1.0.2-10.1.0.9 (range set 0)',
    ]);
    expect(e.attachments[0]?.plugins[0]?.notes).toContain(
      `host-local store ${join(dataDir, 'mv')}: 2 address(es) reserved now, last reserved 10.1.0.3`,
    );
    expect(snapshot(dataDir)).toEqual(before);
  });

  it('creates no store: a dataDir that is not there stays away', async () => {
    const dataDir = join(dir, 'never');
    const e = await explain([file(macvlan('mv', dataDir))]);
    expect(e.result.ips?.[0]?.address).toBe('10.1.0.2/24');
    expect(existsSync(dataDir)).toBe(false);
  });

  it('a requested address (CNI_ARGS IP), and ADD refused as ADD would refuse it', async () => {
    const dataDir = join(dir, 'ipam2');
    const f = file(macvlan('mv', dataDir));
    const e = await explain([f], { CNI_ARGS: 'IP=10.1.0.7' });
    expect(e.result.ips?.[0]?.address).toBe('10.1.0.7/24');
    expect(e.attachments[0]?.sources[0]).toMatch(
      /^host-local requested address, in range 10\.1\.0\.2-10\.1\.0\.9/,
    );
    const bad = await cli(['explain', f], { env: { CNI_ARGS: 'IP=10.9.9.9' } });
    expect(bad.code).toBe(1);
    expect(bad.out).toBe(
      'ADD would fail: network "mv" (macvlan): failed to allocate all requested IPs: 10.9.9.9 (CNI error 999)\n',
    );
    const full = join(dir, 'ipam3');
    mkdirSync(join(full, 'mv'), { recursive: true });
    for (let i = 2; i <= 9; i++) writeFileSync(join(full, 'mv', `10.1.0.${i}`), `p${i}\r\neth0`);
    const none = await cli(['explain', file(macvlan('mv', full))]);
    expect(none.code).toBe(1);
    expect(none.out).toMatch(/no IP addresses available in range set: 10\.1\.0\.2-10\.1\.0\.9/);
  });

  it('two attachments of one network in one dry run get two addresses, as two ADDs would', async () => {
    const dataDir = join(dir, 'ipam4');
    const net = macvlan('mv', dataDir);
    const e = await explain([
      file({
        cniVersion: '1.1.0',
        name: 'pod',
        type: 'manifold',
        cniDir: '/c',
        delegates: [net, { ...net, master: 'eth2' }],
      }),
    ]);
    expect(e.result.ips?.map((i) => [i.address, i.interface])).toEqual([
      ['10.1.0.2/24', 0],
      ['10.1.0.3/24', 1],
    ]);
  });
});

describe('explain: the meta-plugin', () => {
  const dataDir = join(dir, 'ipam-meta');
  const conf = {
    cniVersion: '1.1.0',
    name: 'pod-nets',
    type: 'manifold',
    cniDir: '/var/lib/x',
    delegates: [
      {
        cniVersion: '1.0.0',
        name: 'br',
        type: 'bridge',
        bridge: 'br9',
        isDefaultGateway: true,
        ipam: { type: 'host-local', dataDir, subnet: '10.8.0.0/24' },
      },
      macvlan('mv', dataDir, {
        ipam: {
          type: 'host-local',
          dataDir,
          subnet: '10.9.0.0/24',
          routes: [{ dst: '0.0.0.0/0' }, { dst: '10.99.0.0/16' }],
        },
      }),
      {
        cniVersion: '1.0.0',
        name: 'vx',
        type: 'vxlan',
        vni: 5,
        port: 4789,
        mode: 'bridge',
        manifold: { ifname: 'ovl0' },
        ipam: { type: 'static', addresses: [{ address: '10.7.0.5/24', gateway: '10.7.0.1' }] },
      },
      { cniVersion: '1.0.0', name: 'ext', plugins: [{ type: 'ptp' }, { type: 'tuning', mtu: 1400 }] },
    ],
  };

  it('order, interface names, where each plugin runs, the merged result', async () => {
    const e = await explain([file(conf), '--container-id', 'c-42', '--netns', '/run/netns/p42']);
    expect(e.attachments.map((a) => [a.ifname, a.network, a.master])).toEqual([
      ['eth0', 'br', true],
      ['net1', 'mv', false],
      ['ovl0', 'vx', false],
      ['net3', 'ext', false],
    ]);
    expect(e.attachments.map((a) => a.plugins.map((p) => `${p.type}: ${p.runs}`))).toEqual([
      ['bridge: in-process', 'multi-homing: in-process (manifold, after the delegates)'],
      ['macvlan: in-process', 'multi-homing: in-process (manifold, after the delegates)'],
      ['vxlan: in-process'],
      [
        'ptp: executed from the search path, but not found in []: ADD would fail',
        'tuning: executed from the search path, but not found in []: ADD would fail',
      ],
    ]);
    expect(e.complete).toBe(false);
    expect(e.result.interfaces).toEqual([
      { name: 'br9' },
      { name: '<host veth, named at ADD>' },
      { name: 'eth0', sandbox: '/run/netns/p42' },
      { name: 'net1', sandbox: '/run/netns/p42' },
      { name: 'vxbr5' },
      { name: hostVethName('vx', 'c-42', 'ovl0') },
      { name: 'ovl0', sandbox: '/run/netns/p42' },
    ]);
    expect(e.result.ips).toEqual([
      { address: '10.8.0.2/24', gateway: '10.8.0.1', interface: 2 },
      { address: '10.9.0.2/24', gateway: '10.9.0.1', interface: 3 },
      { address: '10.7.0.5/24', gateway: '10.7.0.1', interface: 6 },
    ]);
    // the bridge's isDefaultGateway route is the master's; macvlan's default route is left out
    expect(e.result.routes).toEqual([{ dst: '0.0.0.0/0', gw: '10.8.0.1' }, { dst: '10.99.0.0/16' }]);
  });

  it('in text: the attachments, the dropped default route, the result, and that nothing was done', async () => {
    const r = await cli(['explain', file(conf)]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(
      /^network "pod-nets" \(manifold, cniVersion 1\.1\.0\) for container "manifold-explain"/,
    );
    expect(r.out).toMatch(/4 attachment\(s\), made in this order \(DEL removes them in reverse\):/);
    expect(r.out).toMatch(/ {2}2\. net1: network "mv", cniVersion 1\.0\.0, from delegates\[1\]/);
    // multi-homing (as ADD): macvlan's default route goes, only the master keeps one
    expect(r.out).toMatch(/multi-homing: the pod's default routes \(IPv4\) are put right in the kernel/);
    expect(r.out).toMatch(
      /its default route 0\.0\.0\.0\/0 is removed from the pod: eth0 owns the IPv4 default route/,
    );
    expect(r.out).toMatch(/keeps the pod's IPv4 default route \(the only one in the kernel\)/);
    expect(r.out).toMatch(
      /a dry run: nothing was created and no address was reserved; parts marked above are known only at ADD\.\n$/,
    );
  });

  it('clusterNetwork and defaultNetworks from --conf-dir (the demo config)', async () => {
    const e = await explain(['--conf-dir', 'conf.d-examples', 'conf.d-examples/00-manifold.conf']);
    expect(e.attachments.map((a) => [a.ifname, a.network, a.plugins[0]?.type])).toEqual([
      ['eth0', 'bridge-net', 'bridge'],
      ['net1', 'macvlan-net', 'macvlan'],
      ['net2', 'vxlan-net', 'vxlan'],
    ]);
    expect(e.complete).toBe(true);
  });

  it("warns as validate would about the attachments together (a master can't carry macvlan and ipvlan)", async () => {
    const e = await explain([
      file({
        cniVersion: '1.0.0',
        name: 'm',
        type: 'manifold',
        delegates: [
          { name: 'a', type: 'macvlan', master: 'eth1' },
          { name: 'b', type: 'ipvlan', master: 'eth1' },
        ],
      }),
    ]);
    expect(e.warnings).toEqual([
      'net1: master: master "eth1" also carries macvlan: network "a" (eth0); the kernel takes macvlan or ipvlan on one master, not both (the second ADD fails with EBUSY)',
    ]);
  });

  it('refuses what ADD refuses, with its message', async () => {
    const nested = file({
      cniVersion: '1.0.0',
      name: 'm',
      type: 'manifold',
      delegates: [{ name: 'x', type: 'manifold', delegates: [] }],
    });
    const r = await cli(['explain', nested]);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(
      /^ADD would fail: delegates\[0\]\.type: a delegate of type "manifold" is refused.*\(CNI error 7\)\n$/,
    );
  });
});

describe('explain: a Kubernetes pod (--networks, --nad)', () => {
  const meta = ['--conf-dir', 'conf.d-examples', 'conf.d-examples/00-manifold.conf'];
  it("the configured delegates, then the annotation's, from the NAD files", async () => {
    const e = await explain([
      '--networks',
      'macvlan-net@data0, bridge-net',
      '--nad',
      'conf.d-examples/nad',
      ...meta,
    ]);
    expect(e.attachments.map((a) => [a.ifname, a.network, a.source])).toEqual([
      ['eth0', 'bridge-net', expect.stringMatching(/20-bridge\.conf$/)],
      ['net1', 'macvlan-net', expect.stringMatching(/10-macvlan\.conf$/)],
      ['net2', 'vxlan-net', expect.stringMatching(/30-vxlan\.conf$/)],
      ['data0', 'macvlan-net', 'NetworkAttachmentDefinition default/macvlan-net'],
      ['net4', 'bridge-net', 'NetworkAttachmentDefinition default/bridge-net'],
    ]);
  });

  it('what ADD refuses: a NAD that is not there, namespace isolation, a device only the device plugin knows', async () => {
    const missing = await cli(['explain', '--networks', 'nope', '--nad', 'conf.d-examples/nad', ...meta]);
    expect(missing.out).toMatch(
      /^ADD would fail: pod in namespace default \(annotation k8s\.v1\.cni\.cncf\.io\/networks\) asks for network "default\/nope": no such NetworkAttachmentDefinition/,
    );
    const isolated = file({
      cniVersion: '1.0.0',
      name: 'iso',
      type: 'manifold',
      namespaceIsolation: true,
      delegates: [macvlan('mv', join(dir, 'i'))],
    });
    const iso = await cli([
      'explain',
      '--namespace',
      'team-a',
      '--networks',
      'default/macvlan-net,other/x',
      '--nad',
      'conf.d-examples/nad',
      isolated,
    ]);
    expect(iso.out).toMatch(
      /^ADD would fail: namespace isolation: pod in namespace "team-a" may not use network "other\/x"/,
    );
    const vf = await cli(['explain', '--networks', 'sriov-net', '--nad', 'conf.d-examples/nad', ...meta]);
    expect(vf.out).toMatch(
      /takes a device of resource "intel\.com\/sriov_netdevice" from the device plugin at ADD/,
    );
    const bad = await cli(['explain', '--networks', 'a/b/c', '--nad', 'conf.d-examples/nad', ...meta]);
    expect(bad.out).toMatch(
      /^ADD would fail: pod annotation k8s\.v1\.cni\.cncf\.io\/networks: "a\/b\/c": more than one "\/"/,
    );
  });

  it('usage: --nad without --networks, --networks for a plain network', async () => {
    expect((await cli(['explain', '--nad', 'x', ...meta])).err).toMatch(
      /^manifold explain: --nad and --namespace go with --networks\n/,
    );
    const plain = await cli(['explain', '--networks', 'x', 'conf.d-examples/10-macvlan.conf']);
    expect(plain.code).toBe(2);
    expect(plain.err).toMatch(/^manifold explain: --networks is for a manifold config/);
  });
});

describe('explain: NADs and plain networks', () => {
  it('a NAD is explained as a pod attachment', async () => {
    const e = await explain(['--ifname', 'net1', 'conf.d-examples/nad/macvlan.yaml']);
    expect(e.notes[0]).toBe(
      'a pod attachment of NetworkAttachmentDefinition default/macvlan-net (its spec.config)',
    );
    expect(e.result.interfaces).toEqual([{ name: 'net1', sandbox: '/var/run/netns/manifold-explain' }]);
    expect(e.result.ips?.[0]?.address).toMatch(/^10\.10\.1\.\d+\/16$/);
  });

  it('CAP_ARGS reach only the plugins that declare the capability (as libcni passes them)', async () => {
    const f = file({
      cniVersion: '1.0.0',
      name: 'st',
      type: 'macvlan',
      master: 'eth1',
      capabilities: { ips: true },
      ipam: { type: 'static' },
    });
    const e = await explain([f], {
      CAP_ARGS: JSON.stringify({ ips: ['10.4.0.9/24'], mac: '0a:00:00:00:00:01' }),
    });
    expect(e.result.ips).toEqual([{ address: '10.4.0.9/24', interface: 0 }]);
    expect(e.result.interfaces?.[0]?.mac).toBeUndefined();
  });

  it('usage errors', async () => {
    expect((await cli(['explain'])).err).toMatch(/^manifold explain: missing FILE\n/);
    expect((await cli(['explain', 'a', 'b'])).err).toMatch(/^manifold explain: unexpected argument "b"\n/);
    const r = await cli(['explain', '/nonexistent/x.conf']);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^manifold explain: \/nonexistent\/x\.conf: cannot read it: [^\n]+\n$/);
  });
});
