/**
 * Netlink sockets (src/kernel/socket.ts) and the call scope (src/util/call.ts): within one
 * call every handle on one namespace uses one kernel socket (closing a handle leaves it open
 * for the others), another namespace gets its own, and all are closed when the call ends;
 * outside a call each handle is its own. Two calls running at once in one process (a
 * daemon's) share neither sockets nor link removal batches.
 */
import { readdirSync, readlinkSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { isErrno } from '../../src/kernel/errors.ts';
import * as link from '../../src/kernel/link.ts';
import { NetNS } from '../../src/kernel/netns.ts';
import { RTM } from '../../src/kernel/nl/constants.ts';
import { ifinfomsg } from '../../src/kernel/nl/messages.ts';
import { batchRemovals } from '../../src/kernel/removals.ts';
import { Rtnl } from '../../src/kernel/socket.ts';
import { inCall } from '../../src/util/call.ts';
import { ip, ipJson, isolateHost, newNetns } from '../helpers/host.ts';

isolateHost();

/** How many sockets this process has open. */
function sockets(): number {
  return readdirSync('/proc/self/fd').filter((fd) => {
    try {
      return readlinkSync(`/proc/self/fd/${fd}`).startsWith('socket:');
    } catch {
      return false;
    }
  }).length;
}

describe('the sockets of a call', () => {
  it('gives every handle on one namespace the same socket, and closes them all at the end', async () => {
    const a = NetNS.open(newNetns().path);
    const b = NetNS.open(newNetns().path);
    const before = sockets();
    await inCall(async () => {
      const h1 = Rtnl.open(a);
      const h2 = Rtnl.open(a);
      expect(sockets()).toBe(before + 1);
      h1.close();
      expect((await link.list(h2)).map((l) => l.name)).toEqual(['lo']); // still usable
      const h3 = Rtnl.open(b);
      expect(sockets()).toBe(before + 2);
      h3.close();
      h2.close();
      expect(sockets()).toBe(before + 2); // closed with the scope, not before
    });
    expect(sockets()).toBe(before);
    const own = Rtnl.open(a);
    expect(sockets()).toBe(before + 1);
    own.close();
    expect(sockets()).toBe(before);
    a.close();
    b.close();
  });
});

/** A gate: `wait()` resolves once `open()` is called. */
function gate() {
  let open = (): void => undefined;
  const opened = new Promise<void>((r) => {
    open = r;
  });
  return { open, wait: () => opened };
}

const names = (ns: string) => ipJson<{ ifname: string }[]>('-n', ns, 'link', 'show').map((l) => l.ifname);

/** A pod namespace holding a veth pair `d0`–`d0p` (deleting `d0` deletes both). */
function podWithVeth() {
  const p = newNetns();
  ip('-n', p.name, 'link', 'add', 'd0', 'type', 'veth', 'peer', 'name', 'd0p');
  return { ...p, ns: NetNS.open(p.path) };
}

describe('two calls at once in one process', () => {
  it('never share a socket: each has its own per namespace, closed when that call ends', async () => {
    const a = NetNS.open(newNetns().path);
    const before = sockets();
    const firstOpened = gate();
    const secondOpened = gate();
    const firstDone = gate();
    const first = inCall(async () => {
      const h = Rtnl.open(a);
      firstOpened.open();
      await secondOpened.wait();
      expect(sockets()).toBe(before + 2); // the other call's socket on the same namespace is not this one
      h.close();
      Rtnl.open(a); // again the call's own: nothing new
      expect(sockets()).toBe(before + 2);
    }).finally(firstDone.open);
    const second = inCall(async () => {
      await firstOpened.wait();
      const h = Rtnl.open(a);
      expect(sockets()).toBe(before + 2);
      secondOpened.open();
      await firstDone.wait();
      expect(sockets()).toBe(before + 1); // the first call's went with it; this one's is open
      expect((await link.list(h)).map((l) => l.name)).toEqual(['lo']);
    });
    await Promise.all([first, second]);
    expect(sockets()).toBe(before);
    a.close();
  });

  it('never share a removal batch: each deletes its own links when it ends, a call without one at once', async () => {
    const p1 = podWithVeth();
    const p2 = podWithVeth();
    const p3 = podWithVeth();
    const removed = gate();
    const firstEnded = gate();
    const remove = async (ns: NetNS) => {
      const h = Rtnl.open(ns);
      await link.remove(h, (await link.mustByName(h, 'd0')).index, 'veth "d0"');
    };
    const first = inCall(() =>
      batchRemovals(async () => {
        await remove(p1.ns);
        removed.open();
      }),
    ).then((r) => {
      firstEnded.open();
      return r;
    });
    const second = inCall(() =>
      batchRemovals(async () => {
        await removed.wait();
        await remove(p2.ns);
        await firstEnded.wait();
        expect(names(p1.name)).toEqual(['lo']); // the first batch is done with its own link
        expect(names(p2.name)).toContain('d0'); // and left this one's alone
      }),
    );
    const third = inCall(async () => {
      await removed.wait(); // while the first batch is open: not batched with it
      await remove(p3.ns);
      expect(names(p3.name)).toEqual(['lo']);
    });
    const [r1, r2] = await Promise.all([first, second, third]);
    expect(r1.failures).toEqual([]);
    expect(r2.failures).toEqual([]);
    expect(names(p2.name)).toEqual(['lo']);
    for (const p of [p1, p2, p3]) p.ns.close();
  });

  it("join the call they run in (an in-process delegate shares its caller's sockets)", async () => {
    const a = NetNS.open(newNetns().path);
    const before = sockets();
    await inCall(async () => {
      Rtnl.open(a);
      await inCall(async () => {
        Rtnl.open(a);
        expect(sockets()).toBe(before + 1);
      });
      expect(sockets()).toBe(before + 1); // the inner one did not close the call's socket
    });
    expect(sockets()).toBe(before);
    a.close();
  });
});

describe('requests at once on one socket', () => {
  /** A pod namespace holding veth pairs v0–v0p … v<n-1>–v<n-1>p. */
  function podWithVeths(n: number) {
    const p = newNetns();
    for (let i = 0; i < n; i++)
      ip('-n', p.name, 'link', 'add', `v${i}`, 'type', 'veth', 'peer', 'name', `v${i}p`);
    return { ...p, ns: NetNS.open(p.path) };
  }

  it('take turns in the order they were made: deletions on a worker thread, reads behind them', async () => {
    const p = podWithVeths(6);
    const h = Rtnl.open(p.ns);
    const indexes = await Promise.all(
      [0, 1, 2, 3, 4, 5].map(async (i) => (await link.mustByName(h, `v${i}`)).index),
    );
    // all sent before any is answered: each deletion is followed at once by a read of its link
    const results = await Promise.all(
      indexes.flatMap((index) => [
        h.request(RTM.DELLINK, ifinfomsg({ index })).then(() => 'removed'),
        h.request(RTM.GETLINK, ifinfomsg({ index })).then(
          () => 'still there',
          (err: unknown) => (isErrno(err, 'ENODEV') ? 'gone' : String(err)),
        ),
      ]),
    );
    expect(results).toEqual(indexes.flatMap(() => ['removed', 'gone']));
    expect(names(p.name)).toEqual(['lo']);
    expect((await link.list(h)).map((l) => l.name)).toEqual(['lo']); // the socket is still in step
    h.close();
    p.ns.close();
  });

  it('close a socket closed during a deletion only when the deletion is done', async () => {
    const p = podWithVeths(1);
    const before = sockets();
    const h = Rtnl.open(p.ns);
    const index = (await link.mustByName(h, 'v0')).index;
    const removing = h.request(RTM.DELLINK, ifinfomsg({ index })); // sent before it returns
    h.close();
    expect(sockets()).toBe(before + 1); // a worker thread is using it
    await removing;
    expect(sockets()).toBe(before);
    expect(names(p.name)).toEqual(['lo']);
    p.ns.close();
  });
});
