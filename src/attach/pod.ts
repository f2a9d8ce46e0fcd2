/** The pod side of an attachment: its namespace and an rtnetlink socket inside it. */

import { CniError, Code } from '../cni/errors.ts';
import * as link from '../kernel/link.ts';
import { NetNS, NetnsMissingError } from '../kernel/netns.ts';
import { Rtnl } from '../kernel/socket.ts';
import { log } from '../util/log.ts';
import { randomHex } from '../util/random.ts';

export class Pod {
  readonly ns: NetNS;
  readonly rtnl: Rtnl;

  private constructor(ns: NetNS) {
    this.ns = ns;
    this.rtnl = Rtnl.open(ns);
  }

  get path(): string {
    return this.ns.path;
  }

  /**
   * Opens the pod's namespace; refuses the namespace this process runs in (the host's own:
   * an interface made "in the pod" would land in the host, a DEL would delete host links).
   */
  static open(path: string): Pod {
    const done = log.step('netns open', path);
    const ns = NetNS.open(path);
    const here = NetNS.current();
    const same = ns.same(here);
    here.close();
    if (same) {
      ns.close();
      throw new CniError(
        Code.InvalidEnvironment,
        `invalid CNI_NETNS ${JSON.stringify(path)}: it is the host's own network namespace (the one the plugin runs in), not a pod's`,
      );
    }
    try {
      const pod = new Pod(ns);
      done();
      return pod;
    } catch (err) {
      ns.close();
      throw err;
    }
  }

  close(): void {
    this.rtnl.close();
    this.ns.close();
  }

  /** ADD must fail if the interface already exists in the pod (CNI spec). */
  async assertFree(ifname: string): Promise<void> {
    if (await link.byName(this.rtnl, ifname)) {
      throw new CniError(
        Code.Internal,
        `failed to create interface ${JSON.stringify(ifname)} in netns ${JSON.stringify(this.path)}: an interface with that name already exists`,
      );
    }
  }
}

/** Opens the pod for the duration of `fn`. */
export async function withPod<T>(path: string, fn: (pod: Pod) => Promise<T>): Promise<T> {
  const pod = Pod.open(path);
  try {
    return await fn(pod);
  } finally {
    pod.close();
  }
}

/**
 * For DEL: runs `fn` in the pod, or does nothing when CNI_NETNS is empty or names a namespace
 * that is gone (the kernel destroyed its links with it).
 */
export async function withPodIfPresent(path: string, fn: (pod: Pod) => Promise<void>): Promise<void> {
  if (!path) return;
  let pod: Pod;
  try {
    pod = Pod.open(path);
  } catch (err) {
    if (err instanceof NetnsMissingError) return;
    throw err;
  }
  try {
    await fn(pod);
  } finally {
    pod.close();
  }
}

/** A temporary interface name, unique enough to never clash on the host (like the reference). */
export function tempName(prefix = 'mf'): string {
  return `${prefix}${randomHex(4)}`;
}

/**
 * DEL of a link the plugin made in the pod: removed if it is there and of `kind` (anything
 * else with that name is left alone, and logged); a missing netns or link is done.
 */
export async function removePodLink(netns: string, ifname: string, kind: string): Promise<void> {
  await withPodIfPresent(netns, async (pod) => {
    const l = await link.byName(pod.rtnl, ifname);
    if (!l) return;
    if (l.kind !== kind) {
      log.info(
        `DEL: ${JSON.stringify(ifname)} in ${pod.path} is a ${l.kind ?? 'device'}, not a ${kind}: left alone`,
      );
      return;
    }
    await link.remove(pod.rtnl, l.index, `${kind} ${JSON.stringify(ifname)}`);
  });
}
