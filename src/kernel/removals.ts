/**
 * Link removals batched per network namespace. The kernel waits for an RCU grace period for
 * every link deleted on its own (10–25 ms here); deleting several as one link group — one
 * RTM_DELLINK with IFLA_GROUP and ifindex 0, what `ip link del group N` sends — unregisters
 * them together behind one grace period.
 *
 * Inside `batchRemovals(fn)`, `link.remove` of a link in a pod's namespace (a socket opened
 * in a namespace, never the host's) does not delete it: it puts the link in this batch's
 * group (a random non-zero number) and records it. When `fn` is done, each namespace's group
 * is deleted in one request. The kernel refuses a whole group (EOPNOTSUPP) if any member
 * cannot be deleted (no dellink: a physical or SR-IOV VF netdev, which manifold moves back
 * and never removes), and a group could in theory hold a link that is not ours: then, and
 * on any other refusal, each link is deleted on its own, exactly as without the batch.
 *
 * A crash between marking and deleting leaves the link in place with its group set: the next
 * DEL finds it by name and removes it again, so DEL stays idempotent. What could not be
 * deleted is returned, one error per link, for the caller to report.
 */
import type { CniError } from '../cni/errors.ts';
import { q } from '../cni/errors.ts';
import { callValue, inCall, type Slot, withCallValue } from '../util/call.ts';
import { isErrno, kernelFailure } from './errors.ts';
import { NetNS } from './netns.ts';
import { decodeAttrs, encodeAttrs, readU32, u32 } from './nl/attrs.ts';
import { AF_UNSPEC, IFLA, RTEXT_FILTER_SKIP_STATS, RTM } from './nl/constants.ts';
import { IFINFOMSG_LEN, ifinfomsg, parseIfinfomsg } from './nl/messages.ts';
import { Rtnl } from './socket.ts';

interface Pending {
  readonly index: number;
  readonly describe: string;
}

interface Space {
  readonly ns: NetNS;
  readonly links: Pending[];
}

class Batch {
  /** Link groups are u32; 0 is the default group and cannot be deleted as one. */
  readonly group = 1 + Math.floor(Math.random() * 0x7ffffffe);
  readonly spaces = new Map<string, Space>();
}

/**
 * The batch of the running call (src/util/call.ts): scoped by async context, not a global,
 * so calls that overlap in one process (a daemon's, the test harness's) never take each
 * other's removals. Set for the part of the call inside batchRemovals only.
 */
const BATCH: Slot<Batch> = { name: 'link removal batch' };

/**
 * Runs `fn` with link removals in pod namespaces deferred, then deletes them, one request
 * per namespace. Returns `fn`'s value and what could not be deleted (nothing is thrown for
 * those: the caller reports them). Scopes do not nest: an inner one runs in the outer one.
 * Outside a call it is one (its sockets closed at its end).
 */
export async function batchRemovals<T>(fn: () => Promise<T>): Promise<{ value: T; failures: CniError[] }> {
  if (callValue(BATCH)) return { value: await fn(), failures: [] };
  const batch = new Batch();
  return inCall(async () => {
    const value = await withCallValue(BATCH, batch, fn);
    return { value, failures: await flush(batch) };
  });
}

/**
 * For link.remove: defers the removal of `index` (on `h`) to the running batch; false when
 * there is none, `h` is the host's, or the link cannot be marked (then delete it now).
 */
export async function deferRemoval(h: Rtnl, index: number, describe: string): Promise<boolean> {
  const batch = callValue(BATCH);
  if (!batch || !h.ns || index <= 0) return false;
  const key = `${h.ns.dev}:${h.ns.ino}`;
  let space = batch.spaces.get(key);
  if (!space) {
    let ns: NetNS;
    try {
      ns = NetNS.open(h.ns.path);
    } catch {
      return false;
    }
    if (!ns.same(h.ns)) {
      ns.close();
      return false;
    }
    space = { ns, links: [] };
    batch.spaces.set(key, space);
  }
  try {
    await h.request(
      RTM.NEWLINK,
      Buffer.concat([ifinfomsg({ index }), encodeAttrs([[IFLA.GROUP, u32(batch.group)]])]),
    );
  } catch (err) {
    if (isErrno(err, 'ENODEV')) return true; // already gone
    return false;
  }
  space.links.push({ index, describe });
  return true;
}

/** The indexes of the links in `group` in the socket's namespace. */
async function members(h: Rtnl, group: number): Promise<Set<number>> {
  const body = [
    ifinfomsg({ family: AF_UNSPEC }),
    encodeAttrs([[IFLA.EXT_MASK, u32(RTEXT_FILTER_SKIP_STATS)]]),
  ];
  const msgs = await h.dump(RTM.GETLINK, Buffer.concat(body));
  const out = new Set<number>();
  for (const m of msgs) {
    if (m.type !== RTM.NEWLINK) continue;
    if (readU32(decodeAttrs(m.data.subarray(IFINFOMSG_LEN)).get(IFLA.GROUP)) === group)
      out.add(parseIfinfomsg(m.data).index);
  }
  return out;
}

async function removeOne(h: Rtnl, l: Pending, where: string): Promise<CniError | undefined> {
  try {
    await h.request(RTM.DELLINK, ifinfomsg({ index: l.index }));
    return undefined;
  } catch (err) {
    return isErrno(err, 'ENODEV') ? undefined : kernelFailure(`delete ${l.describe} ${where}`, err);
  }
}

async function flushSpace(space: Space, group: number): Promise<CniError[]> {
  const where = `in netns ${q(space.ns.path)}`;
  let h: Rtnl;
  try {
    h = Rtnl.open(space.ns);
  } catch (err) {
    return space.links.map((l) => kernelFailure(`delete ${l.describe} ${where}`, err));
  }
  try {
    const found = await members(h, group);
    const ours = new Set(space.links.map((l) => l.index));
    if (found.size === 0) return []; // every one is gone already
    if ([...found].every((i) => ours.has(i))) {
      try {
        await h.request(
          RTM.DELLINK,
          Buffer.concat([ifinfomsg({ index: 0 }), encodeAttrs([[IFLA.GROUP, u32(group)]])]),
        );
        return [];
      } catch (err) {
        if (isErrno(err, 'ENODEV')) return [];
        // EOPNOTSUPP (a member has no dellink) or anything else: one by one below
      }
    }
    const failures: CniError[] = [];
    for (const l of space.links) {
      const e = await removeOne(h, l, where);
      if (e) failures.push(e);
    }
    return failures;
  } catch (err) {
    return space.links.map((l) => kernelFailure(`delete ${l.describe} ${where}`, err));
  } finally {
    h.close();
  }
}

async function flush(batch: Batch): Promise<CniError[]> {
  const failures: CniError[] = [];
  for (const space of batch.spaces.values()) {
    try {
      failures.push(...(await flushSpace(space, batch.group)));
    } finally {
      space.ns.close();
    }
  }
  return failures;
}
