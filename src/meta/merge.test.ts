/**
 * "The merged result" of docs/meta-plugin.md: every delegate's interfaces in order (the
 * master's first), `ips[].interface` renumbered into the merged list, every delegate's routes
 * except default routes that are not the pod's (per address family: the master's, or the
 * delegate marked `defaultRoute` that has one of that family; a family nobody owns keeps
 * them all), and the master's DNS, in the meta config's cniVersion.
 */
import { describe, expect, it } from 'vitest';
import type { Result } from '../cni/result.ts';
import { mergeResults, type Part } from './merge.ts';

const part = (result: Omit<Result, 'cniVersion'>, over: Partial<Part> = {}): Part => ({
  result: { cniVersion: '1.1.0', ...result },
  master: false,
  defaultRoute: false,
  ...over,
});

const V4_DEFAULT = { dst: '0.0.0.0/0', gw: '10.0.0.1' };
const V6_DEFAULT = { dst: '::/0', gw: 'fd00::1' };

describe('merged result', () => {
  it('renumbers ips[].interface into the merged interface list, master first', () => {
    const master = part(
      {
        interfaces: [{ name: 'veth0' }, { name: 'eth0', sandbox: '/ns' }],
        ips: [{ address: '10.0.0.5/24', interface: 1 }],
      },
      { master: true },
    );
    const second = part({
      interfaces: [{ name: 'net1', sandbox: '/ns' }],
      ips: [
        { address: '10.1.0.5/24', interface: 0 },
        { address: 'fd01::5/64', interface: 0 },
      ],
    });
    const third = part({
      interfaces: [{ name: 'br0' }, { name: 'veth1' }, { name: 'net2', sandbox: '/ns' }],
      ips: [
        { address: '10.2.0.5/24', interface: 2 },
        { address: '10.3.0.5/24' }, // names no interface: stays so
      ],
    });
    const r = mergeResults([master, second, third], '1.0.0');
    expect(r.cniVersion).toBe('1.0.0');
    expect(r.interfaces?.map((i) => i.name)).toEqual(['veth0', 'eth0', 'net1', 'br0', 'veth1', 'net2']);
    expect(r.ips?.map((ip) => [ip.address, ip.interface])).toEqual([
      ['10.0.0.5/24', 1],
      ['10.1.0.5/24', 2],
      ['fd01::5/64', 2],
      ['10.2.0.5/24', 5],
      ['10.3.0.5/24', undefined],
    ]);
  });

  it("keeps the master's default route only, and everyone's other routes", () => {
    const r = mergeResults(
      [
        part({ routes: [V4_DEFAULT, { dst: '10.96.0.0/12' }] }, { master: true }),
        part({
          routes: [
            { dst: '0.0.0.0/0', gw: '10.1.0.1' },
            { dst: '192.168.0.0/16', gw: '10.1.0.1' },
          ],
        }),
      ],
      '1.1.0',
    );
    expect(r.routes).toEqual([
      V4_DEFAULT,
      { dst: '10.96.0.0/12' },
      { dst: '192.168.0.0/16', gw: '10.1.0.1' },
    ]);
  });

  it('keeps the default route of a delegate marked defaultRoute instead of the master’s', () => {
    const r = mergeResults(
      [
        part({ routes: [V4_DEFAULT] }, { master: true }),
        part({ routes: [{ dst: '0.0.0.0/0', gw: '10.1.0.1' }] }, { defaultRoute: true }),
      ],
      '1.1.0',
    );
    expect(r.routes).toEqual([{ dst: '0.0.0.0/0', gw: '10.1.0.1' }]);
  });

  it('keeps a family nobody owns: an IPv4-only master and a dual-stack secondary', () => {
    const r = mergeResults(
      [
        part({ routes: [V4_DEFAULT] }, { master: true }),
        part({ routes: [{ dst: '0.0.0.0/0', gw: '10.1.0.1' }, V6_DEFAULT] }),
      ],
      '1.1.0',
    );
    // IPv4: the master's only; IPv6: nobody owns it, so the secondary keeps its default route
    expect(r.routes).toEqual([V4_DEFAULT, V6_DEFAULT]);
  });

  it('keeps every default route of a family when the master has none', () => {
    const r = mergeResults(
      [
        part({ routes: [{ dst: '10.96.0.0/12' }] }, { master: true }),
        part({ routes: [{ dst: '0.0.0.0/0', gw: '10.1.0.1' }] }),
        part({ routes: [{ dst: '0.0.0.0/0', gw: '10.2.0.1' }] }),
      ],
      '1.1.0',
    );
    expect(r.routes).toEqual([
      { dst: '10.96.0.0/12' },
      { dst: '0.0.0.0/0', gw: '10.1.0.1' },
      { dst: '0.0.0.0/0', gw: '10.2.0.1' },
    ]);
  });

  it("takes the master's DNS only", () => {
    const r = mergeResults(
      [
        part({ dns: { nameservers: ['10.0.0.53'] } }, { master: true }),
        part({ dns: { nameservers: ['10.1.0.53'], search: ['other'] } }),
      ],
      '1.1.0',
    );
    expect(r.dns).toEqual({ nameservers: ['10.0.0.53'] });
  });
});
