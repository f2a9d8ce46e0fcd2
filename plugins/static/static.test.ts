import { describe, expect, it } from 'vitest';
import { fuzzSkel } from '../../test/helpers/fuzz.ts';
import { builtinLoader, cniErrorOf, runWith } from '../../test/helpers/skel.ts';
import { loadStatic, staticAdd, staticCheck } from './static.ts';

const base = (ipam: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
  cniVersion: '1.0.0',
  name: 'st',
  type: 'macvlan',
  ...extra,
  ipam: { type: 'static', ...ipam },
});
const args = (s: Record<string, string> = {}) => new Map(Object.entries(s));
const add = (ipam: Record<string, unknown>, extra: Record<string, unknown> = {}, cniArgs = args()) =>
  staticAdd(loadStatic(base(ipam, extra), cniArgs), '1.0.0');

describe('static IPAM', () => {
  it('gives the configured addresses, routes and DNS', () => {
    expect(
      add({
        addresses: [{ address: '10.1.0.5/24', gateway: '10.1.0.1' }, { address: 'fd01::5/64' }],
        routes: [{ dst: '0.0.0.0/0' }, { dst: '10.9.0.0/16', gw: '10.1.0.254', mtu: 1400 }],
        dns: { nameservers: ['10.1.0.53'], search: ['example'] },
      }),
    ).toEqual({
      cniVersion: '1.0.0',
      ips: [{ address: '10.1.0.5/24', gateway: '10.1.0.1' }, { address: 'fd01::5/64' }],
      routes: [{ dst: '0.0.0.0/0' }, { dst: '10.9.0.0/16', gw: '10.1.0.254', mtu: 1400 }],
      dns: { nameservers: ['10.1.0.53'], search: ['example'] },
    });
  });

  it('prints addresses as the reference does (canonical IPv6, host bits kept)', () => {
    const r = add({
      addresses: [{ address: 'FD00::0005/64', gateway: 'FD00::1' }, { address: '10.1.2.3/8' }],
      routes: [{ dst: 'FD09:0::/64', gw: 'FD00:0:0::1' }],
    });
    expect(r.ips).toEqual([{ address: 'fd00::5/64', gateway: 'fd00::1' }, { address: '10.1.2.3/8' }]);
    expect(r.routes).toEqual([{ dst: 'fd09::/64', gw: 'fd00::1' }]);
  });

  it('adds CNI_ARGS IP= (a comma list) to the config, with GATEWAY= for the matching subnet', () => {
    const r = add(
      { addresses: [{ address: '10.1.0.5/24' }] },
      {},
      args({ IP: '10.2.0.5/24, fd02::5/64', GATEWAY: '10.2.0.1,fd02::1' }),
    );
    expect(r.ips).toEqual([
      { address: '10.1.0.5/24' },
      { address: '10.2.0.5/24', gateway: '10.2.0.1' },
      { address: 'fd02::5/64', gateway: 'fd02::1' },
    ]);
  });

  it('lets args.cni.ips replace the config, and the ips capability replace both', () => {
    const conf = { addresses: [{ address: '10.1.0.5/24' }] };
    expect(add(conf, { args: { cni: { ips: ['10.3.0.5/24'] } } }).ips).toEqual([{ address: '10.3.0.5/24' }]);
    expect(
      add(conf, { args: { cni: { ips: ['10.3.0.5/24'] } }, runtimeConfig: { ips: ['10.4.0.5/24'] } }).ips,
    ).toEqual([{ address: '10.4.0.5/24' }]);
    expect(add(conf, { runtimeConfig: { ips: [] } }).ips).toEqual([{ address: '10.1.0.5/24' }]);
  });

  it.each([
    [{ addresses: [{ address: '10.1.0.5' }] }, {}, {}, /^ipam\.addresses\[0\]\.address: /],
    [{ addresses: [{ address: '10.1.0.5/24', gateway: 'gw' }] }, {}, {}, /^ipam\.addresses\[0\]\.gateway: /],
    [{ addresses: 'x' }, {}, {}, /^ipam\.addresses: expected array/],
    [{ routes: [{ gw: '10.0.0.1' }] }, {}, {}, /^ipam\.routes\[0\]\.dst: is required/],
    [{}, { runtimeConfig: { ips: ['10.1.0.5'] } }, {}, /^runtimeConfig\.ips\[0\]: /],
    [{}, { args: { cni: { ips: [7] } } }, {}, /^args\.cni\.ips\[0\]: /],
    [{}, {}, { IP: '10.1.0.5' }, /^CNI_ARGS IP: expected an address in CIDR notation, got "10\.1\.0\.5"$/],
    [{}, {}, { IP: '10.1.0.5/24', GATEWAY: 'x' }, /^CNI_ARGS GATEWAY: not an IP address: "x"$/],
    [{ dns: { nameservers: 'x' } }, {}, {}, /^ipam\.dns\.nameservers: expected array/],
  ])('refuses %j %j %j with code 7 naming the field', (ipam, extra, cniArgs, msg) => {
    const e = cniErrorOf(() => loadStatic(base(ipam, extra), args(cniArgs as Record<string, string>)));
    expect(e.code).toBe(7);
    expect(e.message).toMatch(msg);
  });

  it('CHECK finds every configured address (and gateway) in prevResult', () => {
    const st = loadStatic(base({ addresses: [{ address: 'fd00::5/64', gateway: 'FD00::1' }] }), args());
    const prev = staticAdd(st, '1.0.0');
    staticCheck(st, prev, 'eth0');
    staticCheck(st, { cniVersion: '1.0.0', ips: [{ address: 'fd00:0::5/64', gateway: 'fd00::1' }] }, 'eth0');
    expect(() => staticCheck(st, { cniVersion: '1.0.0', ips: [{ address: 'fd00::6/64' }] }, 'eth0')).toThrow(
      'static: failed to match address fd00::5/64 on interface "eth0"',
    );
    expect(() =>
      staticCheck(st, { cniVersion: '1.0.0', ips: [{ address: 'fd00::5/64', gateway: 'fd00::2' }] }, 'eth0'),
    ).toThrow(/failed to match/);
    expect(() => staticCheck(st, { cniVersion: '1.0.0' }, 'eth0')).toThrow(/failed to match/);
  });
});

describe('static through the skel, fuzzed', () => {
  const st = builtinLoader('static');
  const env = () => ({
    CNI_COMMAND: 'ADD',
    CNI_CONTAINERID: 'fz',
    CNI_NETNS: '/run/netns/manifold-fuzz-does-not-exist',
    CNI_IFNAME: 'eth0',
  });
  it('answers a result or a CNI error with a known code, for any mutation of the config', async () => {
    await fuzzSkel(
      st,
      {
        cniVersion: '1.0.0',
        name: 'fuzz-st',
        type: 'static',
        args: { cni: { ips: ['10.1.0.15/24'] } },
        runtimeConfig: { ips: ['fd00:1::15/64'] },
        ipam: {
          type: 'static',
          addresses: [{ address: '10.2.0.5/24', gateway: '10.2.0.1' }, { address: 'fd00:2::5/64' }],
          routes: [{ dst: '0.0.0.0/0', gw: '10.2.0.1' }],
          dns: { nameservers: ['10.2.0.53'], domain: 'example', search: ['a'], options: ['ndots:2'] },
        },
      },
      { env, allowed: [1, 4, 6, 7], dataDir: '/nonexistent', numRuns: 400 },
    );
  });

  it('prints the result in the config version (0.3.1: ips with version)', async () => {
    const out = await runWith(
      st,
      env(),
      JSON.stringify({
        cniVersion: '0.3.1',
        name: 'st',
        type: 'static',
        ipam: { type: 'static', addresses: [{ address: 'fd00::5/64' }] },
      }),
    );
    expect(out.json).toEqual({
      cniVersion: '0.3.1',
      ips: [{ version: '6', address: 'fd00::5/64' }],
      dns: {},
    });
  });
});
