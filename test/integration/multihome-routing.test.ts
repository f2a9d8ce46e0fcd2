/**
 * Multi-homing routing on the real kernel (docs/multihoming.md), the meta-plugin in-process
 * in the lab of test/helpers/multihome-lab.ts: policyRouting (a peer beyond net1's router),
 * one default route per family, and DEL leaving nothing behind. IPv4 and IPv6.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cachePath } from '../../src/meta/cache.ts';
import { ip, ipJson } from '../helpers/host.ts';
import { podLinks, reservations, sysctlIn } from '../helpers/inproc.ts';
import { pings } from '../helpers/lan.ts';
import {
  ALL_ON,
  addrOf,
  cniDir,
  DEFAULTS,
  dataDir,
  defaults,
  defaultsOf,
  eth0,
  hostLocal,
  lab,
  meta,
  metaConf,
  net1,
  nothingLeft,
  pod,
  RANGE_B,
  type Res,
  rules,
  setupLab,
  snapshot,
  tmp,
} from '../helpers/multihome-lab.ts';
import { runWith } from '../helpers/skel.ts';

setupLab();

describe('policyRouting', () => {
  it('answers a peer beyond net1 through net1 only with policyRouting, the default route on eth0', async () => {
    const p = pod();
    const off = metaConf([eth0(), net1()]);
    const r0 = await p.add(off);
    let [v4, v6] = [addrOf(r0, 'net1', 4), addrOf(r0, 'net1', 6)];
    expect(defaults(p.ns.name, '-4').map((d) => d.dev)).toEqual(['eth0']);
    expect(defaults(p.ns.name, '-6').map((d) => d.dev)).toEqual(['eth0']);
    expect(pings(lab.peerNs, v4), 'without policyRouting the reply leaves by eth0').toBe(false);
    expect(pings(lab.peerNs, v6)).toBe(false);
    expect(rules(p.ns.name, '-4')).toEqual([]);
    await p.del(off);

    const on = metaConf([eth0(), net1()], { policyRouting: true });
    const r1 = await p.add(on);
    [v4, v6] = [addrOf(r1, 'net1', 4), addrOf(r1, 'net1', 6)];
    expect(defaults(p.ns.name, '-4').map((d) => d.dev)).toEqual(['eth0']);
    expect(pings(lab.peerNs, v4), 'with policyRouting the reply leaves by net1').toBe(true);
    expect(pings(lab.peerNs, v6)).toBe(true);
    const index = ipJson<{ ifindex: number }[]>('-n', p.ns.name, 'link', 'show', 'net1')[0]?.ifindex ?? 0;
    const table = String(10000 + index);
    expect(rules(p.ns.name, '-4')).toEqual([{ priority: 30000, src: v4, table, protocol: '109' }]);
    expect(rules(p.ns.name, '-6')).toEqual([{ priority: 30000, src: v6, table, protocol: '109' }]);
    const t4 = ipJson<{ dst: string; gateway?: string; dev: string }[]>(
      '-n',
      p.ns.name,
      'route',
      'show',
      'table',
      table,
    );
    expect(t4.map((r) => `${r.dst} ${r.gateway ?? ''} ${r.dev}`).sort()).toEqual([
      '10.41.0.0/24  net1',
      'default 10.41.0.1 net1',
    ]);
    const check = await p.call('CHECK', on, r1 as unknown as object);
    expect(check.code, check.stdout).toBe(0);
    await p.del(on);
    expect(rules(p.ns.name, '-4')).toEqual([]);
    expect(rules(p.ns.name, '-6')).toEqual([]);
    expect(podLinks(p.ns.name)).toEqual([]);
  });
});

describe('one default route per family', () => {
  it('keeps only the master default routes when a secondary IPAM gives default routes too', async () => {
    const p = pod();
    const conf = metaConf([eth0(), net1({}, hostLocal('net-b', RANGE_B, DEFAULTS))]);
    const res = await p.add(conf);
    expect(defaults(p.ns.name, '-4')).toEqual([
      expect.objectContaining({ dev: 'eth0', gateway: '10.40.0.1' }),
    ]);
    expect(defaults(p.ns.name, '-6')).toEqual([
      expect.objectContaining({ dev: 'eth0', gateway: '2001:db8:40::1' }),
    ]);
    expect(defaultsOf(res)).toEqual(['0.0.0.0/0 eth0', '::/0 eth0']);
    const check = await p.call('CHECK', conf, res as unknown as object);
    expect(check.code, check.stdout).toBe(0);
    await p.del(conf);
  });

  it.each([
    ['its IPAM gives default routes', DEFAULTS],
    ['its IPAM gives only gateways', []],
  ])('moves the default routes to the delegate marked defaultRoute when %s', async (_, routes) => {
    const p = pod();
    const conf = metaConf([
      eth0(),
      net1({ manifold: { defaultRoute: true } }, hostLocal('net-b', RANGE_B, routes)),
    ]);
    const res = await p.add(conf);
    expect(defaults(p.ns.name, '-4')).toEqual([
      expect.objectContaining({ dev: 'net1', gateway: '10.41.0.1' }),
    ]);
    expect(defaults(p.ns.name, '-6')).toEqual([
      expect.objectContaining({ dev: 'net1', gateway: '2001:db8:41::1' }),
    ]);
    expect(defaultsOf(res)).toEqual(['0.0.0.0/0 net1', '::/0 net1']);
    const check = await p.call('CHECK', conf, res as unknown as object);
    expect(check.code, check.stdout).toBe(0);
    await p.del(conf);
    nothingLeft(p);
  });

  it('moves only the families the defaultRoute delegate has a gateway for', async () => {
    const p = pod();
    const v4only = hostLocal('net-b', [[{ subnet: '10.41.0.0/24' }]]);
    const conf = metaConf([eth0(), net1({ manifold: { defaultRoute: true } }, v4only)]);
    const res = await p.add(conf);
    expect(defaults(p.ns.name, '-4').map((d) => d.dev)).toEqual(['net1']);
    expect(defaults(p.ns.name, '-6').map((d) => d.dev)).toEqual(['eth0']);
    expect(defaultsOf(res)).toEqual(['::/0 eth0', '0.0.0.0/0 net1']);
    await p.del(conf);
  });

  it("keeps a secondary's IPv6 default route when the master has none of that family (options off)", async () => {
    const p = pod();
    const v4master = {
      ...eth0(),
      ipam: hostLocal('net-a', [[{ subnet: '10.40.0.0/24' }]], [{ dst: '0.0.0.0/0' }]),
    };
    const conf = metaConf([v4master, net1({}, hostLocal('net-b', RANGE_B, DEFAULTS))]);
    const res = await p.add(conf);
    // IPv4: the master's only; IPv6: no attachment is chosen, so the secondary's stays, as IPAM gave it
    expect(defaults(p.ns.name, '-4').map((d) => d.dev)).toEqual(['eth0']);
    expect(defaults(p.ns.name, '-6')).toEqual([
      expect.objectContaining({ dev: 'net1', gateway: '2001:db8:41::1' }),
    ]);
    expect(defaultsOf(res)).toEqual(['0.0.0.0/0 eth0', '::/0 net1']);
    const check = await p.call('CHECK', conf, res as unknown as object);
    expect(check.code, check.stdout).toBe(0);
    await p.del(conf);
    nothingLeft(p);
  });

  it('CHECK fails when an interface without a default route in its result has one in the kernel', async () => {
    const p = pod();
    const conf = metaConf([eth0(), net1()], { policyRouting: true });
    const res = await p.add(conf);
    ip('-n', p.ns.name, 'route', 'add', 'default', 'via', '10.41.0.1', 'dev', 'net1', 'metric', '50');
    const check = await p.call('CHECK', conf, res as unknown as object);
    expect(check.code).toBe(1);
    expect(String(check.json?.msg)).toMatch(
      /^interface "net1" has a default route \(0\.0\.0\.0\/0 via 10\.41\.0\.1\)/,
    );
    await p.del(conf);
  });
});

describe('DEL', () => {
  it('leaves no rule, table route or sysctl change behind, with every option on', async () => {
    const p = pod();
    // an interface of the pod's own that outlives the attachments
    ip('-n', p.ns.name, 'link', 'add', 'keep0', 'type', 'veth', 'peer', 'name', 'keep1');
    ip('-n', p.ns.name, 'addr', 'add', '192.0.2.1/24', 'dev', 'keep0');
    ip('-n', p.ns.name, 'link', 'set', 'keep0', 'up');
    ip('-n', p.ns.name, 'link', 'set', 'keep1', 'up');
    // their link-local addresses settle first (those are the kernel's, not ours)
    await expect
      .poll(() => ip('-n', p.ns.name, '-6', 'route', 'show', 'table', 'local').match(/local fe80/g)?.length, {
        timeout: 5000,
      })
      .toBe(2);
    const before = snapshot(p.ns.name);
    const conf = metaConf([eth0(), net1()], ALL_ON);
    const res = await p.add(conf);
    const during = snapshot(p.ns.name);
    expect(during.rules).not.toBe(before.rules);
    expect(during.sysctls).toContain('net.ipv4.conf.net1.rp_filter = 2');
    expect(during.sysctls).toContain('net.ipv4.conf.eth0.arp_ignore = 1');
    const check = await p.call('CHECK', conf, res as unknown as object);
    expect(check.code, check.stdout).toBe(0);
    await p.del(conf);
    const after = snapshot(p.ns.name);
    expect(after.rules).toBe(before.rules);
    expect(after.routes).toBe(before.routes);
    expect(after.sysctls).toEqual(before.sysctls);
    expect(podLinks(p.ns.name).sort()).toEqual(['keep0', 'keep1']);
    expect(reservations(dataDir, 'net-b')).toEqual([]);
  });

  it('removes exactly what ADD added while the interfaces are still there (before the delegates go)', async () => {
    const p = pod();
    const conf = metaConf([eth0(), net1({ manifold: { defaultRoute: true } })], ALL_ON);
    const sysBefore = sysctlIn(p.ns.name, 'net/ipv4/conf/default/rp_filter');
    const res = await p.add(conf);
    const macs = Object.fromEntries(res.interfaces.filter((i) => i.sandbox).map((i) => [i.name, i.mac]));
    const v4 = addrOf(res, 'net1', 4);
    expect(macs.net1).toBe(
      `0a:58:${v4
        .split('.')
        .map((x) => Number(x).toString(16).padStart(2, '0'))
        .join(':')}`,
    );
    expect(ipJson<{ address: string }[]>('-n', p.ns.name, 'link', 'show', 'net1')[0]?.address).toBe(
      macs.net1,
    );
    // eth0 lost the default route to net1: it is the one with a table now
    expect(rules(p.ns.name, '-4').map((r) => r.src)).toEqual([addrOf(res, 'eth0', 4)]);
    expect(rules(p.ns.name, '-6').map((r) => r.src)).toEqual([addrOf(res, 'eth0', 6)]);
    expect(sysctlIn(p.ns.name, 'net/ipv4/conf/eth0/rp_filter')).toBe('2');
    expect(sysctlIn(p.ns.name, 'net/ipv6/conf/eth0/accept_ra_defrtr')).toBe('0');
    expect(sysctlIn(p.ns.name, 'net/ipv4/conf/net1/rp_filter')).toBe(sysBefore);

    // multi-homing's own DEL, run alone: the links stay, everything it did goes
    const { multihomeDel } = await import('../../src/meta/multihome/hooks.ts');
    const cache = JSON.parse(
      readFileSync(
        cachePath(cniDir, {
          network: 'pod-nets',
          containerId: p.env.CNI_CONTAINERID,
          ifname: p.env.CNI_IFNAME,
        }),
        'utf8',
      ),
    ) as {
      delegates: {
        ifname: string;
        master: boolean;
        defaultRoute: boolean;
        result: Res;
        multihome?: object;
      }[];
    };
    expect(cache.delegates.map((d) => d.multihome)).toEqual([
      expect.objectContaining({
        sysctls: expect.any(Object),
        tables: expect.any(Array),
        mac: expect.any(String),
      }),
      expect.objectContaining({ sysctls: expect.any(Object), mac: expect.any(String) }),
    ]);
    const { decodeResult } = await import('../../src/cni/result.ts');
    await multihomeDel(
      p.env.CNI_NETNS,
      cache.delegates.map((d) => ({
        delegate: { master: d.master, defaultRoute: d.defaultRoute },
        ifname: d.ifname,
        result: decodeResult(d.result, '1.0.0'),
        multihome: d.multihome,
      })),
    );
    expect(rules(p.ns.name, '-4')).toEqual([]);
    expect(rules(p.ns.name, '-6')).toEqual([]);
    const tables = ipJson<{ table?: string; protocol?: string }[]>(
      '-n',
      p.ns.name,
      'route',
      'show',
      'table',
      'all',
    );
    expect(tables.filter((r) => r.protocol === '109' || Number(r.table) >= 10000)).toEqual([]);
    for (const dev of ['eth0', 'net1']) {
      expect(sysctlIn(p.ns.name, `net/ipv4/conf/${dev}/rp_filter`)).toBe(sysBefore);
      expect(sysctlIn(p.ns.name, `net/ipv4/conf/${dev}/arp_ignore`)).toBe('0');
      expect(sysctlIn(p.ns.name, `net/ipv4/conf/${dev}/arp_announce`)).toBe('0');
      expect(sysctlIn(p.ns.name, `net/ipv6/conf/${dev}/accept_ra_defrtr`)).toBe('1');
      expect(ipJson<{ address: string }[]>('-n', p.ns.name, 'link', 'show', dev)[0]?.address).not.toMatch(
        /^0a:58:/,
      );
    }
    // the default route manifold added on net1 (its IPAM gave only a gateway) is gone too
    expect(defaults(p.ns.name, '-4')).toEqual([]);
    await p.del(conf);
    nothingLeft(p);
  });

  it('GC of an attachment the runtime no longer has removes its rules too (netns still there)', async () => {
    const p = pod();
    const conf = metaConf([eth0(), net1()], { policyRouting: true, cniDir: join(tmp, 'cache-gc') });
    await p.add(conf);
    expect(rules(p.ns.name, '-4')).toHaveLength(1);
    const gc = await runWith(
      meta,
      { CNI_COMMAND: 'GC', CNI_PATH: p.env.CNI_PATH },
      JSON.stringify({ ...conf, 'cni.dev/valid-attachments': [] }),
    );
    expect(gc.code, gc.stdout).toBe(0);
    expect(rules(p.ns.name, '-4')).toEqual([]);
    expect(rules(p.ns.name, '-6')).toEqual([]);
    expect(podLinks(p.ns.name)).toEqual([]);
  });

  it('keeps two manifold calls on one pod apart (two networks, their own CNI_IFNAME)', async () => {
    const a = pod('eth0');
    const bDir = join(tmp, 'cache-b');
    const confA = metaConf([eth0(), net1()], { policyRouting: true });
    const netC = hostLocal('net-c', [[{ subnet: '10.42.0.0/24' }]]);
    const confB = {
      ...metaConf(
        [
          { cniVersion: '1.0.0', name: 'net-c', type: 'macvlan', master: lab.upB, ipam: netC },
          {
            cniVersion: '1.0.0',
            name: 'net-d',
            type: 'macvlan',
            master: lab.upB,
            ipam: hostLocal('net-d', [[{ subnet: '10.43.0.0/24' }]]),
            manifold: { ifname: 'net2' },
          },
        ],
        { policyRouting: true },
      ),
      cniDir: bDir,
    };
    await a.add(confA);
    const envB = { ...a.env, CNI_IFNAME: 'eth1' };
    const callB = (command: string) =>
      runWith(meta, { ...envB, CNI_COMMAND: command }, JSON.stringify(confB));
    const b = await callB('ADD');
    expect(b.code, b.stdout).toBe(0);
    const tables = (fam: '-4' | '-6') => rules(a.ns.name, fam).map((r) => r.table);
    const t = tables('-4');
    // A: net1 (eth0 owns the default route); B: eth1 and net2 (B's master has no default
    // route, so no attachment of B owns one and each gets its own table)
    expect(t).toHaveLength(3);
    expect(new Set(t).size).toBe(3);
    const del = await callB('DEL');
    expect(del.code, del.stdout).toBe(0);
    expect(tables('-4')).toEqual([t[0]]);
    await a.del(confA);
    expect(rules(a.ns.name, '-4')).toEqual([]);
  });
});
