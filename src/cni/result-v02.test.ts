/**
 * Spec 0.1.0 and 0.2.0: the result shape of those versions — `ip4` and
 * `ip6` objects each with `ip`, `gateway` and `routes`, and `dns` — printed exactly as the
 * reference library converts a newer result down (first address of each family, routes by
 * family with only dst/gw), and read back into the model (prevResult, delegate results).
 */
import { describe, expect, it } from 'vitest';
import { ResultSchema } from './netconf.ts';
import { decodeResult, encodeResult, type Result } from './result.ts';
import { parseWith } from './validate.ts';
import { SUPPORTED_VERSIONS, versionInfo } from './versions.ts';

const DUAL: Result = {
  cniVersion: '1.1.0',
  interfaces: [{ name: 'eth0', mac: '0a:58:0a:01:00:05', mtu: 1500, sandbox: '/run/netns/p' }],
  ips: [
    { address: '10.1.0.5/24', gateway: '10.1.0.1', interface: 0 },
    { address: '10.1.0.6/24', interface: 0 },
    { address: 'fd00:1::5/64', gateway: 'fd00:1::1', interface: 0 },
  ],
  routes: [
    { dst: '0.0.0.0/0', gw: '10.1.0.1', mtu: 1400 },
    { dst: '10.2.0.0/16' },
    { dst: '::/0', gw: 'fd00:1::1' },
  ],
  dns: { nameservers: ['10.1.0.10'], search: ['svc'] },
};

describe('0.1.0 and 0.2.0 results', () => {
  it.each(['0.1.0', '0.2.0'])(
    '%s: ip4/ip6 with ip, gateway and routes, then dns (the reference shape)',
    (v) => {
      const out = encodeResult(DUAL, v);
      expect(out).toEqual({
        cniVersion: v,
        ip4: {
          ip: '10.1.0.5/24',
          gateway: '10.1.0.1',
          routes: [{ dst: '0.0.0.0/0', gw: '10.1.0.1' }, { dst: '10.2.0.0/16' }],
        },
        ip6: { ip: 'fd00:1::5/64', gateway: 'fd00:1::1', routes: [{ dst: '::/0', gw: 'fd00:1::1' }] },
        dns: { nameservers: ['10.1.0.10'], search: ['svc'] },
      });
      expect(Object.keys(out)).toEqual(['cniVersion', 'ip4', 'ip6', 'dns']);
      expect(Object.keys(out.ip4 as object)).toEqual(['ip', 'gateway', 'routes']);
    },
  );

  it('omits an absent family, an absent gateway and empty routes; dns is always there', () => {
    expect(encodeResult({ cniVersion: '1.0.0', ips: [{ address: '10.1.0.5/24' }] }, '0.2.0')).toEqual({
      cniVersion: '0.2.0',
      ip4: { ip: '10.1.0.5/24' },
      dns: {},
    });
    expect(encodeResult({ cniVersion: '1.0.0' }, '0.1.0')).toEqual({ cniVersion: '0.1.0', dns: {} });
  });

  it('reads a 0.2.0 result (a prevResult, an old plugin answer) into the model', () => {
    const printed = {
      cniVersion: '0.2.0',
      ip4: { ip: '10.9.0.2/24', gateway: '10.9.0.1', routes: [{ dst: '0.0.0.0/0' }] },
      ip6: { ip: 'fd09::2/64', gateway: 'fd09::1', routes: [{ dst: '::/0', gw: 'fd09::1' }] },
      dns: { nameservers: ['1.1.1.1'] },
    };
    expect(decodeResult(parseWith(ResultSchema, printed), '0.2.0')).toEqual({
      cniVersion: '0.2.0',
      ips: [
        { address: '10.9.0.2/24', gateway: '10.9.0.1' },
        { address: 'fd09::2/64', gateway: 'fd09::1' },
      ],
      routes: [{ dst: '0.0.0.0/0' }, { dst: '::/0', gw: 'fd09::1' }],
      dns: { nameservers: ['1.1.1.1'] },
    });
  });

  it('round-trips 0.2.0 → model → 1.0.0 → model → 0.2.0 unchanged', () => {
    const v02 = encodeResult(DUAL, '0.2.0');
    const back = decodeResult(parseWith(ResultSchema, v02), '0.2.0');
    const v1 = decodeResult(parseWith(ResultSchema, encodeResult(back, '1.0.0')), '1.0.0');
    expect(encodeResult(v1, '0.2.0')).toEqual(v02);
  });

  it('a malformed ip4 is a config error naming the field', () => {
    expect(() => parseWith(ResultSchema, { cniVersion: '0.2.0', ip4: { ip: 'x' } }, 'prevResult')).toThrow(
      /^prevResult\.ip4\.ip: /,
    );
  });

  it('VERSION lists 0.1.0 and 0.2.0, as the reference plugins do', () => {
    expect(SUPPORTED_VERSIONS.slice(0, 2)).toEqual(['0.1.0', '0.2.0']);
    expect(versionInfo().supportedVersions).toEqual([
      '0.1.0',
      '0.2.0',
      '0.3.0',
      '0.3.1',
      '0.4.0',
      '1.0.0',
      '1.1.0',
    ]);
  });
});
