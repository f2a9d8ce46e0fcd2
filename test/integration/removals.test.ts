/**
 * Batched link removals (src/kernel/removals.ts) on the real kernel: links removed inside a
 * batch stay until it ends, then go together; the host's links are never batched; a group
 * the kernel refuses (a member without dellink: lo) or that holds a link that is not ours
 * falls back to one deletion each, and only what really cannot be deleted is reported.
 */
import { describe, expect, it } from 'vitest';
import * as kinds from '../../src/kernel/kinds.ts';
import * as link from '../../src/kernel/link.ts';
import { NetNS } from '../../src/kernel/netns.ts';
import { batchRemovals } from '../../src/kernel/removals.ts';
import { Rtnl } from '../../src/kernel/socket.ts';
import { ip, ipJson, isolateHost, newNetns } from '../helpers/host.ts';

isolateHost();
ip('link', 'add', 'rmst0', 'type', 'veth', 'peer', 'name', 'rmst0p');
ip('link', 'set', 'rmst0', 'up');

const names = (ns: string) => ipJson<{ ifname: string }[]>('-n', ns, 'link', 'show').map((l) => l.ifname);
const groupOf = (ns: string, ifname: string) =>
  ipJson<{ group: string }[]>('-n', ns, '-d', 'link', 'show', ifname)[0]?.group;

/** A pod with `n` macvlans net0…net<n-1>, and sockets on both sides. */
async function pod(n: number) {
  const p = newNetns();
  const ns = NetNS.open(p.path);
  const host = Rtnl.open();
  const rtnl = Rtnl.open(ns);
  const master = await link.mustByName(host, 'rmst0');
  for (let i = 0; i < n; i++) {
    await link.create(host, {
      name: `net${i}`,
      kind: 'macvlan',
      parent: master.index,
      netns: ns,
      data: kinds.macvlanData('bridge'),
    });
  }
  const close = () => {
    rtnl.close();
    host.close();
    ns.close();
  };
  return { ...p, ns, host, rtnl, close };
}

describe('batchRemovals', () => {
  it('deletes the pod links removed inside it together, when it ends', async () => {
    const p = await pod(3);
    const { value, failures } = await batchRemovals(async () => {
      for (const name of ['net0', 'net1', 'net2']) {
        const l = await link.mustByName(p.rtnl, name);
        await link.remove(p.rtnl, l.index, `macvlan "${name}"`);
      }
      return names(p.name);
    });
    expect(value).toEqual(expect.arrayContaining(['net0', 'net1', 'net2'])); // still there inside
    expect(failures).toEqual([]);
    expect(names(p.name)).toEqual(['lo']);
    p.close();
  });

  it('treats links gone meanwhile as done, and removes at once outside a batch or on the host', async () => {
    const p = await pod(2);
    const { failures } = await batchRemovals(async () => {
      const l = await link.mustByName(p.rtnl, 'net0');
      await link.remove(p.rtnl, l.index, 'macvlan "net0"');
      ip('-n', p.name, 'link', 'del', 'net0');
      ip('link', 'add', 'rmhost0', 'type', 'veth', 'peer', 'name', 'rmhost0p');
      const h = await link.mustByName(p.host, 'rmhost0');
      await link.remove(p.host, h.index, 'veth "rmhost0"');
      // the host's: deleted now, not batched
      expect(ipJson<{ ifname: string }[]>('link', 'show').map((x) => x.ifname)).not.toContain('rmhost0p');
    });
    expect(failures).toEqual([]);
    const l = await link.mustByName(p.rtnl, 'net1');
    await link.remove(p.rtnl, l.index);
    expect(names(p.name)).toEqual(['lo']);
    p.close();
  });

  it('falls back to one deletion each when the kernel refuses the group, and reports what cannot go', async () => {
    const p = await pod(1);
    const { failures } = await batchRemovals(async () => {
      const lo = await link.mustByName(p.rtnl, 'lo');
      const mv = await link.mustByName(p.rtnl, 'net0');
      await link.remove(p.rtnl, mv.index, 'macvlan "net0"');
      await link.remove(p.rtnl, lo.index, 'loopback "lo"'); // no dellink: the group is refused
    });
    expect(names(p.name)).toEqual(['lo']);
    expect(failures.map((f) => f.message)).toEqual([
      expect.stringMatching(/^failed to delete loopback "lo" in netns ".*": operation not supported$/),
    ]);
    p.close();
  });

  it('never deletes a link of the group that it did not mark', async () => {
    const p = await pod(2);
    const { failures } = await batchRemovals(async () => {
      const mv = await link.mustByName(p.rtnl, 'net0');
      await link.remove(p.rtnl, mv.index, 'macvlan "net0"');
      const group = groupOf(p.name, 'net0');
      expect(group).toMatch(/^\d+$/);
      ip('-n', p.name, 'link', 'set', 'net1', 'group', String(group)); // someone else's link, same group
    });
    expect(failures).toEqual([]);
    expect(names(p.name)).toEqual(['lo', 'net1']);
    p.close();
  });
});
