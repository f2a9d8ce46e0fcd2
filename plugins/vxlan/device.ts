/**
 * The vxlan device itself, whichever mode: its IFLA_VXLAN_* attributes from the config, its
 * MTU from the underlay, and the comparison CHECK (and bridge mode's reuse) make.
 */

import { CniError, Code, q } from '../../src/cni/errors.ts';
import { equalIP, type Family, parseIP } from '../../src/ip/ip.ts';
import { isErrno } from '../../src/kernel/errors.ts';
import * as kinds from '../../src/kernel/kinds.ts';
import type * as link from '../../src/kernel/link.ts';
import type { VxlanConf } from './config.ts';

/** Outer Ethernet is not counted in an MTU: IP + UDP (8) + VXLAN (8) + inner Ethernet (14). */
export function overhead(family: Family): number {
  return family === 6 ? 70 : 50;
}

/** The MTU to give the vxlan device and the pod interface; a too-large `mtu` is refused. */
export function effectiveMtu(conf: VxlanConf, underlay: link.Link): number {
  const max = underlay.mtu - overhead(conf.family);
  if (!conf.mtu) return max;
  if (conf.mtu > max) {
    throw new CniError(
      Code.InvalidConfig,
      `mtu: ${conf.mtu} is larger than ${max}, the most a vxlan over master ${q(underlay.name)} (MTU ${underlay.mtu}, IPv${conf.family} underlay) can carry`,
    );
  }
  return conf.mtu;
}

export function vxlanSpec(conf: VxlanConf, underlay: link.Link): kinds.VxlanSpec {
  return {
    vni: conf.vni,
    port: conf.effectivePort,
    underlay: underlay.index,
    learning: conf.effectiveLearning,
    ...(conf.local ? { local: conf.local } : {}),
    ...(conf.group ? { group: conf.group } : {}),
    ...(conf.ttl !== undefined ? { ttl: conf.ttl } : {}),
    ...(conf.tos !== undefined ? { tos: conf.tos } : {}),
    ...(conf.srcPortRange ? { srcPortRange: conf.srcPortRange } : {}),
    ...(conf.udpCsum !== undefined ? { udpCsum: conf.udpCsum } : {}),
  };
}

function sameIP(a: string | undefined, b: string | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  const x = parseIP(a);
  const y = parseIP(b);
  return !!x && !!y && equalIP(x, y);
}

/** The first way `l` differs from what the config asks for, or undefined when it matches. */
export function vxlanMismatch(
  l: link.Link,
  want: kinds.VxlanSpec,
  mtu: number,
  underlayName: string,
): string | undefined {
  if (l.kind !== 'vxlan') return `is of kind ${q(l.kind ?? 'unknown')}, not vxlan`;
  const have = kinds.vxlanInfo(l);
  const show = (v: unknown) => (v === undefined ? 'none' : JSON.stringify(v));
  if (have.vni !== want.vni) return `has VNI ${show(have.vni)}, config says ${want.vni}`;
  if (have.port !== want.port) return `has UDP port ${show(have.port)}, config says ${want.port}`;
  if (have.learning !== want.learning)
    return `has learning ${have.learning ? 'on' : 'off'}, config says ${want.learning ? 'on' : 'off'}`;
  if (have.underlay !== want.underlay)
    return `has underlay device index ${show(have.underlay)}, config's master ${q(underlayName)} is index ${show(want.underlay)}`;
  if (want.local !== undefined && !sameIP(have.local, want.local))
    return `has local ${show(have.local)}, config says ${show(want.local)}`;
  if (want.group !== undefined && !sameIP(have.group, want.group))
    return `has group ${show(have.group)}, config says ${show(want.group)}`;
  if (want.ttl !== undefined && have.ttl !== want.ttl)
    return `has ttl ${show(have.ttl)}, config says ${want.ttl}`;
  if (want.tos !== undefined && have.tos !== want.tos)
    return `has tos ${show(have.tos)}, config says ${want.tos}`;
  if (
    want.srcPortRange &&
    (have.srcPortRange?.[0] !== want.srcPortRange[0] || have.srcPortRange[1] !== want.srcPortRange[1])
  )
    return `has source port range ${show(have.srcPortRange)}, config says ${show(want.srcPortRange)}`;
  if (want.udpCsum !== undefined && have.udpCsum !== want.udpCsum)
    return `has udpCsum ${show(have.udpCsum)}, config says ${want.udpCsum}`;
  if (l.mtu !== mtu) return `has MTU ${l.mtu}, expected ${mtu}`;
  return undefined;
}

/** CHECK: throws when the device differs from the config. */
export function verifyVxlan(l: link.Link, want: kinds.VxlanSpec, mtu: number, underlayName: string): void {
  const problem = vxlanMismatch(l, want, mtu, underlayName);
  if (problem) throw new CniError(Code.Internal, `vxlan ${q(l.name)} ${problem}`);
}

/** The kernel's EEXIST for a VNI already served, said so the user knows what to change. */
export function vniInUse(conf: VxlanConf, err: CniError, shareHint: string): CniError {
  return new CniError(
    err.code,
    err.message,
    `a vxlan device made in the host netns already uses VNI ${conf.vni} on UDP port ${conf.effectivePort} (the kernel allows one per VNI and port)${shareHint}`,
    { cause: err },
  );
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Runs a vxlan creation, retrying EEXIST for about half a second: a pod namespace deleted a
 * moment ago still holds its device (and so the VNI) until the kernel's asynchronous netns
 * cleanup has run, typically 10–20 ms later. A VNI really in use still fails, just later.
 */
export async function retryVniClash(create: () => Promise<void>): Promise<void> {
  for (let wait = 10; ; wait *= 2) {
    try {
      await create();
      return;
    } catch (err) {
      if (!isErrno(err, 'EEXIST') || wait > 320) throw err;
      await sleep(wait);
    }
  }
}
