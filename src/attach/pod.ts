/** The pod side of an attachment: its namespace and an rtnetlink socket inside it. */

import { CniError, Code, q } from '../cni/errors.ts';
import * as link from '../kernel/link.ts';
import { NetNS, NetnsMissingError } from '../kernel/netns.ts';
import { Rtnl } from '../kernel/socket.ts';
import { hash8 } from '../util/hash.ts';
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
        `invalid CNI_NETNS ${q(path)}: it is the host's own network namespace (the one the plugin runs in), not a pod's`,
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
        `failed to create interface ${q(ifname)} in netns ${q(this.path)}: an interface with that name already exists`,
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

/** Which attachment a pod interface belongs to. */
export interface AttachmentKey {
  readonly network: string;
  readonly containerId: string;
  readonly ifname: string;
}

/**
 * The name an attachment's pod interface has between its creation and its rename to
 * CNI_IFNAME: derived from the attachment (not random), so a DEL after a crash in between
 * finds it, and only this attachment can ever have made a link of that name in the pod.
 */
export function podTempName(a: AttachmentKey, prefix = 'mf'): string {
  return `${prefix}${hash8(`${a.network}\0${a.containerId}\0${a.ifname}`)}`;
}

/** A ctx's attachment. */
export function attachmentOf(ctx: {
  conf: { name: string };
  containerId: string;
  ifname: string;
}): AttachmentKey {
  return { network: ctx.conf.name, containerId: ctx.containerId, ifname: ctx.ifname };
}

async function removeIfKind(pod: Pod, name: string, kind: string): Promise<void> {
  const l = await link.byName(pod.rtnl, name);
  if (!l) return;
  if (l.kind !== kind) {
    log.info(`${q(name)} in ${pod.path} is a ${l.kind ?? 'device'}, not a ${kind}: left alone`);
    return;
  }
  await link.remove(pod.rtnl, l.index, `${kind} ${q(name)}`);
}

/**
 * ADD, before creating the attachment's link: a link under its temporary name is what a
 * crashed ADD of this very attachment left (no other could make that name): removed.
 */
export async function clearTempLink(pod: Pod, a: AttachmentKey, kind: string): Promise<void> {
  await removeIfKind(pod, podTempName(a), kind);
}

/**
 * DEL of a link the plugin made in the pod, under CNI_IFNAME or still under its temporary
 * name (an ADD that crashed before the rename): removed if it is there and of `kind`
 * (anything else with that name is left alone, and logged); a missing netns or link is done.
 */
export async function removePodLink(netns: string, a: AttachmentKey, kind: string): Promise<void> {
  await withPodIfPresent(netns, async (pod) => {
    await removeIfKind(pod, a.ifname, kind);
    await removeIfKind(pod, podTempName(a), kind);
  });
}
