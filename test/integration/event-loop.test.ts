/**
 * The waits a CNI call may meet in the kernel do not stall the event loop (what a daemon
 * serving many calls at once needs, DESIGN.md): while a call waits for a lock another process
 * holds, spends a probe's budget on a link where nobody answers, or deletes a batch of links
 * (an RCU grace period inside each RTM_DELLINK's sendmsg), a 5 ms ticker on the same event
 * loop keeps ticking. The assertions are about behaviour, not speed: the largest gap between
 * ticks stays far below the wait, whatever the machine's load makes of both.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import * as arp from '../../src/kernel/arp.ts';
import { lockExclusive } from '../../src/kernel/flock.ts';
import * as kinds from '../../src/kernel/kinds.ts';
import * as link from '../../src/kernel/link.ts';
import * as ndp from '../../src/kernel/ndp.ts';
import { NetNS } from '../../src/kernel/netns.ts';
import { BROADCAST, ETH_P_ARP, ETH_P_IPV6, PacketSocket } from '../../src/kernel/packet.ts';
import { type Probe, runProbes } from '../../src/kernel/probe.ts';
import { batchRemovals } from '../../src/kernel/removals.ts';
import { Rtnl } from '../../src/kernel/socket.ts';
import { ip, ipJson, isolateHost, newNetns } from '../helpers/host.ts';

isolateHost();
const dir = mkdtempSync(join(tmpdir(), 'manifold-evloop-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The largest gap between ticks of a 5 ms interval from start() to stop(), and the time between. */
function ticker() {
  let last = performance.now();
  let gap = 0;
  const t = setInterval(() => {
    const now = performance.now();
    gap = Math.max(gap, now - last);
    last = now;
  }, 5);
  const start = performance.now();
  return {
    stop() {
      clearInterval(t);
      const now = performance.now();
      return { gap: Math.max(gap, now - last), elapsed: now - start };
    },
  };
}

const settle = () => new Promise((r) => setTimeout(r, 20));

describe('the event loop', () => {
  it('keeps ticking while a lock held by another process for ~1 s is waited for', async () => {
    const lock = join(dir, 'held.lock');
    await new Promise<void>((ready, fail) => {
      const p = spawn('flock', ['-x', lock, 'sh', '-c', 'echo held; sleep 1'], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      p.on('error', fail);
      p.stdout.once('data', () => ready());
    });
    await settle();
    const t = ticker();
    const l = await lockExclusive(lock, 10_000);
    const { gap, elapsed } = t.stop();
    l.release();
    expect(elapsed).toBeGreaterThanOrEqual(500);
    expect(gap).toBeLessThan(100);
  });

  it('keeps ticking while ARP and NDP probes spend their budget on a link where nobody answers', async () => {
    const p = newNetns('mfe');
    ip('-n', p.name, 'link', 'add', 'ev0', 'type', 'veth', 'peer', 'name', 'ev1');
    ip('-n', p.name, 'link', 'set', 'ev0', 'up');
    ip('-n', p.name, 'link', 'set', 'ev1', 'up');
    const l = ipJson<{ ifindex: number; address: string }[]>('-n', p.name, 'link', 'show', 'ev0')[0];
    const index = l?.ifindex ?? 0;
    const mac = l?.address ?? '';
    const ns = NetNS.open(p.path);
    const s = PacketSocket.open(ns, 'ev');
    const budget = { rounds: 3, intervalMs: 100 };
    const nobody = () => undefined;
    const frame = arp.probe(mac, '10.77.0.9');
    const sol = ndp.solicitation(mac, '::', 'fd00:77::9');
    const probes: Probe<string>[] = [
      { socket: s, budget, send: () => s.send(index, ETH_P_ARP, BROADCAST, frame), match: nobody },
      { socket: s, budget, send: () => s.send(index, ETH_P_IPV6, sol.dst, sol.packet), match: nobody },
    ];
    try {
      await settle();
      const t = ticker();
      const answers = await runProbes(probes);
      const { gap, elapsed } = t.stop();
      expect(answers).toEqual([undefined, undefined]);
      expect(elapsed).toBeGreaterThanOrEqual(300);
      expect(gap).toBeLessThan(100);
    } finally {
      s.close();
      ns.close();
    }
  });

  it('keeps ticking while a batch of link deletions waits for the kernel', async () => {
    ip('link', 'add', 'evm0', 'type', 'veth', 'peer', 'name', 'evm0p');
    ip('link', 'set', 'evm0', 'up');
    const host = Rtnl.open();
    const master = await link.mustByName(host, 'evm0');
    const pods: NetNS[] = [];
    for (let i = 0; i < 16; i++) {
      const ns = NetNS.open(newNetns('mfd').path);
      pods.push(ns);
      for (const name of ['net1', 'net2']) {
        await link.create(host, {
          name,
          kind: 'macvlan',
          parent: master.index,
          netns: ns,
          data: kinds.macvlanData('bridge'),
        });
      }
    }
    host.close();
    await settle();
    const t = ticker();
    const { failures } = await batchRemovals(async () => {
      for (const ns of pods) {
        const h = Rtnl.open(ns);
        for (const name of ['net1', 'net2']) {
          const l = await link.mustByName(h, name);
          await link.remove(h, l.index, `macvlan "${name}"`);
        }
        h.close();
      }
    });
    const { gap, elapsed } = t.stop();
    expect(failures).toEqual([]);
    for (const ns of pods) {
      expect(
        ipJson<{ ifname: string }[]>('-n', ns.path.slice('/run/netns/'.length), 'link').map((x) => x.ifname),
      ).toEqual(['lo']);
      ns.close();
    }
    expect(elapsed).toBeGreaterThanOrEqual(150);
    expect(gap).toBeLessThan(elapsed / 3);
    expect(gap).toBeLessThan(100);
  });
});
