/** Per-namespace sysctls under /proc/sys, written from inside the namespace. */
import { readFileSync, writeFileSync } from 'node:fs';
import { kernelFailure } from './errors.ts';
import type { NetNS } from './netns.ts';

function file(key: string): string {
  if (!/^net\/[A-Za-z0-9_./-]+$/.test(key) || key.includes('..')) throw new Error(`bad sysctl key ${key}`);
  return `/proc/sys/${key}`;
}

/** Writes `net/...` keys (e.g. `net/ipv4/conf/eth0/arp_notify`) in `ns` (the caller's namespace when omitted). */
export function set(ns: NetNS | undefined, values: Readonly<Record<string, string>>): void {
  const write = () => {
    for (const [key, value] of Object.entries(values)) {
      try {
        writeFileSync(file(key), value);
      } catch (err) {
        throw kernelFailure(`set sysctl ${key}=${value}`, err);
      }
    }
  };
  if (ns) ns.run(write);
  else write();
}

/** Reads a `net/...` key in `ns`; undefined when it does not exist. */
export function get(ns: NetNS | undefined, key: string): string | undefined {
  const read = () => {
    try {
      return readFileSync(file(key), 'utf8').trim();
    } catch {
      return undefined;
    }
  };
  return ns ? ns.run(read) : read();
}
