/**
 * Two attachments of one pod whose IPAM gives the same route (two
 * macvlans, or two VFs, from one network: common in telco pods). The reference adds the
 * second route next to the first (the kernel keeps both, IPv6 as one multipath route), and
 * each DEL takes only its own away. manifold does the same, side by side with Debian's
 * reference macvlan, standalone and as meta-plugin delegates; CHECK passes on both.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execCni } from '../helpers/exec-plugin.ts';
import { ip, ipJson, isolateHost, newNetns, requireRoot, uniq } from '../helpers/host.ts';
import { cni, ok } from '../helpers/inproc.ts';
import { REFERENCE_PLUGIN_DIR, requireReferencePlugins } from '../helpers/reference.ts';
import { builtinLoader, runWith } from '../helpers/skel.ts';

requireRoot();
isolateHost();
let work: string;

beforeAll(() => {
  requireReferencePlugins('macvlan', 'host-local');
  work = mkdtempSync(join(tmpdir(), 'manifold-it-routes-'));
  ip('link', 'add', 'rtm0', 'type', 'veth', 'peer', 'name', 'rtm0p');
  ip('link', 'set', 'rtm0', 'up');
  ip('link', 'set', 'rtm0p', 'up');
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** Network n (own subnets: the pods share one L2), dual stack, a v4 and a v6 route via its gateways. */
function net(name: string, n: number) {
  return {
    cniVersion: '1.0.0',
    name,
    type: 'macvlan',
    master: 'rtm0',
    ipam: {
      type: 'host-local',
      dataDir: join(work, 'ipam'),
      ranges: [
        [{ subnet: `10.66.${n}.0/24`, gateway: `10.66.${n}.1` }],
        [{ subnet: `fd66:${n}::/64`, gateway: `fd66:${n}::1` }],
      ],
      routes: [
        { dst: '10.67.0.0/16', gw: `10.66.${n}.1` },
        { dst: 'fd67::/64', gw: `fd66:${n}::1` },
      ],
    },
  };
}

interface Hop {
  gateway?: string;
  dev?: string;
}
/** The pod's routes to the shared destinations, as `dst via gw dev` (multipath nexthops apart), sorted. */
function shared(ns: string): string[] {
  const out: string[] = [];
  for (const fam of ['-4', '-6']) {
    for (const r of ipJson<(Hop & { dst: string; nexthops?: Hop[] })[]>('-n', ns, fam, 'route', 'show')) {
      if (r.dst !== '10.67.0.0/16' && r.dst !== 'fd67::/64') continue;
      for (const h of r.nexthops ?? [r]) out.push(`${r.dst} via ${h.gateway ?? '-'} dev ${h.dev}`);
    }
  }
  return out.sort();
}

function both(n: number, devs = ['net1', 'net3']): string[] {
  return devs
    .flatMap((d) => [`10.67.0.0/16 via 10.66.${n}.1 dev ${d}`, `fd67::/64 via fd66:${n}::1 dev ${d}`])
    .sort();
}

describe('the same route on two interfaces of one pod', () => {
  it('the reference keeps both routes, and DEL of one leaves the other (the behaviour to match)', async () => {
    const pod = newNetns();
    const conf = net(uniq('ref'), 1);
    const call = (command: 'ADD' | 'DEL', ifname: string) =>
      execCni(
        join(REFERENCE_PLUGIN_DIR, 'macvlan'),
        { command, containerId: 'ref1', netns: pod.path, ifname, path: [REFERENCE_PLUGIN_DIR] },
        conf,
      );
    expect((await call('ADD', 'net1')).status).toBe(0);
    expect((await call('ADD', 'net3')).status).toBe(0);
    expect(shared(pod.name)).toEqual(both(1));
    expect((await call('DEL', 'net1')).status).toBe(0);
    expect(shared(pod.name)).toEqual(both(1, ['net3']));
    expect((await call('DEL', 'net3')).status).toBe(0);
  });

  it('manifold macvlan: both ADDs succeed, both routes are in the kernel, CHECK passes, DEL removes only its own', async () => {
    const pod = newNetns();
    const conf = net(uniq('mf'), 2);
    const at = (ifname: string) => ({ netns: pod.path, containerId: 'mf1', ifname });
    const r1 = ok(await cni('macvlan', 'ADD', conf, at('net1')));
    const second = await cni('macvlan', 'ADD', conf, at('net3'));
    expect(second.code, second.stdout).toBe(0);
    const r3 = ok(second);
    expect(shared(pod.name)).toEqual(both(2));
    for (const [ifname, r] of [
      ['net1', r1],
      ['net3', r3],
    ] as const) {
      const check = await cni('macvlan', 'CHECK', { ...conf, prevResult: r }, at(ifname));
      expect(check.code, check.stdout).toBe(0);
    }
    ok(await cni('macvlan', 'DEL', conf, at('net1')));
    expect(shared(pod.name)).toEqual(both(2, ['net3']));
    const check = await cni('macvlan', 'CHECK', { ...conf, prevResult: r3 }, at('net3'));
    expect(check.code, check.stdout).toBe(0);
    ok(await cni('macvlan', 'DEL', conf, at('net3')));
  });

  it('manifold meta-plugin: two delegates of one network in one pod', async () => {
    const pod = newNetns();
    const n = net(uniq('meta'), 3);
    const conf = {
      cniVersion: '1.1.0',
      name: 'two-of-one',
      type: 'manifold',
      cniDir: join(work, 'cache'),
      delegates: [
        { ...n, manifold: { ifname: 'net1' } },
        { ...n, manifold: { ifname: 'net3' } },
      ],
    };
    const env = { CNI_CONTAINERID: 'meta1', CNI_NETNS: pod.path, CNI_IFNAME: 'eth0' };
    const add = await runWith(
      builtinLoader('manifold'),
      { ...env, CNI_COMMAND: 'ADD' },
      JSON.stringify(conf),
    );
    expect(add.code, add.stdout).toBe(0);
    expect(shared(pod.name)).toEqual(both(3));
    const del = await runWith(
      builtinLoader('manifold'),
      { ...env, CNI_COMMAND: 'DEL' },
      JSON.stringify(conf),
    );
    expect(del.code, del.stdout).toBe(0);
  });
});
