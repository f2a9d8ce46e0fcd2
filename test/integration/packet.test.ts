/**
 * The kernel layer's packet sockets, ARP/NDP codecs, probe rounds and policy rules against
 * the real kernel: two namespaces on a veth; what one sends, the other's kernel answers.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as arp from '../../src/kernel/arp.ts';
import * as ndp from '../../src/kernel/ndp.ts';
import { NetNS } from '../../src/kernel/netns.ts';
import { BROADCAST, ETH_P_ARP, ETH_P_IPV6, PacketSocket, waitReadable } from '../../src/kernel/packet.ts';
import { type Probe, runProbes } from '../../src/kernel/probe.ts';
import * as rule from '../../src/kernel/rule.ts';
import { Rtnl } from '../../src/kernel/socket.ts';
import { ip, ipJson, isolateHost, newNetns } from '../helpers/host.ts';

isolateHost();
const a = newNetns('mfa');
const b = newNetns('mfb');
let ns: NetNS;
let index = 0;
let mac = '';
let peerMac = '';

beforeAll(() => {
  ip('link', 'add', 'va', 'netns', a.name, 'type', 'veth', 'peer', 'name', 'vb', 'netns', b.name);
  for (const [n, dev, v4, v6] of [
    [a.name, 'va', '10.5.0.1/24', 'fd00:5::1/64'],
    [b.name, 'vb', '10.5.0.2/24', 'fd00:5::2/64'],
  ] as const) {
    ip('-n', n, 'addr', 'add', v4, 'dev', dev);
    ip('-n', n, 'addr', 'add', v6, 'dev', dev, 'nodad');
    ip('-n', n, 'link', 'set', dev, 'up');
  }
  const la = ipJson<{ ifindex: number; address: string }[]>('-n', a.name, 'link', 'show', 'va')[0];
  index = la?.ifindex ?? 0;
  mac = la?.address ?? '';
  peerMac = ipJson<{ address: string }[]>('-n', b.name, 'link', 'show', 'vb')[0]?.address ?? '';
  ns = NetNS.open(a.path);
});

const budget = { rounds: 3, intervalMs: 50 };

function arpProbe(s: PacketSocket, frame: Buffer, from: string): Probe<string> {
  return {
    socket: s,
    budget,
    send: () => s.send(index, ETH_P_ARP, BROADCAST, frame),
    match: (f) => {
      const p = f.protocol === ETH_P_ARP && f.ifindex === index ? arp.decodeArp(f.data) : undefined;
      return p && p.senderIP === from ? p.senderMac : undefined;
    },
  };
}

function naProbe(s: PacketSocket, src: string, target: string): Probe<string> {
  const { dst, packet } = ndp.solicitation(mac, src, target);
  return {
    socket: s,
    budget,
    send: () => s.send(index, ETH_P_IPV6, dst, packet),
    match: (f) => {
      const m = f.protocol === ETH_P_IPV6 ? ndp.decodeNdp(f.data) : undefined;
      return m?.type === ndp.ICMPV6.NA && m.target === target ? m.lladdr : undefined;
    },
  };
}

describe('packet sockets in a namespace', () => {
  it('get the peer kernel to answer an ARP request, an RFC 5227 probe, and nobody for a free address', async () => {
    const s = PacketSocket.open(ns, 'a');
    try {
      const answers = await runProbes([
        arpProbe(s, arp.request(mac, '10.5.0.1', '10.5.0.2'), '10.5.0.2'),
        arpProbe(s, arp.probe(mac, '10.5.0.2'), '10.5.0.2'),
        arpProbe(s, arp.probe(mac, '10.5.0.99'), '10.5.0.99'),
      ]);
      expect(answers).toEqual([peerMac, peerMac, undefined]);
    } finally {
      s.close();
    }
  });

  it('get the peer kernel to answer a neighbour solicitation and a DAD probe from :: (checksums it accepts)', async () => {
    const s = PacketSocket.open(ns, 'a', index, ETH_P_IPV6);
    try {
      expect(await runProbes([naProbe(s, 'fd00:5::1', 'fd00:5::2'), naProbe(s, '::', 'fd00:5::2')])).toEqual([
        peerMac,
        peerMac,
      ]);
    } finally {
      s.close();
    }
  });

  it('do not receive their own frames, and a wait without traffic ends empty', async () => {
    const s = PacketSocket.open(ns, 'a', index, ETH_P_ARP);
    try {
      s.send(index, ETH_P_ARP, BROADCAST, arp.probe(mac, '10.5.0.99'));
      expect(await waitReadable([s], 100)).toBeUndefined();
      expect(s.recv()).toBeUndefined();
    } finally {
      s.close();
    }
  });

  it('fails with a CNI error naming the namespace when the interface does not exist', () => {
    expect(() => PacketSocket.open(ns, 'netns "a"', 9999, ETH_P_ARP)).toThrow(
      /^failed to open a packet socket in netns "a": no such device/,
    );
    const s = PacketSocket.open(ns, 'netns "a"');
    try {
      expect(() =>
        s.send(9999, ETH_P_ARP, BROADCAST, arp.probe(mac, '10.5.0.99'), 'interface "gone0"'),
      ).toThrow(/^failed to send on interface "gone0" in netns "a": no such device/);
    } finally {
      s.close();
    }
  });
});

describe('policy rules', () => {
  it('are added with priority, table and protocol, listed, and removed (a missing one is fine)', async () => {
    const h = Rtnl.open(ns);
    try {
      const r: rule.Rule = { family: 4, src: '10.5.0.1/32', table: 10002, priority: 30000, protocol: 109 };
      const r6: rule.Rule = { family: 6, src: 'fd00:5::1/128', table: 10002, priority: 30000, protocol: 109 };
      await rule.add(h, r);
      await rule.add(h, r6);
      await expect(rule.add(h, r)).rejects.toThrow(
        /^failed to add rule "30000: from 10.5.0.1\/32 lookup 10002": file exists/,
      );
      expect((await rule.list(h, 4)).filter((x) => x.protocol === 109)).toEqual([{ ...r, action: 1 }]);
      expect((await rule.list(h, 6)).filter((x) => x.protocol === 109)).toEqual([{ ...r6, action: 1 }]);
      expect(ip('-n', a.name, 'rule')).toContain('30000:\tfrom 10.5.0.1 lookup 10002 proto 109');
      await rule.remove(h, r);
      await rule.remove(h, r6);
      await rule.remove(h, r);
      expect((await rule.list(h, 4)).filter((x) => x.protocol === 109)).toEqual([]);
      expect((await rule.list(h, 4)).map((x) => x.priority)).toEqual([0, 32766, 32767]);
    } finally {
      h.close();
    }
  });
});
