/**
 * The multi-homing checks and announcements on the real kernel (docs/multihoming.md), in the
 * lab of test/helpers/multihome-lab.ts plus hosts on net1's segment: one holding a duplicate
 * address, a dead gateway, a neighbour that accepts gratuitous ARP and unsolicited NA (the
 * device handed to Debian's host-device announces nothing itself). IPv4 and IPv6.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ip } from '../helpers/host.ts';
import { lanHost, neighbourMac, uplink } from '../helpers/lan.ts';
import {
  addrOf,
  eth0,
  hostLocal,
  lab,
  logFile,
  metaConf,
  net1,
  nothingLeft,
  pod,
  setupLab,
} from '../helpers/multihome-lab.ts';

/** The log's messages, one per line (the log is one JSON object per line). */
function logMessages(file: string): string {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => (JSON.parse(l) as { msg: string }).msg)
    .join('\n');
}

setupLab();

describe('addressConflictCheck', () => {
  it('fails ADD naming the IPv4 address and the MAC holding it, and leaves nothing', async () => {
    const holder = lanHost(lab.brB, ['10.41.0.77/24'], { mac: '02:00:00:00:77:01' });
    const ipam = hostLocal('net-b', [
      [{ subnet: '10.41.0.0/24', rangeStart: '10.41.0.77', rangeEnd: '10.41.0.77' }],
    ]);
    const p = pod();
    const r = await p.call('ADD', metaConf([eth0(), net1({}, ipam)], { addressConflictCheck: true }));
    expect(r.code).toBe(1);
    expect(r.json?.msg).toBe(
      'failed to claim address "10.41.0.77" on interface "net1": already in use by 02:00:00:00:77:01',
    );
    nothingLeft(p);
    // without the check the same ADD succeeds: the conflict goes unnoticed
    const q = pod();
    const res = await q.add(metaConf([eth0(), net1({}, ipam)]));
    expect(addrOf(res, 'net1', 4)).toBe('10.41.0.77');
    await q.del(metaConf([eth0(), net1({}, ipam)]));
    ip('netns', 'del', holder.ns);
  });

  it('fails ADD on a duplicate IPv6 address (kernel DAD, or own probes without DAD), naming the MAC', async () => {
    const holder = lanHost(lab.brB, ['2001:db8:41::77/64'], { mac: '02:00:00:00:77:02' });
    // static IPAM without a gateway: the delegate does not wait for DAD, so only the check sees it
    const ipam = { type: 'static', addresses: [{ address: '2001:db8:41::77/64' }] };
    const p = pod();
    const r = await p.call('ADD', metaConf([eth0(), net1({}, ipam)], { addressConflictCheck: true }));
    expect(r.code).toBe(1);
    expect(r.json?.msg).toBe(
      'failed to claim address "2001:db8:41::77" on interface "net1": already in use by 02:00:00:00:77:02',
    );
    nothingLeft(p);
    const q = pod();
    await q.add(metaConf([eth0(), net1({}, ipam)]));
    await q.del(metaConf([eth0(), net1({}, ipam)]));
    // where the kernel does no DAD (accept_dad=0, as the bridge plugin sets), manifold probes itself
    const o = pod();
    ip('netns', 'exec', o.ns.name, 'sysctl', '-qw', 'net.ipv6.conf.default.accept_dad=0');
    const noDad = await o.call('ADD', metaConf([eth0(), net1({}, ipam)], { addressConflictCheck: true }));
    expect(noDad.json?.msg).toBe(
      'failed to claim address "2001:db8:41::77" on interface "net1": already in use by 02:00:00:00:77:02',
    );
    nothingLeft(o);
    ip('netns', 'del', holder.ns);
  });

  it('is not fooled by the pod itself answering on another interface of the same segment (ARP flux)', async () => {
    const p = pod();
    const upper = hostLocal('net-b2', [
      [{ subnet: '10.41.0.0/24', rangeStart: '10.41.0.200' }],
      [{ subnet: '2001:db8:41::/64', rangeStart: '2001:db8:41::200' }],
    ]);
    const second = {
      ...(net1({}, upper) as Record<string, unknown>),
      name: 'net-b2',
      master: uplink(lab.brB, 'ub2'),
    };
    const conf = metaConf([net1(), second], { addressConflictCheck: true });
    await p.add(conf);
    await p.del(conf);
  });

  it('passes addresses nobody holds (IPv4 and IPv6) and keeps them', async () => {
    const p = pod();
    const conf = metaConf([eth0(), net1()], { addressConflictCheck: true });
    const res = await p.add(conf);
    expect(addrOf(res, 'net1', 4)).toMatch(/^10\.41\.0\./);
    expect(addrOf(res, 'eth0', 6)).toMatch(/^2001:db8:40::/);
    await p.del(conf);
    nothingLeft(p);
  });
});

describe('gatewayCheck', () => {
  const deadGw = hostLocal('net-b', [
    [{ subnet: '10.41.0.0/24', rangeStart: '10.41.0.10', gateway: '10.41.0.254' }],
    [{ subnet: '2001:db8:41::/64', rangeStart: '2001:db8:41::10', gateway: '2001:db8:41::fe' }],
  ]);

  it('warn: logs a gateway that does not answer, and attaches anyway', async () => {
    const p = pod();
    const conf = metaConf([eth0(), net1({}, deadGw)], {
      gatewayCheck: 'warn',
      probeCount: 2,
      probeIntervalMs: 50,
    });
    await p.add(conf);
    const log = logMessages(logFile);
    expect(log).toContain(
      `ADD ${p.env.CNI_CONTAINERID}: warning: gateway "10.41.0.254" of interface "net1" did not answer 2 ARP requests in 100 ms (gatewayCheck "warn": attached anyway)`,
    );
    expect(log).toContain(
      `ADD ${p.env.CNI_CONTAINERID}: warning: gateway "2001:db8:41::fe" of interface "net1" did not answer 2 neighbour solicitations in 100 ms`,
    );
    expect(log).not.toMatch(new RegExp(`${p.env.CNI_CONTAINERID}: warning: gateway "10\\.40\\.0\\.1"`));
    await p.del(conf);
  });

  it('fail: refuses a dead gateway naming it, and rolls back', async () => {
    const p = pod();
    const r = await p.call('ADD', metaConf([eth0(), net1({}, deadGw)], { gatewayCheck: 'fail' }));
    expect(r.code).toBe(1);
    expect(r.json?.msg).toBe(
      'failed to reach the gateway: gateway "10.41.0.254" of interface "net1" did not answer 3 ARP requests in 300 ms; ' +
        'gateway "2001:db8:41::fe" of interface "net1" did not answer 3 neighbour solicitations in 300 ms',
    );
    nothingLeft(p);
  });

  it('fail: passes gateways that answer (the router on net1, the gateway host on eth0)', async () => {
    const p = pod();
    const conf = metaConf([eth0(), net1()], { gatewayCheck: 'fail' });
    await p.add(conf);
    await p.del(conf);
    nothingLeft(p);
  });

  it('asks a link-local IPv6 gateway from the link-local address, and refuses a dead one', async () => {
    const ll = (gateway: string) => ({
      type: 'static',
      addresses: [{ address: '2001:db8:41::50/64', gateway }],
    });
    const p = pod();
    const live = metaConf([eth0(), net1({}, ll('fe80::1'))], { gatewayCheck: 'fail' });
    await p.add(live);
    await p.del(live);
    const r = await p.call('ADD', metaConf([eth0(), net1({}, ll('fe80::99'))], { gatewayCheck: 'fail' }));
    expect(r.json?.msg).toBe(
      'failed to reach the gateway: gateway "fe80::99" of interface "net1" did not answer 3 neighbour solicitations in 300 ms',
    );
    nothingLeft(p);
  });

  it('is per delegate: off for one network, fail for the meta config', async () => {
    const p = pod();
    const conf = metaConf([eth0(), net1({ manifold: { gatewayCheck: 'off' } }, deadGw)], {
      gatewayCheck: 'fail',
    });
    await p.add(conf);
    await p.del(conf);
  });
});

describe('announce', () => {
  it('teaches a neighbour that accepts gratuitous ARP and unsolicited NA the MAC before any traffic', async () => {
    // a router-like neighbour: arp_accept for IPv4; forwarding + accept_untracked_na for IPv6
    const nb = lanHost(lab.brB, ['10.41.0.9/24', '2001:db8:41::9/64'], {
      sysctls: {
        'net.ipv4.conf.eth0.arp_accept': '1',
        'net.ipv6.conf.eth0.forwarding': '1',
        'net.ipv6.conf.eth0.accept_untracked_na': '1',
      },
    });
    // host-device (Debian's) sets neither arp_notify nor ndisc_notify: the kernel announces nothing
    const dev = uplink(lab.brB, 'hd');
    const hd = {
      cniVersion: '1.0.0',
      name: 'net-b',
      type: 'host-device',
      device: dev,
      ipam: hostLocal('net-b', [
        [{ subnet: '10.41.0.0/24', rangeStart: '10.41.0.100', rangeEnd: '10.41.0.100' }],
        [{ subnet: '2001:db8:41::/64', rangeStart: '2001:db8:41::100', rangeEnd: '2001:db8:41::100' }],
      ]),
    };
    const p = pod();
    const quiet = metaConf([eth0(), hd]);
    await p.add(quiet);
    expect(neighbourMac(nb.ns, '10.41.0.100'), 'no announcement without announce').toBeUndefined();
    expect(neighbourMac(nb.ns, '2001:db8:41::100')).toBeUndefined();
    await p.del(quiet);

    const loud = metaConf([eth0(), hd], { announce: true });
    const res = await p.add(loud);
    const mac = res.interfaces.find((i) => i.name === 'net1' && i.sandbox)?.mac;
    expect(mac).toMatch(/^[0-9a-f:]{17}$/);
    expect(neighbourMac(nb.ns, '10.41.0.100')).toBe(mac);
    expect(neighbourMac(nb.ns, '2001:db8:41::100')).toBe(mac);
    await p.del(loud);
    nothingLeft(p);
  });
});
