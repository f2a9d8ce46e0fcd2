import { describe, expect, it } from 'vitest';
import type { Result } from '../../cni/result.ts';
import { mergeResults } from '../merge.ts';
import { resolveOptions } from './options.ts';
import { defaultRouteOwners } from './owners.ts';
import { macFromIPv4, planFor } from './plan.ts';

function result(
  ifname: string,
  v4: string,
  gw4?: string,
  routes: string[] = [],
  v6?: string,
  gw6?: string,
): Result {
  return {
    cniVersion: '1.0.0',
    interfaces: [{ name: ifname, mac: '02:00:00:00:00:01', sandbox: '/run/netns/p' }],
    ips: [
      { address: v4, gateway: gw4, interface: 0 },
      ...(v6 ? [{ address: v6, gateway: gw6, interface: 0 }] : []),
    ],
    routes: routes.map((dst) => ({ dst })),
  };
}

const eth0 = result(
  'eth0',
  '10.0.0.5/24',
  '10.0.0.1',
  ['0.0.0.0/0', '::/0'],
  '2001:db8::5/64',
  '2001:db8::1',
);
const net1 = result('net1', '10.1.0.5/24', '10.1.0.1', ['0.0.0.0/0', '10.9.0.0/16']);

function attached(results: Result[], marks: { defaultRoute?: number; own?: object[] } = {}) {
  return results.map((r, i) => ({
    delegate: { master: i === 0, defaultRoute: marks.defaultRoute === i, multihome: marks.own?.[i] },
    ifname: r.interfaces?.[0]?.name ?? `net${i}`,
    result: r,
  }));
}

describe('default route owners', () => {
  it('are the master, or per family the first delegate marked defaultRoute with a gateway of that family', () => {
    const parts = attached([eth0, net1]).map((a) => ({ ...a.delegate, result: a.result }));
    expect(defaultRouteOwners(parts)).toEqual({ 4: 0, 6: 0 });
    const marked = attached([eth0, net1], { defaultRoute: 1 }).map((a) => ({
      ...a.delegate,
      result: a.result,
    }));
    expect(defaultRouteOwners(marked)).toEqual({ 4: 1, 6: 0 });
  });

  it("leave a family nobody owns alone: a master without an IPv6 default route keeps the others' ::/0", () => {
    const v4master = result('eth0', '10.0.0.5/24', '10.0.0.1', ['0.0.0.0/0']);
    const dual = result(
      'net1',
      '10.1.0.5/24',
      '10.1.0.1',
      ['0.0.0.0/0', '::/0'],
      '2001:db8:1::5/64',
      '2001:db8:1::1',
    );
    const parts = attached([v4master, dual]).map((a) => ({ ...a.delegate, result: a.result }));
    expect(defaultRouteOwners(parts)).toEqual({ 4: 0, 6: -1 });
    const merged = mergeResults(parts, '1.1.0');
    expect(merged.routes?.map((r) => r.dst)).toEqual(['0.0.0.0/0', '::/0']);
    const plan = planFor({}, attached([v4master, dual]));
    expect(plan.defaultRoutes).toEqual([4]);
    expect(plan.attachments[1]?.owns).toEqual({ 4: false, 6: true });
  });

  it('decide what the merged result keeps', () => {
    const merged = mergeResults(
      attached([eth0, net1], { defaultRoute: 1 }).map((a) => ({ ...a.delegate, result: a.result })),
      '1.1.0',
    );
    expect(merged.routes?.map((r) => r.dst)).toEqual(['::/0', '0.0.0.0/0', '10.9.0.0/16']);
  });
});

describe('the plan', () => {
  it('has nothing to do with every option off and no default route in the way', () => {
    const quiet = result('net1', '10.1.0.5/24', '10.1.0.1', ['10.9.0.0/16']);
    const plan = planFor({}, attached([eth0, quiet]));
    expect(plan.work).toBe(false);
    expect(plan.attachments.map((a) => a.result)).toEqual([eth0, quiet]);
  });

  it('drops the default routes of the others from their results, and needs the kernel for that family', () => {
    const plan = planFor({}, attached([eth0, net1]));
    expect(plan.work).toBe(true);
    expect(plan.defaultRoutes).toEqual([4]);
    expect(plan.attachments[1]?.result?.routes).toEqual([{ dst: '10.9.0.0/16' }]);
    expect(plan.attachments[1]?.ownDefaults).toEqual([{ dst: '0.0.0.0/0' }]);
    expect(plan.attachments[0]?.result).toEqual(eth0);
  });

  it('gives the defaultRoute delegate a default route via its gateway when its IPAM gave none', () => {
    const bare = result('net1', '10.1.0.5/24', '10.1.0.1');
    const plan = planFor({}, attached([eth0, bare], { defaultRoute: 1 }));
    expect(plan.defaultRoutes).toEqual([4]);
    expect(plan.attachments[1]?.result?.routes).toEqual([{ dst: '0.0.0.0/0', gw: '10.1.0.1' }]);
    expect(plan.attachments[0]?.result?.routes).toEqual([{ dst: '::/0' }]);
    expect(plan.attachments.map((a) => a.owns)).toEqual([
      { 4: false, 6: true },
      { 4: true, 6: false },
    ]);
  });

  it('resolves options: the delegate over the meta config over the defaults', () => {
    expect(resolveOptions({}, undefined)).toEqual({
      policyRouting: false,
      announce: false,
      addressConflictCheck: false,
      gatewayCheck: 'off',
      budget: { rounds: 3, intervalMs: 100 },
      sysctls: false,
      macPrefix: undefined,
    });
    const o = resolveOptions(
      { policyRouting: true, gatewayCheck: 'fail', probeCount: 5, macFromIPv4: '0A:58' },
      { policyRouting: false, probeIntervalMs: 20, macFromIPv4: '' },
    );
    expect(o).toMatchObject({
      policyRouting: false,
      gatewayCheck: 'fail',
      budget: { rounds: 5, intervalMs: 20 },
    });
    expect(o.macPrefix).toBeUndefined();
    const plan = planFor({ macFromIPv4: '0a:58' }, attached([eth0, net1], { own: [{}, { announce: true }] }));
    expect(plan.attachments.map((a) => [a.options.announce, a.mac])).toEqual([
      [false, '0a:58:0a:00:00:05'],
      [true, '0a:58:0a:01:00:05'],
    ]);
    expect(plan.attachments[1]?.result?.interfaces?.[0]?.mac).toBe('0a:58:0a:01:00:05');
  });

  it('derives a MAC from the first IPv4 address only', () => {
    expect(macFromIPv4('0a:58', [{ address: '2001:db8::5/64' }, { address: '192.168.10.254/24' }])).toBe(
      '0a:58:c0:a8:0a:fe',
    );
    expect(macFromIPv4('0a:58', [{ address: '2001:db8::5/64' }])).toBeUndefined();
  });
});

describe('a requested default-route gateway (the pod annotation)', () => {
  it('makes the marked attachment own that family, via the gateway asked for', () => {
    const a = attached([eth0, net1], { defaultRoute: 1 });
    const marked = { ...a[1], delegate: { ...a[1]?.delegate, gatewayRequest: ['10.1.0.254'] } };
    const plan = planFor({}, [a[0], marked] as typeof a);
    expect(plan.attachments.map((p) => p.owns)).toEqual([
      { 4: false, 6: true },
      { 4: true, 6: false },
    ]);
    expect(plan.attachments[1]?.result?.routes).toEqual([
      { dst: '10.9.0.0/16' },
      { dst: '0.0.0.0/0', gw: '10.1.0.254' },
    ]);
    expect(plan.attachments[0]?.result?.routes).toEqual([{ dst: '::/0' }]);
    expect(plan.defaultRoutes).toContain(4);
  });
});
