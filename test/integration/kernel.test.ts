import { describe, expect, it } from 'vitest';
import * as addr from '../../src/kernel/addr.ts';
import { isErrno } from '../../src/kernel/errors.ts';
import * as kinds from '../../src/kernel/kinds.ts';
import * as link from '../../src/kernel/link.ts';
import * as neigh from '../../src/kernel/neigh.ts';
import { NetNS, NetnsMissingError } from '../../src/kernel/netns.ts';
import * as route from '../../src/kernel/route.ts';
import { Rtnl } from '../../src/kernel/socket.ts';
import * as sysctl from '../../src/kernel/sysctl.ts';
import { ip, ipJson, isolateHost, newNetns } from '../helpers/host.ts';

isolateHost();

describe('netns', () => {
  it('opens a named namespace and tells a missing one apart', () => {
    const p = newNetns();
    const ns = NetNS.open(p.path);
    expect(ns.same(NetNS.current())).toBe(false);
    ns.close();
    expect(() => NetNS.open('/run/netns/does-not-exist')).toThrow(NetnsMissingError);
    expect(() => NetNS.open('/etc/hostname')).toThrow(/not a network namespace/);
  });

  it('runs code inside a namespace and always returns', () => {
    const p = newNetns();
    const ns = NetNS.open(p.path);
    const host = NetNS.current();
    const inside = ns.run(() => NetNS.current());
    expect(inside.same(ns)).toBe(true);
    expect(NetNS.current().same(host)).toBe(true);
    expect(() =>
      ns.run(() => {
        throw new Error('boom');
      }),
    ).toThrow('boom');
    expect(NetNS.current().same(host)).toBe(true);
  });
});

describe('links, addresses, routes in a pod namespace', () => {
  it('creates a macvlan in the pod at creation, renames, configures and deletes it', async () => {
    ip('link', 'add', 'mst0', 'type', 'veth', 'peer', 'name', 'mst0p');
    ip('link', 'set', 'mst0', 'up');
    const p = newNetns();
    const ns = NetNS.open(p.path);
    const host = Rtnl.open();
    const pod = Rtnl.open(ns);
    const master = await link.mustByName(host, 'mst0');
    await link.create(host, {
      name: 'tmp1234',
      kind: 'macvlan',
      parent: master.index,
      netns: ns,
      mtu: 1400,
      data: kinds.macvlanData('bridge'),
    });
    expect(await link.byName(host, 'tmp1234')).toBeUndefined();
    const tmp = await link.mustByName(pod, 'tmp1234');
    await link.set(pod, tmp.index, { name: 'net1', mac: '0a:58:0a:01:00:05', up: true });
    const l = await link.mustByName(pod, 'net1');
    expect(l.kind).toBe('macvlan');
    expect(kinds.macvlanMode(l)).toBe('bridge');
    expect(l.mtu).toBe(1400);
    expect(l.mac).toBe('0a:58:0a:01:00:05');
    expect(l.up).toBe(true);
    sysctl.set(ns, { 'net/ipv4/conf/net1/arp_notify': '1' });
    expect(sysctl.get(ns, 'net/ipv4/conf/net1/arp_notify')).toBe('1');
    expect(sysctl.get(undefined, 'net/ipv4/conf/mst0/arp_notify')).toBe('0');

    await addr.add(pod, l.index, '10.9.0.5/24', 'net1');
    await addr.add(pod, l.index, 'fd09::5/64', 'net1', { noDad: true });
    const addrs = await addr.list(pod, { index: l.index });
    expect(addrs.map((a) => a.cidr).sort()).toEqual(['10.9.0.5/24', 'fd09::5/64']);
    const shown = ipJson<{ addr_info: { local: string; broadcast?: string }[] }[]>(
      '-n',
      p.name,
      'addr',
      'show',
      'net1',
    );
    expect(shown[0]?.addr_info.find((a) => a.local === '10.9.0.5')?.broadcast).toBe('10.9.0.255');
    await expect(addr.add(pod, l.index, '10.9.0.5/24', 'net1')).rejects.toThrow(/file exists/);

    await route.add(pod, { dst: '0.0.0.0/0', gw: '10.9.0.1', oif: l.index }, 'net1');
    await route.add(pod, { dst: '10.20.0.0/16', oif: l.index, mtu: 1300, priority: 5 }, 'net1');
    const routes = await route.list(pod, { family: 4, oif: l.index });
    expect(routes.find((r) => r.dst === '0.0.0.0/0')?.gw).toBe('10.9.0.1');
    expect(routes.find((r) => r.dst === '10.20.0.0/16')).toMatchObject({
      mtu: 1300,
      priority: 5,
      scope: 253,
    });
    expect(await route.defaultRouteOif(pod)).toBe(l.index);

    await route.remove(pod, { dst: '10.20.0.0/16', oif: l.index, priority: 5 }, 'net1');
    await route.remove(pod, { dst: '10.20.0.0/16', oif: l.index, priority: 5 }, 'net1');
    expect((await route.list(pod, { family: 4, oif: l.index })).some((r) => r.dst === '10.20.0.0/16')).toBe(
      false,
    );
    await addr.remove(pod, l.index, '10.9.0.5/24', 'net1');
    await addr.remove(pod, l.index, '10.9.0.5/24', 'net1');

    await link.remove(pod, l.index, 'link "net1"');
    await link.remove(pod, l.index, 'link "net1"');
    expect(await link.byName(pod, 'net1')).toBeUndefined();
    host.close();
    pod.close();
  });

  it('maps kernel refusals to messages naming the object', async () => {
    const host = Rtnl.open();
    const err = await link
      .create(
        host,
        { name: 'x1', kind: 'macvlan', parent: 99999, data: kinds.macvlanData('bridge') },
        'macvlan on master "nope"',
      )
      .catch((e: unknown) => e);
    expect(String((err as Error).message)).toMatch(/^failed to create macvlan on master "nope": /);
    await link.create(host, { name: 'dup0', kind: 'bridge' });
    const dup = await link.create(host, { name: 'dup0', kind: 'bridge' }).catch((e: unknown) => e);
    expect(isErrno(dup, 'EEXIST')).toBe(true);
    expect((dup as Error).message).toBe('failed to create bridge "dup0": file exists');
    host.close();
  });

  it('creates veth pairs across namespaces, bridges and vxlan with FDB entries', async () => {
    const host = Rtnl.open();
    const p = newNetns();
    const ns = NetNS.open(p.path);
    await link.create(host, { name: 'br7', kind: 'bridge', up: true });
    await link.create(host, {
      name: 'vh7',
      kind: 'veth',
      rawData: link.vethData({ name: 'vp7', netns: ns, mtu: 1450 }),
      mtu: 1450,
    });
    expect((await link.mustByName(host, 'vh7')).mtu).toBe(1450);
    const br = await link.mustByName(host, 'br7');
    const vh = await link.mustByName(host, 'vh7');
    await link.set(host, vh.index, { master: br.index, up: true });
    expect((await link.mustByName(host, 'vh7')).master).toBe(br.index);
    const pod = Rtnl.open(ns);
    const vp = await link.mustByName(pod, 'vp7');
    expect(vp.kind).toBe('veth');
    expect(vp.mtu).toBe(1450);

    await link.create(host, {
      name: 'vx42',
      kind: 'vxlan',
      data: kinds.vxlanData({ vni: 42, port: 4789, learning: false, ttl: 64, local: '192.0.2.1' }),
      mtu: 1400,
    });
    const vx = await link.mustByName(host, 'vx42');
    expect(kinds.vxlanInfo(vx)).toMatchObject({
      vni: 42,
      port: 4789,
      learning: false,
      ttl: 64,
      local: '192.0.2.1',
    });
    for (const remote of ['192.0.2.2', '192.0.2.3']) {
      await neigh.add(
        host,
        { index: vx.index, family: 'bridge', mac: '00:00:00:00:00:00', ip: remote, flags: neigh.FDB_SELF },
        'vx42',
        { append: true },
      );
    }
    await neigh.add(
      host,
      { index: vx.index, family: 'bridge', mac: '0a:00:00:00:00:09', ip: '192.0.2.9', flags: neigh.FDB_SELF },
      'vx42',
    );
    const fdb = (await neigh.list(host, { family: 'bridge', index: vx.index })).filter((n) => n.ip);
    expect(fdb.map((n) => `${n.mac} ${n.ip}`).sort()).toEqual([
      '00:00:00:00:00:00 192.0.2.2',
      '00:00:00:00:00:00 192.0.2.3',
      '0a:00:00:00:00:09 192.0.2.9',
    ]);
    await neigh.remove(
      host,
      { index: vx.index, family: 'bridge', mac: '00:00:00:00:00:00', ip: '192.0.2.2', flags: neigh.FDB_SELF },
      'vx42',
    );
    expect((await neigh.list(host, { family: 'bridge', index: vx.index })).filter((n) => n.ip).length).toBe(
      2,
    );
    host.close();
    pod.close();
  });
});
