import { describe, expect, it } from 'vitest';
import { CniError } from '../../src/cni/errors.ts';
import type { Link } from '../../src/kernel/link.ts';
import { decodeAttrs, encodeAttrs } from '../../src/kernel/nl/attrs.ts';
import {
  type TunnelKind,
  type TunnelSpec,
  tunnelData,
  tunnelInfo,
  tunnelOverhead,
} from '../../src/kernel/tunnels.ts';
import { tupleOf } from './claims.ts';
import { parseTunnelConf, type TunnelConf } from './config.ts';
import { effectiveMtu, tunnelMismatch, tunnelSpec } from './device.ts';
import { explainer } from './explain.ts';

const BASE = { cniVersion: '1.0.0', name: 'tun', type: 'tunnel' };
const NO_ARGS = new Map<string, string>();

function parse(extra: Record<string, unknown>, args: ReadonlyMap<string, string> = NO_ARGS): TunnelConf {
  return parseTunnelConf({ ...BASE, ...extra }, args);
}

function refusal(extra: Record<string, unknown>, args: ReadonlyMap<string, string> = NO_ARGS): CniError {
  try {
    parse(extra, args);
  } catch (err) {
    if (err instanceof CniError) return err;
    throw err;
  }
  return expect.fail(`config ${JSON.stringify(extra)} was accepted`);
}

function fakeLink(spec: TunnelSpec, over: Partial<Link> = {}): Link {
  return {
    index: 7,
    name: 'net1',
    flags: 0,
    up: true,
    mtu: 1476,
    mac: undefined,
    permMac: undefined,
    master: undefined,
    parent: undefined,
    linkNetnsId: 0,
    kind: spec.kind,
    slaveKind: undefined,
    info: decodeAttrs(encodeAttrs(tunnelData(spec))),
    slaveInfo: new Map(),
    numVf: undefined,
    attrs: new Map(),
    ...over,
  };
}

const UNDERLAY = {
  ...fakeLink({ kind: 'gre', remote: '10.0.0.2' }),
  index: 3,
  name: 'eth1',
  mtu: 1500,
  kind: 'veth',
};

describe('tunnel config', () => {
  it('parses each mode with its own fields and defaults', () => {
    const g = parse({ mode: 'gre', remote: '10.0.0.2', key: 5 });
    expect(g).toMatchObject({
      kind: 'gre',
      l2: false,
      effectiveRemote: '10.0.0.2',
      effectiveIkey: 5,
      effectiveOkey: 5,
    });
    const gv = parse({ mode: 'geneve', remote: '10.0.0.2', vni: 9 });
    expect(gv).toMatchObject({ kind: 'geneve', l2: true, effectiveVni: 9, effectivePort: 6081 });
    expect(parse({ mode: 'ip6tnl', remote: 'fd00::2', encapLimit: 'none' }).encapLimit).toBe('none');
    expect(parse({ mode: 'gre', remote: '10.0.0.2', ikey: 1, okey: 2 })).toMatchObject({
      effectiveIkey: 1,
      effectiveOkey: 2,
    });
  });

  it('takes remote, key and VNI per pod: args.cni first, then CNI_ARGS, then the config', () => {
    const c = parse(
      { mode: 'gre', remote: '10.0.0.2', key: 1, args: { cni: { remote: '10.0.0.3', key: 3 } } },
      new Map([
        ['REMOTE', '10.0.0.4'],
        ['KEY', '4'],
      ]),
    );
    expect(c).toMatchObject({
      effectiveRemote: '10.0.0.3',
      remoteField: 'args.cni.remote',
      effectiveIkey: 3,
    });
    const a = parse(
      { mode: 'gre' },
      new Map([
        ['REMOTE', '10.0.0.4'],
        ['KEY', '4'],
      ]),
    );
    expect(a).toMatchObject({
      effectiveRemote: '10.0.0.4',
      remoteField: 'CNI_ARGS REMOTE',
      effectiveOkey: 4,
    });
    expect(parse({ mode: 'geneve', remote: '10.0.0.2' }, new Map([['VNI', '77']])).effectiveVni).toBe(77);
    // a NAD meant for per-pod remotes is valid without one (ADD asks for it)
    expect(parse({ mode: 'ipip' }).effectiveRemote).toBeUndefined();
  });

  it.each([
    [{ mode: 'vxlan', remote: '10.0.0.2' }, /^mode: /],
    [{ mode: 'gre', remote: 'fd00::2' }, /^remote: "fd00::2" is IPv6, but "mode": "gre" runs over IPv4/],
    [
      { mode: 'ip6gre', remote: '10.0.0.2' },
      /^remote: "10\.0\.0\.2" is IPv4, but "mode": "ip6gre" runs over IPv6/,
    ],
    [{ mode: 'gre', remote: '224.0.0.5' }, /^remote: must be a unicast address/],
    [{ mode: 'gre', remote: '0.0.0.0' }, /^remote: must not be the unspecified address/],
    [{ mode: 'ipip', remote: '10.0.0.2', key: 1 }, /^key: 1 is not used with "mode": "ipip"/],
    [{ mode: 'gre', remote: '10.0.0.2', vni: 1 }, /^vni: 1 is not used with "mode": "gre"/],
    [{ mode: 'geneve', remote: '10.0.0.2', local: '10.0.0.1' }, /^local: .*geneve has no local address/],
    [{ mode: 'gre', remote: '10.0.0.2', mac: '0a:00:00:00:00:01' }, /^mac: .*an L3 tunnel has no MAC/],
    [{ mode: 'ip6tnl', remote: 'fd00::2', pmtudisc: true }, /^pmtudisc: true is not used/],
    [
      { mode: 'gre', remote: '10.0.0.2', bridge: 'br0' },
      /^bridge: "br0" is not used with "mode": "gre": only the L2 modes/,
    ],
    [{ mode: 'gre', remote: '10.0.0.2', encapLimit: 4 }, /^encapLimit: 4 is not used/],
    [{ mode: 'gre', remote: '10.0.0.2', key: 1, ikey: 2 }, /^ikey: cannot be used together with "key"/],
    [{ mode: 'gre', remote: '10.0.0.2', pmtudisc: false, ttl: 64 }, /^pmtudisc: false needs "ttl" 0/],
    [{ mode: 'gre', remote: '10.0.0.2', mtu: 60 }, /^mtu: must be 0 \(default\) or at least 68; got 60/],
    [
      { mode: 'gre', remote: '10.0.0.2', local: 'fd00::1' },
      /^local: "fd00::1" is IPv6, but "mode": "gre" runs over IPv4/,
    ],
    [{ mode: 'gre', remote: '10.0.0.2', master: 'a/b' }, /^master: interface name/],
    [{ mode: 'geneve', remote: '10.0.0.2', vni: 16_777_216 }, /^vni: /],
    [{ mode: 'gre', remote: '10.0.0.2', key: -1 }, /^key: /],
  ])('refuses %j with code 7 naming the field', (extra, msg) => {
    const err = refusal(extra);
    expect(err.code).toBe(7);
    expect(err.message).toMatch(msg);
  });

  it('refuses bad per-pod values naming where they came from', () => {
    expect(refusal({ mode: 'gre' }, new Map([['REMOTE', 'nope']])).message).toMatch(
      /^CNI_ARGS REMOTE: "nope": must be an IP address/,
    );
    expect(refusal({ mode: 'gre' }, new Map([['KEY', 'x1']])).message).toMatch(
      /^CNI_ARGS KEY: "x1" is not a number from 0 to 4294967295/,
    );
    expect(refusal({ mode: 'ipip', args: { cni: { key: 3 } } }).message).toMatch(
      /^args\.cni\.key: keys are for the GRE modes, not "ipip"/,
    );
    expect(refusal({ mode: 'gre', args: { cni: { remote: 'fd00::1' } } }).message).toMatch(
      /^args\.cni\.remote: "fd00::1" is IPv6/,
    );
  });
});

describe('tunnel MTU arithmetic (outer headers over the underlay MTU)', () => {
  const cases: [TunnelKind, Partial<TunnelSpec>, number][] = [
    ['ipip', {}, 20],
    ['gre', {}, 24],
    ['gre', { okey: 1 }, 28],
    ['gretap', {}, 38],
    ['gretap', { okey: 1 }, 42],
    ['ip6tnl', {}, 48],
    ['ip6tnl', { encapLimit: 'none' }, 40],
    ['ip6gre', {}, 52],
    ['ip6gre', { okey: 1 }, 56],
    ['ip6gretap', {}, 66],
    ['ip6gretap', { encapLimit: 'none' }, 58],
    ['geneve', { remote: '10.0.0.2' }, 50],
    ['geneve', { remote: 'fd00::2' }, 70],
  ];
  it.each(cases)('%s %j: %i bytes', (kind, extra, want) => {
    expect(tunnelOverhead({ kind, remote: '10.0.0.2', ...extra })).toBe(want);
  });

  it('defaults to the underlay MTU minus the overhead; a larger mtu is refused naming both', () => {
    const c = parse({ mode: 'gretap', remote: '10.0.0.2', key: 9 });
    const spec = tunnelSpec(c, '10.0.0.2', { master: UNDERLAY, local: '10.0.0.1' });
    expect(effectiveMtu(c, spec, UNDERLAY)).toBe(1458);
    const big = parse({ mode: 'gretap', remote: '10.0.0.2', key: 9, mtu: 1459 });
    expect(() => effectiveMtu(big, spec, UNDERLAY)).toThrow(
      /^mtu: 1459 is larger than 1458, the most a gretap tunnel over master "eth1" \(MTU 1500, 42 bytes of outer headers\) can carry/,
    );
  });
});

describe('tunnel link data', () => {
  it.each<TunnelSpec>([
    { kind: 'gre', remote: '10.0.0.2', local: '10.0.0.1', underlay: 3, ikey: 5, okey: 6, ttl: 64 },
    { kind: 'ipip', remote: '10.0.0.2', local: '10.0.0.1', underlay: 3 },
    { kind: 'ip6gretap', remote: 'fd00::2', local: 'fd00::1', underlay: 3, encapLimit: 'none' },
    { kind: 'ip6tnl', remote: 'fd00::2', local: 'fd00::1', underlay: 3, encapLimit: 2 },
    { kind: 'geneve', remote: 'fd00::2', vni: 77, port: 6081 },
  ])('$kind: what is encoded reads back the same, and CHECK finds no difference', (spec) => {
    const l = fakeLink(spec, { mtu: 1400 });
    const info = tunnelInfo(l);
    expect(info.remote).toBe(spec.remote);
    expect(info.local).toBe(spec.local);
    expect(info.ikey).toBe(spec.ikey);
    expect(info.vni).toBe(spec.vni);
    expect(tunnelMismatch(l, spec, 1400)).toBeUndefined();
    expect(
      tunnelMismatch(l, { ...spec, remote: spec.remote.includes(':') ? 'fd00::9' : '10.0.0.9' }, 1400),
    ).toMatch(/^has remote /);
    expect(tunnelMismatch(l, spec, 1300)).toBe('has MTU 1400, expected 1300');
  });

  it('a GRE key difference is named; keyless and keyed tuples differ', () => {
    const spec: TunnelSpec = {
      kind: 'gre',
      remote: '10.0.0.2',
      local: '10.0.0.1',
      underlay: 3,
      ikey: 5,
      okey: 5,
    };
    expect(tunnelMismatch(fakeLink(spec), { ...spec, ikey: 6 }, 1476)).toBe('has ikey 5, config says 6');
    expect(tupleOf('gre', spec)).toBe('gre local 10.0.0.1 remote 10.0.0.2 key 5 underlay index 3');
    expect(tupleOf('gre', { ...spec, ikey: undefined })).toBe(
      'gre local 10.0.0.1 remote 10.0.0.2 no key underlay index 3',
    );
  });
});

describe('tunnel explain', () => {
  const ctx = (raw: Record<string, unknown>, cniArgs = NO_ARGS) => ({
    containerId: 'c1',
    netns: '/run/netns/p1',
    ifname: 'net1',
    cniArgs,
    cniVersion: '1.0.0',
    raw: { ...BASE, ...raw },
    env: {},
    ipam: async () => undefined,
    dryRun: new Map<string, unknown>(),
  });

  it('forecasts the MTU from the master on this node (lo: 65536) minus the mode overhead', async () => {
    const f = await explainer.explain(ctx({ mode: 'ip6gretap', remote: 'fd00::2', master: 'lo', key: 3 }));
    expect(f.result.interfaces?.[0]).toMatchObject({ name: 'net1', mtu: 65536 - 70 });
    expect(f.notes.join('\n')).toMatch(/MTU 65466: master "lo"'s 65536 - 70 bytes of ip6gretap headers/);
  });

  it('without a master, says the MTU is decided at ADD; a per-pod remote is named', async () => {
    const f = await explainer.explain(ctx({ mode: 'gre' }, new Map([['REMOTE', '192.0.2.9']])));
    expect(f.result.interfaces?.[0]?.mtu).toBeUndefined();
    expect(f.notes.join('\n')).toMatch(/gre tunnel \(L3: IP\) to CNI_ARGS REMOTE 192\.0\.2\.9/);
    expect(f.notes.join('\n')).toMatch(/the underlay's MTU - 24 bytes of gre headers/);
  });
});
