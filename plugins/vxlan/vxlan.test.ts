import { describe, expect, it } from 'vitest';
import { CniError } from '../../src/cni/errors.ts';
import * as kinds from '../../src/kernel/kinds.ts';
import type { Link } from '../../src/kernel/link.ts';
import { decodeAttrs, encodeAttrs } from '../../src/kernel/nl/attrs.ts';
import { parseVxlanConf, type VxlanConf } from './config.ts';
import { effectiveMtu, overhead, vxlanMismatch, vxlanSpec } from './device.ts';
import { wantedFdb } from './fdb.ts';
import {
  attachmentMark,
  hostVethName,
  isSharedMark,
  parseAttachmentMark,
  sharedMark,
  vxlanDeviceName,
} from './names.ts';

const BASE = { cniVersion: '1.0.0', name: 'ovl', type: 'vxlan' };
const NO_ARGS = new Map<string, string>();

function parse(extra: Record<string, unknown>, args: ReadonlyMap<string, string> = NO_ARGS): VxlanConf {
  return parseVxlanConf({ ...BASE, ...extra }, args);
}

/** The CNI error a config is refused with (fails the test when it is accepted). */
function refusal(extra: Record<string, unknown>, args: ReadonlyMap<string, string> = NO_ARGS): CniError {
  try {
    parse(extra, args);
  } catch (err) {
    if (err instanceof CniError) return err;
    throw err;
  }
  return expect.fail(`config ${JSON.stringify(extra)} was accepted`);
}

function fakeLink(over: Partial<Link> & { spec: kinds.VxlanSpec }): Link {
  const { spec, ...rest } = over;
  return {
    index: 7,
    name: 'net1',
    flags: 0,
    up: true,
    mtu: 1450,
    mac: '0a:00:00:00:00:01',
    permMac: undefined,
    master: undefined,
    parent: undefined,
    linkNetnsId: 0,
    kind: 'vxlan',
    slaveKind: undefined,
    info: decodeAttrs(encodeAttrs(kinds.vxlanData(spec))),
    slaveInfo: new Map(),
    numVf: undefined,
    attrs: new Map(),
    ...rest,
  };
}

const UNDERLAY: Link = {
  ...fakeLink({ spec: { vni: 1, port: 1, learning: false } }),
  index: 3,
  name: 'eth1',
  mtu: 1500,
  kind: 'veth',
};

describe('vxlan config', () => {
  it('applies the defaults: direct mode, port 4789 (not the kernel 8472), learning off', () => {
    const c = parse({ vni: 42 });
    expect(c).toMatchObject({
      vni: 42,
      effectiveMode: 'direct',
      effectivePort: 4789,
      effectiveLearning: false,
      bridgeName: 'vxbr42',
      family: 4,
    });
    expect(c.effectiveMac).toBeUndefined();
    expect(vxlanSpec(c, UNDERLAY)).toEqual({ vni: 42, port: 4789, underlay: 3, learning: false });
  });

  it('keeps every optional field and ignores unknown ones', () => {
    const c = parse({
      vni: 16777215,
      port: 8472,
      master: 'eth1',
      local: '192.0.2.1',
      remotes: ['192.0.2.2', '192.0.2.3'],
      fdb: [{ mac: '0A:58:00:00:00:09', dst: '192.0.2.9' }],
      learning: true,
      ttl: 64,
      tos: 1,
      srcPortRange: [40000, 50000],
      udpCsum: false,
      mtu: 1400,
      mode: 'bridge',
      bridge: 'ovl0',
      somethingElse: { x: 1 },
    });
    expect(c).toMatchObject({ effectivePort: 8472, effectiveLearning: true, bridgeName: 'ovl0', mtu: 1400 });
    expect(vxlanSpec(c, UNDERLAY)).toEqual({
      vni: 16777215,
      port: 8472,
      underlay: 3,
      learning: true,
      local: '192.0.2.1',
      ttl: 64,
      tos: 1,
      srcPortRange: [40000, 50000],
      udpCsum: false,
    });
  });

  it.each([
    [{}, /^vni: is required$/],
    [{ vni: 0 }, /^vni: must have ≥ 1; got 0$/],
    [{ vni: 16777216 }, /^vni: must have ≤ 16777215; got 16777216$/],
    [{ vni: 4.5 }, /^vni: /],
    [{ vni: '42' }, /^vni: expected number, got string "42"$/],
    [{ vni: 1, port: 0 }, /^port: must have ≥ 1/],
    [{ vni: 1, port: 65536 }, /^port: must have ≤ 65535/],
    [{ vni: 1, mode: 'l2' }, /^mode: expected one of "direct", "bridge"; got "l2"$/],
    [{ vni: 1, ttl: 256 }, /^ttl: must have ≤ 255/],
    [{ vni: 1, tos: -1 }, /^tos: must have ≥ 0/],
    [{ vni: 1, local: 'nope' }, /^local: must be an IP address/],
    [{ vni: 1, local: '239.1.1.1' }, /^local: must be a unicast address/],
    [{ vni: 1, group: '192.0.2.1' }, /^group: must be a multicast address/],
    [{ vni: 1, remotes: ['192.0.2.2', '224.0.0.5'] }, /^remotes\[1\]: must be a unicast address/],
    [{ vni: 1, remotes: ['0.0.0.0'] }, /^remotes\[0\]: must not be the unspecified address/],
    [{ vni: 1, fdb: [{ mac: '0a:58:00:00:00', dst: '192.0.2.9' }] }, /^fdb\[0\]\.mac: must be a MAC address/],
    [{ vni: 1, fdb: [{ mac: '0a:58:00:00:00:01' }] }, /^fdb\[0\]\.dst: is required$/],
    [{ vni: 1, srcPortRange: [1000] }, /^srcPortRange/],
    [{ vni: 1, srcPortRange: [2000, 1000] }, /^srcPortRange: low port 2000 is above high port 1000$/],
    [{ vni: 1, mtu: 40 }, /^mtu: must be 0 \(default\) or at least 68; got 40$/],
    [{ vni: 1, bridge: 'br0' }, /^bridge: is only used with "mode": "bridge"$/],
    [
      { vni: 1, mode: 'bridge', bridge: 'a-very-long-bridge' },
      /^bridge: interface name is longer than 15 bytes/,
    ],
    [{ vni: 1, mode: 'bridge', bridge: 'éééééééé' }, /^bridge: interface name is longer than 15 bytes/],
    [{ vni: 1, mode: 'bridge', bridge: 'br/0' }, /^bridge: interface name contains "\/"/],
    [{ vni: 1, master: 'eth 1' }, /^master: interface name contains "\/", ":" or white space/],
    [{ vni: 1, mac: 'zz:00:00:00:00:00' }, /^mac: must be a MAC address/],
  ])('refuses %j with code 7 and the field path', (extra, message) => {
    const err = refusal(extra);
    expect(err.code).toBe(7);
    expect(err.message).toMatch(message);
  });

  it('makes group and remotes mutually exclusive', () => {
    const err = refusal({ vni: 1, group: '239.1.1.1', remotes: ['192.0.2.2'] });
    expect(err.code).toBe(7);
    expect(err.message).toMatch(/^remotes: cannot be used together with "group"/);
    expect(parse({ vni: 1, group: '239.1.1.1' }).group).toBe('239.1.1.1');
    expect(parse({ vni: 1, group: '239.1.1.1', remotes: [] }).group).toBe('239.1.1.1');
  });

  it('refuses a mix of underlay address families, naming the odd one', () => {
    const err = refusal({ vni: 1, local: '2001:db8::1', remotes: ['2001:db8::2', '192.0.2.3'] });
    expect(err.message).toBe(
      'remotes[1]: "192.0.2.3" is IPv4, but local "2001:db8::1" is IPv6: one vxlan device speaks one underlay family',
    );
    expect(
      refusal({ vni: 1, remotes: ['192.0.2.2'], fdb: [{ mac: '0a:00:00:00:00:01', dst: 'fd00::1' }] })
        .message,
    ).toMatch(/^fdb\[0\]\.dst: "fd00::1" is IPv6/);
    expect(parse({ vni: 1, group: 'ff05::42' }).family).toBe(6);
  });

  it('refuses the same unicast MAC twice in fdb, but not several flood entries', () => {
    const err = refusal({
      vni: 1,
      fdb: [
        { mac: '0a:00:00:00:00:01', dst: '192.0.2.1' },
        { mac: '0A:00:00:00:00:01', dst: '192.0.2.2' },
      ],
    });
    expect(err.message).toBe('fdb[1].mac: "0A:00:00:00:00:01" is already given in fdb[0]');
    expect(
      parse({
        vni: 1,
        fdb: [
          { mac: '00:00:00:00:00:00', dst: '192.0.2.1' },
          { mac: '00:00:00:00:00:00', dst: '192.0.2.2' },
        ],
      }).fdb,
    ).toHaveLength(2);
  });

  it('takes the MAC from runtimeConfig, else CNI_ARGS MAC, else the config', () => {
    const args = new Map([['MAC', '0a:00:00:00:00:02']]);
    expect(parse({ vni: 1, mac: '0a:00:00:00:00:03' }).effectiveMac).toBe('0a:00:00:00:00:03');
    expect(parse({ vni: 1, mac: '0a:00:00:00:00:03' }, args).effectiveMac).toBe('0a:00:00:00:00:02');
    expect(
      parse({ vni: 1, mac: '0a:00:00:00:00:03', runtimeConfig: { mac: '0a:00:00:00:00:01' } }, args)
        .effectiveMac,
    ).toBe('0a:00:00:00:00:01');
    expect(refusal({ vni: 1 }, new Map([['MAC', 'nope']])).message).toMatch(/^CNI_ARGS MAC: must be a MAC/);
  });
});

describe('vxlan FDB entries wanted', () => {
  it('turns each remote into an appended all-zeros flood entry and keeps fdb entries', () => {
    const c = parse({
      vni: 1,
      remotes: ['192.0.2.2', '192.0.2.3'],
      fdb: [
        { mac: '0A:58:00:00:00:09', dst: '192.0.2.9' },
        { mac: '00:00:00:00:00:00', dst: '192.0.2.4' },
      ],
    });
    expect(wantedFdb(c)).toEqual([
      { mac: '00:00:00:00:00:00', dst: '192.0.2.2', append: true },
      { mac: '00:00:00:00:00:00', dst: '192.0.2.3', append: true },
      { mac: '0a:58:00:00:00:09', dst: '192.0.2.9', append: false },
      { mac: '00:00:00:00:00:00', dst: '192.0.2.4', append: true },
    ]);
    expect(wantedFdb(parse({ vni: 1 }))).toEqual([]);
  });

  it("leaves out remotes that are the host's own addresses (one config lists every node)", () => {
    const c = parse({ vni: 1, remotes: ['192.0.2.1', '192.0.2.2'] });
    expect(wantedFdb(c, (ip) => ip === '192.0.2.1')).toEqual([
      { mac: '00:00:00:00:00:00', dst: '192.0.2.2', append: true },
    ]);
  });
});

describe('vxlan MTU', () => {
  it('defaults to the underlay MTU minus 50 (IPv4) or 70 (IPv6)', () => {
    expect(overhead(4)).toBe(50);
    expect(overhead(6)).toBe(70);
    expect(effectiveMtu(parse({ vni: 1 }), UNDERLAY)).toBe(1450);
    expect(effectiveMtu(parse({ vni: 1, remotes: ['2001:db8::2'] }), UNDERLAY)).toBe(1430);
    expect(effectiveMtu(parse({ vni: 1, mtu: 1400 }), UNDERLAY)).toBe(1400);
    expect(effectiveMtu(parse({ vni: 1, mtu: 0 }), UNDERLAY)).toBe(1450);
  });

  it('refuses an mtu the underlay cannot carry (the kernel would silently clamp it)', () => {
    let err: unknown;
    try {
      effectiveMtu(parse({ vni: 1, mtu: 1451 }), UNDERLAY);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CniError);
    expect((err as CniError).code).toBe(7);
    expect((err as CniError).message).toBe(
      'mtu: 1451 is larger than 1450, the most a vxlan over master "eth1" (MTU 1500, IPv4 underlay) can carry',
    );
  });
});

describe('vxlan device comparison', () => {
  const conf = parse({ vni: 42, local: '192.0.2.1', ttl: 64, srcPortRange: [40000, 50000] });
  const want = vxlanSpec(conf, UNDERLAY);

  it('accepts the device the config describes', () => {
    expect(vxlanMismatch(fakeLink({ spec: want }), want, 1450, 'eth1')).toBeUndefined();
  });

  it.each([
    [{ vni: 43 }, 'has VNI 43, config says 42'],
    [{ port: 8472 }, 'has UDP port 8472, config says 4789'],
    [{ learning: true }, 'has learning on, config says off'],
    [{ underlay: 9 }, 'has underlay device index 9, config\'s master "eth1" is index 3'],
    [{ local: '192.0.2.7' }, 'has local "192.0.2.7", config says "192.0.2.1"'],
    [{ ttl: 1 }, 'has ttl 1, config says 64'],
    [{ srcPortRange: [1, 2] as const }, 'has source port range [1,2], config says [40000,50000]'],
  ])('names the first difference: %j', (change, message) => {
    expect(vxlanMismatch(fakeLink({ spec: { ...want, ...change } }), want, 1450, 'eth1')).toBe(message);
  });

  it('checks kind and MTU too', () => {
    expect(vxlanMismatch(fakeLink({ spec: want, mtu: 1400 }), want, 1450, 'eth1')).toBe(
      'has MTU 1400, expected 1450',
    );
    expect(vxlanMismatch(fakeLink({ spec: want, kind: 'veth' }), want, 1450, 'eth1')).toBe(
      'is of kind "veth", not vxlan',
    );
  });
});

describe('vxlan names and marks', () => {
  it('derives a stable host veth name per attachment, within 15 characters', () => {
    const a = hostVethName('ovl', 'ctr1', 'net1');
    expect(a).toMatch(/^vxv[0-9a-f]{8}$/);
    expect(hostVethName('ovl', 'ctr1', 'net1')).toBe(a);
    expect(hostVethName('ovl', 'ctr1', 'net2')).not.toBe(a);
    expect(hostVethName('ovl2', 'ctr1', 'net1')).not.toBe(a);
    expect(vxlanDeviceName(16777215).length).toBeLessThanOrEqual(15);
    expect(parse({ vni: 16777215, mode: 'bridge' }).bridgeName.length).toBeLessThanOrEqual(15);
  });

  it('round-trips the attachment mark and tells marks of other VNIs apart', () => {
    const m = { network: 'ovl', containerId: 'c0ffee', ifname: 'net1' };
    expect(parseAttachmentMark(attachmentMark(m))).toEqual(m);
    expect(parseAttachmentMark('something else')).toBeUndefined();
    expect(parseAttachmentMark(undefined)).toBeUndefined();
    expect(isSharedMark(sharedMark(42), 42)).toBe(true);
    expect(isSharedMark(sharedMark(42), 4)).toBe(false);
    expect(isSharedMark(undefined, 42)).toBe(false);
  });
});
