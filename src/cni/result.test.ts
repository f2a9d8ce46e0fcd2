import { describe, expect, it } from 'vitest';
import { ResultSchema } from './netconf.ts';
import { decodeResult, encodeResult, type Result } from './result.ts';
import { parseWith } from './validate.ts';
import { isLegacyResult, SUPPORTED_VERSIONS } from './versions.ts';

/** The versions with an `ips` list (0.1.0/0.2.0 have their own shape: result-v02.test.ts). */
const MODERN = SUPPORTED_VERSIONS.filter((v) => v !== '0.1.0' && v !== '0.2.0');

const FULL: Result = {
  cniVersion: '1.1.0',
  interfaces: [
    { name: 'br0', mac: '0a:58:0a:01:00:01', mtu: 1500 },
    {
      name: 'eth0',
      mac: '0a:58:0a:01:00:05',
      mtu: 1450,
      sandbox: '/run/netns/p1',
      socketPath: '/s.sock',
      pciID: '0000:01:10.0',
    },
  ],
  ips: [
    { address: '10.1.0.5/24', gateway: '10.1.0.1', interface: 1 },
    { address: 'fd00::5/64', interface: 1 },
    { address: '192.168.0.9/32' },
  ],
  routes: [
    { dst: '0.0.0.0/0', gw: '10.1.0.1' },
    { dst: '10.2.0.0/16', mtu: 1400, advmss: 1360, priority: 10, table: 100, scope: 253 },
  ],
  dns: { nameservers: ['10.1.0.10'], domain: 'cluster.local', search: ['a.svc'], options: ['ndots:5'] },
};

/** The JSON each version must print for FULL (what a 1.x result carries, minus what `v` drops). */
function expected(v: string, lossy: boolean): Record<string, unknown> {
  const legacy = isLegacyResult(v);
  return {
    cniVersion: v,
    interfaces: [
      legacy || lossy
        ? { name: 'br0', mac: '0a:58:0a:01:00:01' }
        : { name: 'br0', mac: '0a:58:0a:01:00:01', mtu: 1500 },
      legacy || lossy
        ? { name: 'eth0', mac: '0a:58:0a:01:00:05', sandbox: '/run/netns/p1' }
        : {
            name: 'eth0',
            mac: '0a:58:0a:01:00:05',
            mtu: 1450,
            sandbox: '/run/netns/p1',
            socketPath: '/s.sock',
            pciID: '0000:01:10.0',
          },
    ],
    ips: [
      { ...(legacy ? { version: '4' } : {}), interface: 1, address: '10.1.0.5/24', gateway: '10.1.0.1' },
      { ...(legacy ? { version: '6' } : {}), interface: 1, address: 'fd00::5/64' },
      { ...(legacy ? { version: '4' } : {}), address: '192.168.0.9/32' },
    ],
    routes: [
      { dst: '0.0.0.0/0', gw: '10.1.0.1' },
      { dst: '10.2.0.0/16', mtu: 1400, advmss: 1360, priority: 10, table: 100, scope: 253 },
    ],
    dns: { nameservers: ['10.1.0.10'], domain: 'cluster.local', search: ['a.svc'], options: ['ndots:5'] },
  };
}

describe('encodeResult', () => {
  it.each(MODERN.map((v) => [v]))('prints %s', (v) => {
    expect(encodeResult(FULL, v)).toEqual(expected(v, false));
  });

  it('keeps the reference key order', () => {
    expect(Object.keys(encodeResult(FULL, '0.3.1'))).toEqual([
      'cniVersion',
      'interfaces',
      'ips',
      'routes',
      'dns',
    ]);
    expect(Object.keys((encodeResult(FULL, '0.3.1').ips as object[])[0] as object)).toEqual([
      'version',
      'interface',
      'address',
      'gateway',
    ]);
  });

  it('prints an empty dns object and omits empty lists, as the reference does', () => {
    expect(encodeResult({ cniVersion: '1.0.0', interfaces: [], ips: [] }, '1.0.0')).toEqual({
      cniVersion: '1.0.0',
      dns: {},
    });
  });

  it('refuses an unsupported version', () => {
    expect(() => encodeResult(FULL, '0.5.0')).toThrow(/unsupported version/);
  });
});

describe('conversion between every pair of versions', () => {
  const pairs = MODERN.flatMap((from) => MODERN.map((to) => [from, to] as const));
  it.each(pairs)('%s -> %s', (from, to) => {
    const printed = JSON.parse(JSON.stringify(encodeResult(FULL, from)));
    const decoded = decodeResult(parseWith(ResultSchema, printed), from);
    expect(decoded.cniVersion).toBe(from);
    expect(encodeResult(decoded, to)).toEqual(expected(to, isLegacyResult(from)));
  });

  it('decodes a result without cniVersion as the fallback version', () => {
    expect(decodeResult({ ips: [{ address: '10.0.0.1/8' }] }, '0.4.0')).toEqual({
      cniVersion: '0.4.0',
      ips: [{ address: '10.0.0.1/8' }],
    });
  });

  it('refuses a prevResult of an unsupported version', () => {
    expect(() => decodeResult({ cniVersion: '0.5.0' }, '1.0.0')).toThrow(
      /unsupported result version "0.5.0"/,
    );
  });
});
