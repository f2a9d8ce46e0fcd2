/**
 * The vxlan device's forwarding database: one all-zeros entry per remote (head-end
 * replication: broadcast, unknown unicast and multicast go to every remote) and the
 * configured unicast entries (inner MAC → remote VTEP), as flannel programs them.
 */

import { CniError, Code, q } from '../../src/cni/errors.ts';
import { equalIP, parseCIDR, parseIP } from '../../src/ip/ip.ts';
import * as addr from '../../src/kernel/addr.ts';
import * as neigh from '../../src/kernel/neigh.ts';
import { hostRtnl, type Rtnl } from '../../src/kernel/socket.ts';
import { type VxlanConf, ZERO_MAC } from './config.ts';

export interface WantedFdb {
  readonly mac: string;
  readonly dst: string;
  /** All-zeros entries are appended (several per MAC); unicast ones replace. */
  readonly append: boolean;
}

/**
 * The entries the config asks for. A remote that is one of this host's own addresses is
 * left out: one config lists every node, and a flood entry pointing at itself would loop
 * each broadcast straight back into the device (the kernel bypasses encapsulation for a
 * local destination), so a bridge would learn its pods' MACs on the vxlan port.
 */
export function wantedFdb(conf: VxlanConf, isLocal: (ip: string) => boolean = () => false): WantedFdb[] {
  const out: WantedFdb[] = (conf.remotes ?? [])
    .filter((dst) => !isLocal(dst))
    .map((dst) => ({ mac: ZERO_MAC, dst, append: true }));
  for (const e of conf.fdb ?? []) {
    const mac = e.mac.toLowerCase();
    out.push({ mac, dst: e.dst, append: mac === ZERO_MAC });
  }
  return out;
}

/** A test for "is this one of the host's own addresses" (from the host's address list). */
export async function hostAddresses(h: Rtnl): Promise<(ip: string) => boolean> {
  const own = (await addr.list(h)).map((a) => parseCIDR(a.cidr)?.ip).filter((ip) => ip !== undefined);
  return (s: string) => {
    const ip = parseIP(s);
    return !!ip && own.some((o) => equalIP(o, ip));
  };
}

/** The wanted entries on this host: without remotes that are the host's own addresses. */
export async function hostWantedFdb(conf: VxlanConf): Promise<WantedFdb[]> {
  if (!conf.remotes?.length) return wantedFdb(conf);
  return wantedFdb(conf, await hostAddresses(hostRtnl()));
}

function describe(e: WantedFdb): string {
  return `FDB entry ${e.mac} dst ${e.dst}`;
}

/** Installs every wanted entry on the vxlan device `index` (already present ones are fine). */
export async function installFdb(h: Rtnl, index: number, device: string, wanted: readonly WantedFdb[]) {
  for (const e of wanted) {
    await neigh.add(
      h,
      { index, family: 'bridge', mac: e.mac, ip: e.dst, flags: neigh.FDB_SELF, state: neigh.PERMANENT },
      `vxlan ${q(device)}`,
      { append: e.append },
    );
  }
}

/** The wanted entries missing from the device (compared by MAC and destination IP). */
export async function missingFdb(h: Rtnl, index: number, wanted: readonly WantedFdb[]): Promise<WantedFdb[]> {
  const have = (await neigh.list(h, { family: 'bridge', index })).filter((n) => n.ip && n.mac);
  return wanted.filter((w) => {
    const dst = parseIP(w.dst);
    return !have.some((n) => {
      const ip = n.ip ? parseIP(n.ip) : undefined;
      return n.mac === w.mac && !!ip && !!dst && equalIP(ip, dst);
    });
  });
}

/** CHECK: every wanted entry is in the device's FDB. */
export async function verifyFdb(
  h: Rtnl,
  index: number,
  device: string,
  wanted: readonly WantedFdb[],
): Promise<void> {
  const missing = await missingFdb(h, index, wanted);
  const first = missing[0];
  if (first) {
    throw new CniError(
      Code.Internal,
      `vxlan ${q(device)} lacks ${describe(first)}${missing.length > 1 ? ` (and ${missing.length - 1} more)` : ''}`,
    );
  }
}
