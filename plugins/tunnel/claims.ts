/**
 * Which attachment holds which tunnel endpoint tuple. The kernel admits one tunnel per
 * (kind, local, remote, key, underlay) in the host netns (geneve: per VNI, remote and port),
 * and answers a second one with a bare EEXIST (EBUSY for geneve) that names nobody. The
 * devices live in pod namespaces the host cannot list, so each ADD records its tuple in a
 * small file under /run (tmpfs: it goes with a reboot, as the devices do), one directory per
 * host netns; ADD reads it under a lock to refuse a clash up front, naming the holder. A
 * record whose pod netns or device is gone is stale and taken over.
 */
import { readdir, readFile, unlink } from 'node:fs/promises';
import { withPodIfPresent } from '../../src/attach/pod.ts';
import { CniError, Code, q } from '../../src/cni/errors.ts';
import type { ValidAttachment } from '../../src/cni/plugin.ts';
import { formatIP, parseIP } from '../../src/ip/ip.ts';
import { type FileLock, lockExclusive } from '../../src/kernel/flock.ts';
import * as link from '../../src/kernel/link.ts';
import { NetNS } from '../../src/kernel/netns.ts';
import type { Rtnl } from '../../src/kernel/socket.ts';
import { FALLBACK_DEVICES, type TunnelKind, type TunnelSpec, tunnelInfo } from '../../src/kernel/tunnels.ts';
import { writeFileAtomic } from '../../src/util/atomic.ts';
import { ensureDir } from '../../src/util/dirs.ts';
import { hash16 } from '../../src/util/hash.ts';

export const CLAIMS_ROOT = '/run/manifold/tunnel';

export interface Holder {
  readonly network: string;
  readonly containerId: string;
  readonly ifname: string;
  readonly netns: string;
}

interface Claim extends Holder {
  readonly tuple: string;
}

const norm = (s: string | undefined) => {
  const ip = s ? parseIP(s) : undefined;
  return ip ? formatIP(ip) : 'any';
};

/** The tuple the kernel keys a tunnel by, as text (also shown in messages). */
export function tupleOf(kind: TunnelKind, s: Omit<TunnelSpec, 'kind'>): string {
  if (kind === 'geneve') return `geneve remote ${norm(s.remote)} vni ${s.vni ?? 0} port ${s.port ?? 0}`;
  const key = s.ikey === undefined ? 'no key' : `key ${s.ikey}`;
  return `${kind} local ${norm(s.local)} remote ${norm(s.remote)} ${key} underlay index ${s.underlay ?? 0}`;
}

function linkTuple(l: link.Link): string | undefined {
  if (!l.kind) return undefined;
  const i = tunnelInfo(l);
  return tupleOf(l.kind as TunnelKind, {
    remote: i.remote ?? '',
    local: i.local,
    underlay: i.underlay,
    ikey: i.ikey,
    vni: i.vni,
    port: i.port,
  });
}

/** This host netns's claims directory (the inode tells one host netns from another, tests' included). */
function claimsDir(): string {
  const ns = NetNS.current();
  try {
    return `${CLAIMS_ROOT}/ns${ns.ino}`;
  } finally {
    ns.close();
  }
}

const sameHolder = (a: Holder, b: Holder) =>
  a.network === b.network && a.containerId === b.containerId && a.ifname === b.ifname;

export function describeHolder(h: Holder): string {
  return `network ${q(h.network)}, container ${q(h.containerId)}, interface ${q(h.ifname)} (netns ${q(h.netns)})`;
}

async function readClaim(path: string): Promise<Claim | undefined> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as Claim;
  } catch {
    return undefined;
  }
}

/** Whether the holder's pod still has a device with this tuple (else the claim is stale). */
async function holderAlive(c: Claim, kind: TunnelKind): Promise<boolean> {
  let alive = false;
  try {
    await withPodIfPresent(c.netns, async (pod) => {
      const l = await link.byName(pod.rtnl, c.ifname);
      alive = l?.kind === kind && linkTuple(l) === c.tuple;
    });
  } catch {
    return false;
  }
  return alive;
}

export class Claims {
  readonly #dir: string;
  readonly #lock: FileLock;

  private constructor(dir: string, lock: FileLock) {
    this.#dir = dir;
    this.#lock = lock;
  }

  /** Takes the host-wide lock of the claims directory. */
  static async open(): Promise<Claims> {
    const dir = claimsDir();
    try {
      ensureDir(dir, 0o700);
      return new Claims(dir, await lockExclusive(`${dir}/lock`));
    } catch (err) {
      if (err instanceof CniError) throw err;
      throw new CniError(Code.Internal, `failed to lock ${q(`${dir}/lock`)}: ${(err as Error).message}`);
    }
  }

  release(): void {
    this.#lock.release();
  }

  #path(tuple: string): string {
    return `${this.#dir}/${hash16(tuple)}.json`;
  }

  /**
   * Refuses (code 7) a tuple held by another live attachment, or by a device of the host
   * netns itself (but `sharedDevice`, bridge mode's own); `fix` says what to change.
   */
  async refuseClash(
    h: Rtnl,
    spec: TunnelSpec,
    me: Holder,
    fix: string,
    sharedDevice?: string,
  ): Promise<void> {
    const tuple = tupleOf(spec.kind, spec);
    const c = await readClaim(this.#path(tuple));
    if (c && c.tuple === tuple && !sameHolder(c, me) && (await holderAlive(c, spec.kind))) {
      throw new CniError(
        Code.InvalidConfig,
        `remote: the ${tuple} tunnel is already held by ${describeHolder(c)}: the kernel admits one tunnel per (local, remote, key, underlay)${fix}`,
      );
    }
    for (const l of await link.list(h)) {
      if (l.kind !== spec.kind || FALLBACK_DEVICES.includes(l.name) || l.name === sharedDevice) continue;
      if (linkTuple(l) === tuple) {
        throw new CniError(
          Code.InvalidConfig,
          `remote: the ${tuple} tunnel is already held by device ${q(l.name)} in the host netns: the kernel admits one tunnel per (local, remote, key, underlay)${fix}`,
        );
      }
    }
  }

  /** Records `me` as the holder of the spec's tuple (written whole: util/atomic.ts). */
  record(spec: TunnelSpec, me: Holder): void {
    const tuple = tupleOf(spec.kind, spec);
    writeFileAtomic(this.#path(tuple), JSON.stringify({ tuple, ...me } satisfies Claim));
  }

  /** Removes the claims `drop` selects; returns how many. */
  async #removeWhere(drop: (c: Claim) => boolean | Promise<boolean>): Promise<number> {
    let n = 0;
    for (const f of await readdir(this.#dir)) {
      if (!f.endsWith('.json')) continue;
      const c = await readClaim(`${this.#dir}/${f}`);
      if (c && (await drop(c))) {
        await unlink(`${this.#dir}/${f}`).catch(() => {});
        n++;
      }
    }
    return n;
  }

  /** DEL: the attachment's claims (found by holder, so a DEL without its per-pod args finds them too). */
  dropHolder(me: Holder): Promise<number> {
    return this.#removeWhere((c) => sameHolder(c, me));
  }

  /** GC: claims of `network` whose attachment the runtime no longer has and whose device is gone. */
  dropStale(network: string, kind: TunnelKind, valid: readonly ValidAttachment[]): Promise<number> {
    return this.#removeWhere(async (c) => {
      if (c.network !== network) return false;
      if (valid.some((v) => v.containerID === c.containerId && v.ifname === c.ifname)) return false;
      return !(await holderAlive(c, kind));
    });
  }
}

/** Runs `fn` with the claims locked. */
export async function withClaims<T>(fn: (c: Claims) => Promise<T>): Promise<T> {
  const c = await Claims.open();
  try {
    return await fn(c);
  } finally {
    c.release();
  }
}
