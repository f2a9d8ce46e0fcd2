/**
 * Netlink sockets (src/kernel/socket.ts): inside shareSockets every handle on one namespace
 * uses one kernel socket (closing a handle leaves it open for the others), another namespace
 * gets its own, and all are closed when the scope ends; outside it each handle is its own.
 */
import { readdirSync, readlinkSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import * as link from '../../src/kernel/link.ts';
import { NetNS } from '../../src/kernel/netns.ts';
import { Rtnl, shareSockets } from '../../src/kernel/socket.ts';
import { isolateHost, newNetns } from '../helpers/host.ts';

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

describe('shareSockets', () => {
  it('gives every handle on one namespace the same socket, and closes them all at the end', async () => {
    const a = NetNS.open(newNetns().path);
    const b = NetNS.open(newNetns().path);
    const before = sockets();
    await shareSockets(async () => {
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
