/**
 * Integration-test fixtures on the real kernel. `isolateHost()` moves this test process
 * (its main thread, where all netlink sockets and spawned commands start) into a fresh
 * network namespace that plays "the host", so test files run in parallel without touching
 * the machine's own interfaces. Pod namespaces are made with `ip netns add`.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { afterAll } from 'vitest';
import { NetNS } from '../../src/kernel/netns.ts';
import { setnsForTests } from '../../src/kernel/testing.ts';

export function ip(...args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

export function ipJson<T = Record<string, unknown>[]>(...args: string[]): T {
  return JSON.parse(ip('-j', ...args) || '[]') as T;
}

export function uniq(prefix: string): string {
  return `${prefix}${randomBytes(3).toString('hex')}`;
}

const created: string[] = [];

/** A new named netns (`/run/netns/<name>`), removed after the file's tests. */
export function newNetns(prefix = 'mfp'): { name: string; path: string } {
  const name = uniq(prefix);
  ip('netns', 'add', name);
  created.push(name);
  return { name, path: `/run/netns/${name}` };
}

export function delNetns(name: string): void {
  try {
    ip('netns', 'del', name);
  } catch {
    // already gone
  }
}

let original: NetNS | undefined;

/** Moves this process into a fresh "host" netns with `lo` up; restores and cleans up after all tests. */
export function isolateHost(): { name: string; path: string } {
  const host = newNetns('mfh');
  original = NetNS.current();
  const ns = NetNS.open(host.path);
  setnsForTests(ns);
  ns.close();
  ip('link', 'set', 'lo', 'up');
  afterAll(() => {
    if (original) setnsForTests(original);
    for (const n of created.splice(0)) delNetns(n);
  });
  return host;
}

export function requireRoot(): void {
  if (process.getuid?.() !== 0) throw new Error('integration tests need root');
}

/** One entry of `ip -j -d link show <pf>`'s `vfinfo_list` (the PF's view of a VF). */
export interface IpVf {
  vf: number;
  address: string;
  vlan_list: { vlan?: number; qos?: number; protocol?: string }[];
  rate: { max_tx: number; min_tx: number };
  spoofchk: boolean;
  link_state: string;
  trust: boolean;
}
