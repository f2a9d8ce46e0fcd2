import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { usableMac } from '../../src/attach/bridge.ts';
import { CniError } from '../../src/cni/errors.ts';
import { hash16 } from '../../src/util/hash.ts';
import { collectTrunk, parseBridgeConf, validateForAdd } from './config.ts';
import { calcGateways, defaultGatewayOf } from './gateway.ts';
import { portVlans } from './host.ts';
import * as rules from './rules.ts';

const base = { cniVersion: '1.0.0', name: 'net', type: 'bridge' };
const parse = (extra: Record<string, unknown>, args: Record<string, string> = {}) =>
  parseBridgeConf({ ...base, ...extra }, new Map(Object.entries(args)));

function errorOf(fn: () => unknown): { code: number; message: string } {
  try {
    fn();
  } catch (err) {
    if (err instanceof CniError) return { code: err.code, message: err.message };
    throw err;
  }
  throw new Error('expected a CniError');
}

describe('bridge config', () => {
  it('applies the reference defaults', () => {
    const c = parse({});
    expect(c).toMatchObject({ brName: 'cni0', isGW: false, trunk: [], vlanFiltering: false });
    expect(c.effectiveMac).toBeUndefined();
    expect(parse({ bridge: '' }).brName).toBe('cni0');
    expect(parse({ isDefaultGateway: true }).isGW).toBe(true);
    expect(parse({ unknownField: { x: 1 } }).brName).toBe('cni0');
  });

  it('rejects a VLAN outside 0..4094 with the field path and value', () => {
    expect(errorOf(() => parse({ vlan: 4095 }))).toEqual({
      code: 7,
      message: 'vlan: must be a VLAN ID between 0 and 4094; got 4095',
    });
    expect(errorOf(() => parse({ vlan: -1 })).message).toBe(
      'vlan: must be a VLAN ID between 0 and 4094; got -1',
    );
    expect(errorOf(() => parse({ vlan: '10' })).message).toBe('vlan: expected number, got string "10"');
    expect(parse({ vlan: 0 }).vlanFiltering).toBe(false);
    expect(parse({ vlan: 4094 }).vlanFiltering).toBe(true);
  });

  it('checks each vlanTrunk entry and names it', () => {
    expect(errorOf(() => parse({ vlanTrunk: [{ id: 5 }, { id: 0 }] })).message).toBe(
      'vlanTrunk[1].id: must be a VLAN ID between 1 and 4094; got 0',
    );
    expect(errorOf(() => parse({ vlanTrunk: [{ minID: 10 }] }))).toEqual({
      code: 7,
      message: 'vlanTrunk[0].maxID: minID and maxID must be given together',
    });
    expect(errorOf(() => parse({ vlanTrunk: [{ maxID: 10 }] })).message).toBe(
      'vlanTrunk[0].minID: minID and maxID must be given together',
    );
    expect(errorOf(() => parse({ vlanTrunk: [{ minID: 20, maxID: 10 }] })).message).toBe(
      'vlanTrunk[0].maxID: must not be smaller than minID 20; got 10',
    );
    expect(errorOf(() => parse({ vlanTrunk: [{ minID: 1, maxID: 5000 }] })).message).toBe(
      'vlanTrunk[0].maxID: must be a VLAN ID between 1 and 4094; got 5000',
    );
  });

  it('merges trunk VLANs into sorted ranges', () => {
    expect(
      collectTrunk([{ id: 30 }, { minID: 10, maxID: 20 }, { id: 21 }, { minID: 15, maxID: 18 }, { id: 5 }]),
    ).toEqual([
      { min: 5, max: 5 },
      { min: 10, max: 21 },
      { min: 30, max: 30 },
    ]);
    expect(collectTrunk([{ minID: 1, maxID: 4094, id: 7 }])).toEqual([{ min: 1, max: 4094 }]);
    // An empty trunk still turns VLAN filtering on, as in the reference (its list is non-nil).
    expect(parse({ vlanTrunk: [] })).toMatchObject({ trunk: [], vlanFiltering: true });
  });

  it('rejects bridge names the kernel would refuse', () => {
    expect(errorOf(() => parse({ bridge: 'a-very-long-bridge' })).message).toBe(
      'bridge: is longer than 15 bytes (an interface name); got "a-very-long-bridge"',
    );
    // counted in bytes, as the kernel counts them: 8 characters, 16 bytes
    expect(errorOf(() => parse({ bridge: 'éééééééé' })).message).toMatch(/^bridge: is longer than 15 bytes/);
    expect(errorOf(() => parse({ bridge: 'br/0' })).message).toMatch(/^bridge: contains "\/"/);
    expect(errorOf(() => parse({ bridge: 'bridge-labs', vlan: 1000, isGateway: true })).message).toBe(
      'bridge: the VLAN gateway interface "bridge-labs.1000" (bridge name, ".", vlan) is longer than 15 bytes; use a shorter bridge name',
    );
    // Without isGateway there is no VLAN gateway interface to name.
    expect(parse({ bridge: 'bridge-labs', vlan: 1000 }).brName).toBe('bridge-labs');
  });

  it('takes the pod MAC from runtimeConfig, then args, then CNI_ARGS, then mac', () => {
    const m = (n: number) => `0a:58:00:00:00:0${n}`;
    const all = { mac: m(4), args: { cni: { mac: m(2) } }, runtimeConfig: { mac: m(1) } };
    expect(parse(all, { MAC: m(3) }).effectiveMac).toBe(m(1));
    expect(parse({ ...all, runtimeConfig: {} }, { MAC: m(3) }).effectiveMac).toBe(m(2));
    expect(parse({ mac: m(4) }, { MAC: m(3) }).effectiveMac).toBe(m(3));
    expect(parse({ mac: m(4) }).effectiveMac).toBe(m(4));
    expect(errorOf(() => parse({}, { MAC: 'nope' })).message).toMatch(/^CNI_ARGS MAC: must be a MAC address/);
    expect(errorOf(() => parse({ runtimeConfig: { mac: 'zz' } })).message).toMatch(
      /^runtimeConfig\.mac: must be a MAC/,
    );
  });

  it('rejects wrong types and unknown ipMasqBackend values', () => {
    expect(errorOf(() => parse({ hairpinMode: 'yes' })).message).toBe(
      'hairpinMode: expected boolean, got string "yes"',
    );
    expect(errorOf(() => parse({ mtu: -5 })).message).toMatch(/^mtu: /);
    expect(errorOf(() => parse({ ipMasqBackend: 'ebtables' })).message).toBe(
      'ipMasqBackend: expected one of "iptables", "nftables"; got "ebtables"',
    );
  });

  it('refuses at ADD only: hairpin with promiscuous mode, IPAM without a container interface', () => {
    const raw = { ...base, ipam: { type: 'host-local' } };
    const c = parse({ hairpinMode: true, promiscMode: true });
    expect(errorOf(() => validateForAdd(c, base))).toEqual({
      code: 7,
      message: 'promiscMode: cannot be true together with hairpinMode',
    });
    const d = parse({ disableContainerInterface: true });
    expect(() => validateForAdd(d, base)).not.toThrow();
    expect(errorOf(() => validateForAdd(d, raw))).toEqual({
      code: 7,
      message: 'ipam: cannot be used when disableContainerInterface is true',
    });
  });
});

describe('gateways', () => {
  it('computes the first address of the subnet', () => {
    expect(defaultGatewayOf('10.1.2.77/24')).toBe('10.1.2.1');
    expect(defaultGatewayOf('10.1.2.77/16')).toBe('10.1.0.1');
    expect(defaultGatewayOf('fd00:1::42/64')).toBe('fd00:1::1');
  });

  it('fills gateways and bridge addresses with isGateway, keeps IPAM gateways', () => {
    const g = calcGateways([{ address: '10.1.0.5/24' }, { address: 'fd00::5/64', gateway: 'fd00::fe' }], [], {
      isGW: true,
      isDefaultGW: false,
    });
    expect(g.ips).toEqual([
      { address: '10.1.0.5/24', gateway: '10.1.0.1', interface: 2 },
      { address: 'fd00::5/64', gateway: 'fd00::fe', interface: 2 },
    ]);
    expect(g.bridgeAddrs).toEqual({ 4: ['10.1.0.1/24'], 6: ['fd00::fe/64'] });
    expect(g.routes).toEqual([]);
  });

  it('without isGateway only points IPs at the pod interface', () => {
    const g = calcGateways([{ address: '10.1.0.5/24' }], [{ dst: '10.9.0.0/16' }], {
      isGW: false,
      isDefaultGW: false,
    });
    expect(g).toEqual({
      ips: [{ address: '10.1.0.5/24', interface: 2 }],
      routes: [{ dst: '10.9.0.0/16' }],
      bridgeAddrs: { 4: [], 6: [] },
    });
  });

  it('adds one default route per family with isDefaultGateway unless IPAM has one', () => {
    const opts = { isGW: true, isDefaultGW: true };
    const two = [{ address: '10.1.0.5/24' }, { address: '10.2.0.5/24' }, { address: 'fd00::5/64' }];
    expect(calcGateways(two, [], opts).routes).toEqual([
      { dst: '0.0.0.0/0', gw: '10.1.0.1' },
      { dst: '::/0', gw: 'fd00::1' },
    ]);
    expect(calcGateways(two, [{ dst: '0.0.0.0/0' }], opts).routes).toEqual([
      { dst: '0.0.0.0/0' },
      { dst: '::/0', gw: 'fd00::1' },
    ]);
    expect(calcGateways(two, [{ dst: '::/0', gw: 'fd00::99' }], opts).routes).toEqual([
      { dst: '::/0', gw: 'fd00::99' },
      { dst: '0.0.0.0/0', gw: '10.1.0.1' },
    ]);
  });
});

describe('port VLANs', () => {
  it('makes the access VLAN the untagged PVID, after the trunk so it wins', () => {
    expect(portVlans(0, [])).toEqual([]);
    expect(portVlans(100, [])).toEqual([{ vid: 100, pvid: true, untagged: true }]);
    expect(portVlans(100, [{ min: 10, max: 200 }])).toEqual([
      { vid: 10, vidEnd: 200 },
      { vid: 100, pvid: true, untagged: true },
    ]);
    expect(portVlans(0, [{ min: 5, max: 5 }])).toEqual([
      { vid: 5, vidEnd: 5 },
      { vid: 1, pvid: true, untagged: true },
    ]);
  });

  it('pins only unicast, non-zero MACs on the bridge', () => {
    expect(usableMac('00:00:00:00:00:00')).toBeUndefined();
    expect(usableMac('01:00:5e:00:00:01')).toBeUndefined();
    expect(usableMac(undefined)).toBeUndefined();
    expect(usableMac('0a:58:0a:01:00:01')).toBe('0a:58:0a:01:00:01');
  });
});

describe('nftables rules', () => {
  const a = { network: 'net1', ifname: 'eth0', containerId: 'abc123' };

  it('hashes with 64-bit FNV-1a', () => {
    expect(hash16('')).toBe('cbf29ce484222325');
    expect(hash16('a')).toBe('af63dc4c8601ec8c');
    expect(rules.masqChain(a)).toMatch(/^masq-[0-9a-f]{16}-[0-9a-f]{16}$/);
    expect(rules.masqChain(a)).not.toBe(rules.masqChain({ ...a, ifname: 'net1' }));
    expect(rules.masqChain(a).startsWith(`masq-${rules.networkTag('net1')}`)).toBe(true);
  });

  it('writes one masquerade rule per address in a base chain of the attachment', () => {
    const c = rules.masqChain(a);
    expect(rules.masqRules(a, ['10.1.0.5/24', 'fd00::5/64'])).toEqual([
      'add table inet manifold_masq',
      `add chain inet manifold_masq ${c} { type nat hook postrouting priority srcnat; policy accept; comment "manifold bridge net: net1, if: eth0, id: abc123"; }`,
      `flush chain inet manifold_masq ${c}`,
      `add rule inet manifold_masq ${c} ip saddr 10.1.0.5 ip daddr != 10.1.0.0/24 ip daddr != 224.0.0.0/4 masquerade comment "manifold bridge net: net1, if: eth0, id: abc123"`,
      `add rule inet manifold_masq ${c} ip6 saddr fd00::5 ip6 daddr != fd00::/64 ip6 daddr != ff00::/8 masquerade comment "manifold bridge net: net1, if: eth0, id: abc123"`,
    ]);
  });

  it('tears down by declaring, flushing and deleting the chains (idempotent)', () => {
    const t = rules.teardown(a, { masq: true, spoof: true });
    expect(t.filter((l) => l.startsWith('delete'))).toEqual([
      `delete chain inet manifold_masq ${rules.masqChain(a)}`,
      `delete chain bridge manifold_macspoofchk ${rules.spoofChain(a)}`,
    ]);
    expect(rules.teardown(a, { masq: false, spoof: false })).toEqual([]);
  });

  it('matches the pod port and MAC in the spoof check', () => {
    expect(rules.spoofRules(a, 'veth0a0b0c0d', '0A:58:00:00:00:01').at(-1)).toBe(
      `add rule bridge manifold_macspoofchk ${rules.spoofChain(a)} iifname "veth0a0b0c0d" ether saddr != 0a:58:00:00:00:01 drop comment "manifold bridge net: net1, if: eth0, id: abc123"`,
    );
  });

  it('keeps comments within what nft accepts', () => {
    const odd = rules.comment({ network: 'we"ird\\net\n', ifname: 'eth0', containerId: 'x'.repeat(200) });
    expect(odd.length).toBe(128);
    expect(odd).toMatch(/^manifold bridge net: we\?ird\?net\?, if: eth0, id: x+$/);
  });

  it('GC deletes the chains of the network that no valid attachment owns', () => {
    const keep = { network: 'net1', ifname: 'eth0', containerId: 'keep' };
    const gone = { network: 'net1', ifname: 'eth0', containerId: 'gone' };
    const other = { network: 'net2', ifname: 'eth0', containerId: 'gone' };
    const chains = [
      { family: 'inet', table: 'manifold_masq', name: rules.masqChain(keep) },
      { family: 'inet', table: 'manifold_masq', name: rules.masqChain(gone) },
      { family: 'bridge', table: 'manifold_macspoofchk', name: rules.spoofChain(gone) },
      { family: 'inet', table: 'manifold_masq', name: rules.masqChain(other) },
      { family: 'inet', table: 'somebody_else', name: rules.masqChain(gone) },
    ];
    expect(rules.gcBatch('net1', chains, [{ containerID: 'keep', ifname: 'eth0' }])).toEqual([
      `flush chain inet manifold_masq ${rules.masqChain(gone)}`,
      `delete chain inet manifold_masq ${rules.masqChain(gone)}`,
      `flush chain bridge manifold_macspoofchk ${rules.spoofChain(gone)}`,
      `delete chain bridge manifold_macspoofchk ${rules.spoofChain(gone)}`,
    ]);
  });
});

describe('examples', () => {
  const file = (rel: string) =>
    readFileSync(new URL(`../../conf.d-examples/${rel}`, import.meta.url), 'utf8');

  it('conf.d-examples/20-bridge.conf is a valid bridge config', () => {
    const c = parseBridgeConf(JSON.parse(file('20-bridge.conf')) as Record<string, unknown>, new Map());
    expect(c).toMatchObject({ type: 'bridge', brName: 'mfbr0', isGW: true, ipMasq: true });
  });

  it('conf.d-examples/nad/bridge.yaml holds a valid bridge config as a JSON string', () => {
    const yaml = file('nad/bridge.yaml');
    expect(yaml).toMatch(/^apiVersion: k8s\.cni\.cncf\.io\/v1$/m);
    expect(yaml).toMatch(/^kind: NetworkAttachmentDefinition$/m);
    const lines = yaml.split('\n');
    const at = lines.findIndex((l) => /^ {2}config: \|-$/.test(l));
    const body = lines.slice(at + 1).filter((l) => l.startsWith('    ') || l === '');
    const raw = JSON.parse(body.map((l) => l.slice(4)).join('\n')) as Record<string, unknown>;
    expect(parseBridgeConf(raw, new Map())).toMatchObject({ name: 'bridge-net', brName: 'mfbr0' });
  });
});
