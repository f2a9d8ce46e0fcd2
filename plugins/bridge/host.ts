/**
 * The host side of a bridge attachment: the bridge (src/attach/bridge.ts), the veth pair (pod end created in
 * the pod), bridge port settings and VLANs, gateway addresses, the VLAN gateway interface and
 * forwarding. Everything here acts through the host rtnetlink socket.
 */
import { usableMac } from '../../src/attach/bridge.ts';
import { type AttachmentKey, type Pod, podTempName, tempName } from '../../src/attach/pod.ts';
import { CniError, Code, describeError, failed, q } from '../../src/cni/errors.ts';
import { equalIP, networkOf, parseCIDR } from '../../src/ip/ip.ts';
import * as addr from '../../src/kernel/addr.ts';
import * as bridge from '../../src/kernel/bridge.ts';
import { isErrno } from '../../src/kernel/errors.ts';
import * as link from '../../src/kernel/link.ts';
import type { Rtnl } from '../../src/kernel/socket.ts';
import * as sysctl from '../../src/kernel/sysctl.ts';
import { log } from '../../src/util/log.ts';
import type { BridgeConf, VlanRange } from './config.ts';

const IF_OPER_UP = 6;
const VETH_NAME_TRIES = 10;

/** A sysctl that may legitimately be missing (IPv6 disabled): written when possible. */
export function trySysctl(ns: Pod['ns'] | undefined, key: string, value: string): void {
  try {
    sysctl.set(ns, { [key]: value });
  } catch (err) {
    log.verbose(`sysctl ${key}=${value} not set: ${describeError(err)}`);
  }
}

/** Removes a bridge this ADD created, unless some other port joined it meanwhile. */
export async function removeBridgeIfUnused(h: Rtnl, br: link.Link): Promise<void> {
  const links = await link.list(h);
  if (links.some((l) => l.master === br.index)) {
    log.info(`rollback: bridge ${q(br.name)} has other ports now, left in place`);
    return;
  }
  await link.remove(h, br.index, `bridge ${q(br.name)}`);
}

export interface CreatedVeth {
  readonly hostName: string;
  readonly podTmpName: string;
}

/**
 * Creates the veth pair from the host: the host end attached to the bridge and up, the pod end
 * made straight in the pod's namespace under the attachment's temporary name (with the MTU
 * and MAC asked for), which DEL also looks for. Random host names that clash are retried, as
 * the reference does.
 */
export async function createVeth(
  h: Rtnl,
  pod: Pod,
  br: link.Link,
  conf: BridgeConf,
  attachment: AttachmentKey,
): Promise<CreatedVeth> {
  const mtu = conf.mtu ? { mtu: conf.mtu } : {};
  const ifname = attachment.ifname;
  const podTmpName = podTempName(attachment);
  for (let attempt = 1; ; attempt++) {
    const hostName = tempName('veth');
    try {
      await link.create(
        h,
        {
          name: hostName,
          kind: 'veth',
          up: true,
          master: br.index,
          ...mtu,
          rawData: link.vethData({
            name: podTmpName,
            netns: pod.ns,
            ...mtu,
            ...(conf.effectiveMac ? { mac: conf.effectiveMac } : {}),
          }),
        },
        `veth pair for ${q(ifname)} on bridge ${q(br.name)}`,
      );
      return { hostName, podTmpName };
    } catch (err) {
      if (isErrno(err, 'EEXIST') && attempt < VETH_NAME_TRIES) continue;
      throw err;
    }
  }
}

/** The VLAN entries of a port: trunk ranges, then the access VLAN as PVID (so it wins). */
export function portVlans(vlan: number, trunk: readonly VlanRange[]): bridge.VlanSpec[] {
  const specs: bridge.VlanSpec[] = trunk.map((r) => ({ vid: r.min, vidEnd: r.max }));
  // Without an access VLAN a trunk keeps VLAN 1 native, as the reference does.
  const native = vlan || (trunk.length > 0 ? 1 : 0);
  if (native) specs.push({ vid: native, pvid: true, untagged: true });
  return specs;
}

/** Hairpin, isolation and VLAN membership of a bridge port. */
export async function configurePort(
  h: Rtnl,
  port: link.Link,
  opts: {
    hairpin: boolean;
    isolated: boolean | undefined;
    vlan: number;
    trunk: readonly VlanRange[];
    preserveDefaultVlan: boolean;
  },
): Promise<void> {
  const what = q(port.name);
  await bridge.setPort(
    h,
    port.index,
    { hairpin: opts.hairpin, ...(opts.isolated === undefined ? {} : { isolated: opts.isolated }) },
    what,
  );
  if (!opts.vlan && opts.trunk.length === 0) return;
  if (!opts.preserveDefaultVlan) {
    const current = (await bridge.listVlans(h)).get(port.index) ?? [];
    for (const v of current) await bridge.removeVlan(h, port.index, v.vid, what);
  }
  await bridge.addVlans(h, port.index, portVlans(opts.vlan, opts.trunk), what);
}

/** Waits, as the reference does (0, 50, 500, 1000, 1000 ms), for the port to be operationally up. */
export async function waitPortUp(h: Rtnl, name: string): Promise<link.Link> {
  const delays = [0, 50, 500, 1000, 1000];
  let l: link.Link | undefined;
  for (const ms of delays) {
    if (ms) await new Promise((r) => setTimeout(r, ms));
    l = await link.mustByName(h, name, 'in the host netns');
    if (link.operstate(l) === IF_OPER_UP) return l;
  }
  throw new CniError(
    Code.Internal,
    `bridge port ${q(name)} in error state: operstate ${l ? String(link.operstate(l)) : '?'}, not up`,
  );
}

function overlaps(a: string, b: string): boolean {
  const x = parseCIDR(a);
  const y = parseCIDR(b);
  if (!x || !y || x.ip.family !== y.ip.family) return false;
  const p = Math.min(x.prefix, y.prefix);
  return equalIP(networkOf({ ip: x.ip, prefix: p }).ip, networkOf({ ip: y.ip, prefix: p }).ip);
}

function sameAddr(a: string, b: string): boolean {
  const x = parseCIDR(a);
  const y = parseCIDR(b);
  return !!x && !!y && x.prefix === y.prefix && equalIP(x.ip, y.ip);
}

/**
 * Puts gateway `cidr` on `l` (the bridge, or the VLAN gateway interface). An IPv4 bridge holds
 * one address; IPv6 ones may hold several whose subnets do not overlap. A conflicting address
 * is replaced with forceAddress, else the ADD fails. When the address is added, the bridge's
 * MAC is pinned (to `pinMac`, the MAC it had before this pod's port joined, as the reference
 * does) so it stops following its lowest-numbered port.
 */
export async function ensureGatewayAddr(
  h: Rtnl,
  l: link.Link,
  cidr: string,
  force: boolean,
  pinMac: string | undefined,
): Promise<void> {
  const fam = parseCIDR(cidr)?.ip.family;
  if (!fam) return;
  const have = await addr.list(h, { index: l.index, family: fam });
  for (const a of have) {
    if (sameAddr(a.cidr, cidr)) return;
  }
  for (const a of have) {
    if (fam === 6 && !overlaps(a.cidr, cidr)) continue;
    if (!force) {
      throw new CniError(
        Code.Internal,
        `failed to set gateway address ${cidr} on ${q(l.name)}: it already has ${a.cidr} (set forceAddress to replace it)`,
      );
    }
    await addr.remove(h, l.index, a.cidr, q(l.name));
  }
  try {
    await addr.add(h, l.index, cidr, q(l.name));
  } catch (err) {
    if (!isErrno(err, 'EEXIST')) throw err;
  }
  // A bridge without ports reports 00:00:00:00:00:00; pin what it has now instead.
  const mac = usableMac(pinMac) ?? usableMac((await link.byIndex(h, l.index))?.mac);
  if (mac) await link.set(h, l.index, { mac }, q(l.name));
}

/** ip_forward (IPv4) or conf/all/forwarding (IPv6) on in the host. */
export function enableForwarding(fam: 4 | 6): void {
  const key = fam === 4 ? 'net/ipv4/ip_forward' : 'net/ipv6/conf/all/forwarding';
  if (sysctl.get(undefined, key) === '1') return;
  try {
    sysctl.set(undefined, { [key]: '1' });
  } catch (err) {
    throw failed('enable forwarding', err);
  }
}

export interface VlanGateway {
  readonly link: link.Link;
  /** Made by this ADD: the host-side port's name (the pair goes when either end is deleted). */
  readonly createdPort: string | undefined;
}

/**
 * The gateway interface of a VLAN (`<bridge>.<vlan>`): one end of a veth pair whose other end
 * is a bridge port carrying the VLAN untagged. Made once, shared by every pod on the VLAN.
 */
export async function ensureVlanGateway(h: Rtnl, br: link.Link, conf: BridgeConf): Promise<VlanGateway> {
  const vlan = conf.vlan ?? 0;
  const name = `${br.name}.${vlan}`;
  const existing = await link.byName(h, name);
  if (existing) return { link: existing, createdPort: undefined };
  const portName = tempName('veth');
  const mtu = br.mtu ? { mtu: br.mtu } : {};
  await link.create(
    h,
    {
      name: portName,
      kind: 'veth',
      up: true,
      master: br.index,
      ...mtu,
      rawData: link.vethData({ name, ...mtu }),
    },
    `VLAN gateway ${q(name)} on bridge ${q(br.name)}`,
  );
  try {
    const port = await link.mustByName(h, portName, 'in the host netns');
    await configurePort(h, port, {
      hairpin: false,
      isolated: undefined,
      vlan,
      trunk: [],
      preserveDefaultVlan: conf.preserveDefaultVlan === true,
    });
    const gw = await link.mustByName(h, name, 'in the host netns');
    trySysctl(undefined, `net/ipv6/conf/${name}/accept_ra`, '0');
    trySysctl(undefined, `net/ipv6/conf/${portName}/accept_ra`, '0');
    await link.set(h, gw.index, { up: true }, `VLAN gateway ${q(name)}`);
    return { link: await link.mustByName(h, name, 'in the host netns'), createdPort: portName };
  } catch (err) {
    await removeByName(h, portName).catch(() => undefined);
    throw err;
  }
}

/** Deletes a host link by name; a missing one is fine. */
export async function removeByName(h: Rtnl, name: string): Promise<void> {
  const l = await link.byName(h, name);
  if (l) await link.remove(h, l.index, q(name));
}

/** Removes a VLAN gateway this ADD created, unless other pods' ports are on the bridge now. */
export async function removeVlanGatewayIfUnused(h: Rtnl, br: link.Link, portName: string): Promise<void> {
  const links = await link.list(h);
  if (links.some((l) => l.master === br.index && l.name !== portName)) {
    log.info(`rollback: bridge ${q(br.name)} has other ports now, VLAN gateway left in place`);
    return;
  }
  await removeByName(h, portName);
}
