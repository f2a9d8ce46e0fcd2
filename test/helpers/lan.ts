/**
 * Layer-2 segments for integration tests, inside the test's "host" namespace: a segment is a
 * bridge; a host on it is a network namespace with a veth whose peer is a bridge port; a
 * router is a host on two segments with forwarding on; an uplink is a veth whose peer is a
 * port (a macvlan master, or a device to hand to host-device). Everything is made with `ip`
 * (test code only) and goes with the namespaces.
 */
import { execFileSync } from 'node:child_process';
import { ip, ipJson, newNetns, uniq } from './host.ts';

export interface LanHost {
  readonly ns: string;
  readonly ifname: string;
  readonly mac: string;
}

function sysctlIn(ns: string, key: string, value: string): void {
  ip('netns', 'exec', ns, 'sysctl', '-qw', `${key}=${value}`);
}

/** A bridge in the host namespace, up. */
export function segment(prefix = 'seg'): string {
  const br = uniq(prefix);
  ip('link', 'add', br, 'type', 'bridge');
  ip('link', 'set', br, 'up');
  return br;
}

/** A veth in the host namespace whose peer is a port of `br`: its name. */
export function uplink(br: string, prefix = 'up'): string {
  const name = uniq(prefix);
  ip('link', 'add', name, 'type', 'veth', 'peer', 'name', `${name}p`);
  ip('link', 'set', `${name}p`, 'master', br);
  ip('link', 'set', `${name}p`, 'up');
  ip('link', 'set', name, 'up');
  return name;
}

/** A port of `br` in namespace `ns` named `ifname`, with addresses (IPv6 without DAD). */
export function attach(
  br: string,
  ns: string,
  ifname: string,
  addrs: readonly string[],
  mac?: string,
): LanHost {
  const port = uniq('lp');
  ip('link', 'add', port, 'type', 'veth', 'peer', 'name', ifname, 'netns', ns);
  ip('link', 'set', port, 'master', br);
  ip('link', 'set', port, 'up');
  if (mac) ip('-n', ns, 'link', 'set', ifname, 'address', mac);
  for (const a of addrs) ip('-n', ns, 'addr', 'add', a, 'dev', ifname, ...(a.includes(':') ? ['nodad'] : []));
  ip('-n', ns, 'link', 'set', ifname, 'up');
  ip('-n', ns, 'link', 'set', 'lo', 'up');
  const link = ipJson<{ address: string }[]>('-n', ns, 'link', 'show', ifname)[0];
  return { ns, ifname, mac: link?.address ?? '' };
}

/** A host namespace on `br` with `addrs`, default routes via `gateways`, and extra sysctls. */
export function lanHost(
  br: string,
  addrs: readonly string[],
  opts: { gateways?: readonly string[]; mac?: string; sysctls?: Record<string, string> } = {},
): LanHost {
  const { name } = newNetns('mfl');
  const h = attach(br, name, 'eth0', addrs, opts.mac);
  for (const [k, v] of Object.entries(opts.sysctls ?? {})) sysctlIn(name, k, v);
  for (const gw of opts.gateways ?? [])
    ip('-n', name, ...(gw.includes(':') ? ['-6'] : []), 'route', 'add', 'default', 'via', gw);
  return h;
}

/** A router between two segments: `a` addresses on the first, `b` on the second. */
export function router(brA: string, a: readonly string[], brB: string, b: readonly string[]): string {
  const { name } = newNetns('mfr');
  attach(brA, name, 'eth0', a);
  attach(brB, name, 'eth1', b);
  sysctlIn(name, 'net.ipv4.ip_forward', '1');
  sysctlIn(name, 'net.ipv6.conf.all.forwarding', '1');
  return name;
}

/** Whether `ns` gets an answer to one ping of `addr` within a second. */
export function pings(ns: string, addr: string): boolean {
  try {
    execFileSync('ip', ['netns', 'exec', ns, 'ping', '-c', '1', '-W', '1', addr], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** The MAC `ns` has for `addr` in its neighbour table, if any. */
export function neighbourMac(ns: string, addr: string): string | undefined {
  const entries = ipJson<{ dst: string; lladdr?: string }[]>('-n', ns, 'neigh', 'show');
  return entries.find((e) => e.dst === addr)?.lladdr;
}
