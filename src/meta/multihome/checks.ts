/**
 * The address conflict check and the gateway check. IPv4 addresses are probed with RFC 5227
 * ARP probes (sender 0.0.0.0, so no cache learns the new MAC from them); IPv6 addresses get
 * the kernel's DAD result (waited for, bounded, failing on dadfailed), with a DAD-style
 * solicitation from :: of our own where the kernel skipped DAD and to name the MAC holding an
 * address. Gateways are asked with an ordinary ARP request or neighbour solicitation. Every
 * wait is bounded by the probe budget; all interfaces are probed at once.
 */

import type { Pod } from '../../attach/pod.ts';
import { CniError, Code, q } from '../../cni/errors.ts';
import { contains, type Family, familyOf, formatIP, type IPNet, parseCIDR, parseIP } from '../../ip/ip.ts';
import * as addr from '../../kernel/addr.ts';
import * as arp from '../../kernel/arp.ts';
import * as link from '../../kernel/link.ts';
import * as ndp from '../../kernel/ndp.ts';
import { BROADCAST, ETH_P_ARP, ETH_P_IPV6, type Frame } from '../../kernel/packet.ts';
import { type Probe, runProbes } from '../../kernel/probe.ts';
import { log } from '../../util/log.ts';
import { dadSkipped, mustPassDad } from './dad.ts';
import { on, type Port } from './port.ts';
import { addresses, noArp, type View, where } from './views.ts';

/**
 * A probe for `ip` as RFC 5227 (IPv4) or RFC 4862 DAD (IPv6) does it: the answer is the
 * holder's MAC. Answers from the pod's other interfaces do not count: with two of them on one
 * segment, Linux answers ARP for an address of one on the other (arp_ignore=0, "ARP flux").
 * One with this interface's own MAC does (our own frames are never received): an ipvlan
 * sibling in another pod shares it.
 */
function conflictProbe(port: Port, v: View, ip: string, pod: ReadonlySet<string>): Probe<string> {
  const mac = v.link.mac ?? '';
  const own = new Set([...pod].filter((m) => m !== mac));
  const budget = v.plan.options.budget;
  if (familyOf(ip) === 4) {
    const frame = arp.probe(mac, ip);
    return {
      socket: port.socket,
      budget,
      send: () => port.send(v, ETH_P_ARP, BROADCAST, frame),
      match: (f: Frame) => {
        const a = on(f, v, ETH_P_ARP) ? arp.decodeArp(f.data) : undefined;
        if (!a || own.has(a.senderMac) || own.has(f.from)) return undefined;
        if (a.senderIP === ip) return a.senderMac; // the holder answered (or announced it)
        if (a.senderIP === '0.0.0.0' && a.targetIP === ip && a.op === arp.ARPOP.REQUEST) return a.senderMac; // probing for it too
        return undefined;
      },
    };
  }
  const ns = ndp.solicitation(mac, '::', ip);
  return {
    socket: port.socket,
    budget,
    send: () => port.send(v, ETH_P_IPV6, ns.dst, ns.packet),
    match: (f: Frame) => {
      const m = on(f, v, ETH_P_IPV6) ? ndp.decodeNdp(f.data) : undefined;
      const who = m?.lladdr ?? f.from;
      if (!m || m.target !== ip || own.has(who) || own.has(f.from)) return undefined;
      if (m.type === ndp.ICMPV6.NA) return who;
      if (m.type === ndp.ICMPV6.NS && m.src === '::') return who; // doing DAD for it too
      return undefined;
    },
  };
}

function conflictError(v: View, ip: string, mac: string | undefined): CniError {
  const by = mac ? `already in use by ${mac}` : 'already in use (duplicate address detection failed)';
  return new CniError(
    Code.Internal,
    `failed to claim address ${q(ip)} on ${where(v)}: ${by}`,
    'addressConflictCheck: another host on the segment answers for this address; the attachment was rolled back',
  );
}

/** Throws, naming the address and the MAC holding it, when an address of a checked view is in use. */
export async function checkConflicts(pod: Pod, port: Port, views: readonly View[]): Promise<void> {
  const checked = views.filter((v) => v.plan.options.addressConflictCheck);
  if (checked.length === 0) return;
  const own = new Set((await link.list(pod.rtnl)).flatMap((l) => (l.mac ? [l.mac] : [])));
  // IPv4, and IPv6 where the kernel does no DAD: probes of our own, all at once
  const probes: { v: View; ip: string; p: Probe<string> }[] = [];
  const kernelDad: { v: View; ip: string }[] = [];
  for (const v of checked) {
    if (noArp(v)) {
      log.info(`addressConflictCheck: ${where(v)} does no ARP/NDP: not checked`);
      continue;
    }
    for (const ip of addresses(v, 4)) probes.push({ v, ip, p: conflictProbe(port, v, ip, own) });
    for (const ip of addresses(v, 6)) {
      if (await dadSkipped(pod, v, ip)) probes.push({ v, ip, p: conflictProbe(port, v, ip, own) });
      else kernelDad.push({ v, ip });
    }
  }
  const answers = await runProbes(probes.map((x) => x.p));
  const hit = probes.findIndex((_, i) => answers[i] !== undefined);
  if (hit >= 0) {
    const { v, ip } = probes[hit] as { v: View; ip: string };
    throw conflictError(v, ip, answers[hit]);
  }
  // IPv6 with the kernel's DAD: wait for its verdict; on failure ask once more who holds it
  for (const { v, ip } of kernelDad) {
    if ((await mustPassDad(pod, v, ip)) === 'failed') {
      const [who] = await runProbes([conflictProbe(port, v, ip, own)]);
      throw conflictError(v, ip, who);
    }
  }
}

interface GatewayTarget {
  readonly v: View;
  readonly gw: string;
  readonly family: Family;
  readonly p: Probe<string>;
}

const LINK_LOCAL = parseCIDR('fe80::/10') as IPNet;

/**
 * Our address to ask from: the one whose subnet holds the gateway, else the first of its
 * family; for a link-local IPv6 gateway (a router known by its fe80:: address), the
 * interface's own link-local address.
 */
async function sourceFor(pod: Pod, v: View, gw: string, family: Family): Promise<string | undefined> {
  const g = parseIP(gw);
  if (family === 6 && g && contains(LINK_LOCAL, g)) {
    const ll = (await addr.list(pod.rtnl, { index: v.link.index, family: 6 }))
      .map((a) => parseCIDR(a.cidr))
      .find((n) => n && contains(LINK_LOCAL, n.ip));
    if (ll) return formatIP(ll.ip);
  }
  const nets = v.plan.ips.map((ip) => parseCIDR(ip.address)).filter((n) => n?.ip.family === family);
  const inSubnet = nets.find((n) => n && g && contains(n, g));
  const n = inSubnet ?? nets[0];
  return n ? addresses(v, family)[nets.indexOf(n)] : undefined;
}

async function gatewayProbe(
  pod: Pod,
  port: Port,
  v: View,
  gw: string,
  family: Family,
): Promise<Probe<string> | undefined> {
  const mac = v.link.mac ?? '';
  const src = await sourceFor(pod, v, gw, family);
  if (!src) return undefined;
  const budget = v.plan.options.budget;
  if (family === 4) {
    const frame = arp.request(mac, src, gw);
    return {
      socket: port.socket,
      budget,
      send: () => port.send(v, ETH_P_ARP, BROADCAST, frame),
      match: (f) => {
        const a = on(f, v, ETH_P_ARP) ? arp.decodeArp(f.data) : undefined;
        return a && a.senderIP === gw ? a.senderMac : undefined;
      },
    };
  }
  const ns = ndp.solicitation(mac, src, gw);
  return {
    socket: port.socket,
    budget,
    send: () => port.send(v, ETH_P_IPV6, ns.dst, ns.packet),
    match: (f) => {
      const m = on(f, v, ETH_P_IPV6) ? ndp.decodeNdp(f.data) : undefined;
      return m && m.type === ndp.ICMPV6.NA && m.target === gw ? (m.lladdr ?? f.from) : undefined;
    },
  };
}

/**
 * Asks every gateway of the checked views; those that did not answer are logged (`warn`) or
 * fail ADD (`fail`, the error names them).
 */
export async function checkGateways(
  pod: Pod,
  port: Port,
  views: readonly View[],
  containerId: string,
): Promise<void> {
  const targets: GatewayTarget[] = [];
  for (const v of views) {
    if (v.plan.options.gatewayCheck === 'off') continue;
    if (noArp(v)) {
      log.info(`gatewayCheck: ${where(v)} does no ARP/NDP: not checked`);
      continue;
    }
    for (const family of [4, 6] as const) {
      const gw = v.plan.gateways[family];
      const p = gw ? await gatewayProbe(pod, port, v, gw, family) : undefined;
      if (gw && p) targets.push({ v, gw, family, p });
    }
  }
  const answers = await runProbes(targets.map((t) => t.p));
  const dead: string[] = [];
  targets.forEach((t, i) => {
    const { rounds, intervalMs } = t.v.plan.options.budget;
    const asked = `${rounds} ${t.family === 4 ? 'ARP request' : 'neighbour solicitation'}${rounds > 1 ? 's' : ''} in ${rounds * intervalMs} ms`;
    const answer = answers[i];
    if (answer !== undefined) {
      log.verbose(`gatewayCheck: gateway ${t.gw} of ${where(t.v)} answered from ${answer}`);
      return;
    }
    const what = `gateway ${q(t.gw)} of ${where(t.v)} did not answer ${asked}`;
    if (t.v.plan.options.gatewayCheck === 'fail') dead.push(what);
    else log.error(`ADD ${containerId}: warning: ${what} (gatewayCheck "warn": attached anyway)`);
  });
  if (dead.length > 0) {
    throw new CniError(
      Code.Internal,
      `failed to reach the gateway: ${dead.join('; ')}`,
      'gatewayCheck "fail"',
    );
  }
}
