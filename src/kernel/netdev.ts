/**
 * The host's interfaces as sysfs and procfs show them, read only and without netlink (no
 * native code: `manifold validate` runs anywhere, unprivileged): an interface's MTU from
 * `/sys/class/net/<name>/mtu`, the default route's interface from `/proc/net/route` and
 * `/proc/net/ipv6_route`. sysfs shows the namespace that mounted it (the host's).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The MTU of host interface `name`, or undefined when there is no such interface. */
export function netdevMtu(name: string, sysfs = '/sys'): number | undefined {
  if (!name || name.includes('/') || name === '.' || name === '..') return undefined;
  try {
    const n = Number.parseInt(readFileSync(join(sysfs, 'class/net', name, 'mtu'), 'utf8').trim(), 10);
    return Number.isFinite(n) ? n : undefined;
  } catch {
    return undefined;
  }
}

function lines(file: string): string[][] {
  try {
    return readFileSync(file, 'utf8')
      .split('\n')
      .map((l) => l.trim().split(/\s+/))
      .filter((f) => f.length > 1);
  } catch {
    return [];
  }
}

/** The interface of the IPv4 default route, else of the IPv6 one (as the reference picks a master). */
export function defaultRouteInterface(proc = '/proc'): string | undefined {
  const v4 = lines(join(proc, 'net/route')).find((f) => f[1] === '00000000' && f[7] === '00000000');
  if (v4?.[0]) return v4[0];
  const v6 = lines(join(proc, 'net/ipv6_route')).find(
    (f) => /^0{32}$/.test(f[0] ?? '') && f[1] === '00' && f[9] !== 'lo',
  );
  return v6?.[9];
}
