/**
 * The addon's error paths against the real kernel: packet sockets report a
 * closed fd or a socket error instead of "no answer", never hand out a frame cut to the
 * receive buffer, and treat a frame the local queue dropped as lost; netlink dumps the kernel
 * flags as interrupted (NLM_F_DUMP_INTR) are retried, a bounded number of times, and replies
 * that do not come from the kernel are ignored.
 *
 * NLM_F_DUMP_INTR is tested twice: deterministically, in a child process whose recv calls
 * pass through an LD_PRELOAD shim (fixtures/dump-intr-preload.c) that flags the first N dumps
 * as interrupted, and on the real kernel, dumping 1000 addresses while `ip -b` adds and
 * deletes one on the same device (the kernel flags a dump when the address generation
 * changes between two of its parts).
 */
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as arp from '../../src/kernel/arp.ts';
import { NetNS } from '../../src/kernel/netns.ts';
import { BROADCAST, ETH_P_ARP, PacketSocket, waitReadable } from '../../src/kernel/packet.ts';
import { Rtnl } from '../../src/kernel/socket.ts';
// biome-ignore lint/style/noRestrictedImports: this test is about the addon's own error paths
import * as addon from '../../src/native/index.cjs';
import { ip, ipJson, isolateHost, newNetns } from '../helpers/host.ts';

isolateHost();
const a = newNetns('mfha');
const b = newNetns('mfhb');
const ETH_P_LOCAL = 0x88b5; // IEEE 802 local experimental ethertype
const NLM_F_DUMP_INTR = 0x10;
const RTM_GETLINK = 18;
const RTM_GETADDR = 22;
let nsA: NetNS;
let nsB: NetNS;
let indexA = 0;
let indexB = 0;
let macA = '';
const native = addon as typeof addon & { nlDumpRetries?: () => number };
const retries = (): number => native.nlDumpRetries?.() ?? 0;
const tmp = mkdtempSync(join(tmpdir(), 'mf-native-'));

beforeAll(() => {
  ip('link', 'add', 'va', 'netns', a.name, 'type', 'veth', 'peer', 'name', 'vb', 'netns', b.name);
  ip('-n', a.name, 'addr', 'add', '10.6.0.1/24', 'dev', 'va');
  ip('-n', b.name, 'addr', 'add', '10.6.0.2/24', 'dev', 'vb');
  ip('-n', a.name, 'link', 'set', 'va', 'up');
  ip('-n', b.name, 'link', 'set', 'vb', 'up');
  const la = ipJson<{ ifindex: number; address: string }[]>('-n', a.name, 'link', 'show', 'va')[0];
  indexA = la?.ifindex ?? 0;
  macA = la?.address ?? '';
  indexB = ipJson<{ ifindex: number }[]>('-n', b.name, 'link', 'show', 'vb')[0]?.ifindex ?? 0;
  nsA = NetNS.open(a.path);
  nsB = NetNS.open(b.path);
});

afterAll(() => {
  nsA?.close();
  nsB?.close();
  rmSync(tmp, { recursive: true, force: true });
});

/** One netlink message: header (seq filled in by nlRequest) and body. */
function nlmsg(type: number, flags: number, body: Buffer): Buffer {
  const m = Buffer.alloc(16 + body.length);
  m.writeUInt32LE(m.length, 0);
  m.writeUInt16LE(type, 4);
  m.writeUInt16LE(flags | 0x1 | 0x4, 6); // REQUEST | ACK
  body.copy(m, 16);
  return m;
}

function messages(buf: Buffer): { type: number; flags: number; data: Buffer }[] {
  const out = [];
  for (let off = 0; off + 16 <= buf.length; ) {
    const len = buf.readUInt32LE(off);
    out.push({
      type: buf.readUInt16LE(off + 4),
      flags: buf.readUInt16LE(off + 6),
      data: buf.subarray(off + 16, off + len),
    });
    off += (len + 3) & ~3;
  }
  return out;
}

/** The IFA_LOCAL (or IFA_ADDRESS) of each RTM_NEWADDR message of an AF_INET dump. */
function ipv4Addresses(buf: Buffer): string[] {
  const out: string[] = [];
  for (const m of messages(buf)) {
    let local: string | undefined;
    for (let off = 8; off + 4 <= m.data.length; ) {
      const len = m.data.readUInt16LE(off);
      const type = m.data.readUInt16LE(off + 2);
      if (len < 4) break;
      if ((type === 2 || (type === 1 && local === undefined)) && len === 8)
        local = [...m.data.subarray(off + 4, off + 8)].join('.');
      off += (len + 3) & ~3;
    }
    if (local) out.push(local);
  }
  return out;
}

/** The addon's next frame on `fd`, waiting for it (bounded). */
function nextFrame(fd: number): ReturnType<typeof native.packetRecv> {
  for (let i = 0; i < 50; i++) {
    const f = native.packetRecv(fd);
    if (f) return f;
    native.packetWait([fd], 100);
  }
  return null;
}

describe('packet sockets', () => {
  it('throw EBADF when waiting on a socket that was closed, instead of timing out', async () => {
    const s = PacketSocket.open(nsA, 'a', indexA, ETH_P_ARP);
    s.close();
    let caught: unknown;
    try {
      native.packetWait([s.fd], 50);
    } catch (err) {
      caught = err;
    }
    expect(caught).toMatchObject({ code: 'EBADF', message: `poll: fd ${s.fd}: Bad file descriptor` });
    // the wait on the event loop: the same error, as a rejection
    await expect(native.packetWaitAsync([s.fd], 50)).rejects.toMatchObject({
      code: 'EBADF',
      message: `poll: fd ${s.fd}: Bad file descriptor`,
    });
    await expect(waitReadable([s], 50)).rejects.toThrow(/bad file descriptor/);
  });

  it('throw the socket error (ENETDOWN) when the bound interface goes down during a wait', () => {
    const s = PacketSocket.open(nsA, 'a', indexA, ETH_P_ARP);
    try {
      ip('-n', a.name, 'link', 'set', 'va', 'down');
      let caught: unknown;
      try {
        native.packetWait([s.fd], 1000);
      } catch (err) {
        caught = err;
      }
      expect(caught).toMatchObject({ code: 'ENETDOWN', message: `poll: fd ${s.fd}: Network is down` });
    } finally {
      ip('-n', a.name, 'link', 'set', 'va', 'up');
      s.close();
    }
  });

  it('throw the socket error (ENETDOWN) on the event loop too, when the interface goes down while libuv watches', async () => {
    const s = PacketSocket.open(nsA, 'a', indexA, ETH_P_ARP);
    try {
      const wait = native.packetWaitAsync([s.fd], 5000);
      await new Promise((r) => setTimeout(r, 20)); // the wait is armed: nothing was ready
      const t = performance.now();
      ip('-n', a.name, 'link', 'set', 'va', 'down');
      await expect(wait).rejects.toMatchObject({
        code: 'ENETDOWN',
        message: `poll: fd ${s.fd}: Network is down`,
      });
      expect(performance.now() - t).toBeLessThan(2000); // woken by the error, not the deadline
    } finally {
      ip('-n', a.name, 'link', 'set', 'va', 'up');
      s.close();
    }
  });

  it('refuse a second wait on a socket already waited on, and close a socket closed during a wait after it', async () => {
    const s = PacketSocket.open(nsA, 'a', indexA, ETH_P_ARP);
    const first = waitReadable([s], 100);
    await expect(waitReadable([s], 100)).rejects.toThrow(/already being waited on/);
    s.close(); // deferred: libuv still watches the fd
    expect([undefined, s]).toContain(await first); // nothing sent to it: the deadline, unless a stray ARP came
    await expect(native.packetWaitAsync([s.fd], 10)).rejects.toMatchObject({ code: 'EBADF' });
  });

  it('report a frame larger than the receive buffer as truncated, without its cut data, and skip it in recv()', async () => {
    for (const [n, dev] of [
      [a.name, 'va'],
      [b.name, 'vb'],
    ] as const)
      ip('-n', n, 'link', 'set', dev, 'mtu', '9000');
    const rx = PacketSocket.open(nsA, 'a', indexA, ETH_P_LOCAL);
    const tx = PacketSocket.open(nsB, 'b', indexB, ETH_P_LOCAL);
    try {
      const big = Buffer.alloc(4000, 0xab);
      const small = Buffer.alloc(64, 0xcd);
      // the addon's own view: the frame's real length, flagged, and no data
      tx.send(indexB, ETH_P_LOCAL, macA, big);
      const raw = nextFrame(rx.fd);
      expect(raw).toMatchObject({ truncated: true, length: 4000, protocol: ETH_P_LOCAL, ifindex: indexA });
      expect(raw?.data.length).toBe(0);
      // PacketSocket.recv skips it and counts it; the next whole frame comes through
      tx.send(indexB, ETH_P_LOCAL, macA, big);
      tx.send(indexB, ETH_P_LOCAL, macA, small);
      let got: ReturnType<PacketSocket['recv']>;
      for (let i = 0; i < 50 && !got; i++) {
        got = rx.recv();
        if (!got) await waitReadable([rx], 100);
      }
      expect(got?.data).toEqual(small);
      expect(rx.truncated).toBe(1);
    } finally {
      rx.close();
      tx.close();
      for (const [n, dev] of [
        [a.name, 'va'],
        [b.name, 'vb'],
      ] as const)
        ip('-n', n, 'link', 'set', dev, 'mtu', '1500');
    }
  });

  it('treat a frame the interface queue dropped (ENOBUFS) as lost: send returns false instead of throwing', () => {
    const s = PacketSocket.open(nsA, 'a', indexA, ETH_P_ARP);
    ip('-n', a.name, 'link', 'set', 'va', 'txqueuelen', '1000');
    execFileSync('tc', ['-n', a.name, 'qdisc', 'add', 'dev', 'va', 'root', 'pfifo', 'limit', '0']);
    try {
      expect(s.send(indexA, ETH_P_ARP, BROADCAST, arp.probe(macA, '10.6.0.99'))).toBe(false);
    } finally {
      execFileSync('tc', ['-n', a.name, 'qdisc', 'del', 'dev', 'va', 'root']);
      s.close();
    }
    const t = PacketSocket.open(nsA, 'a', indexA, ETH_P_ARP);
    try {
      expect(t.send(indexA, ETH_P_ARP, BROADCAST, arp.probe(macA, '10.6.0.99'))).toBe(true);
    } finally {
      t.close();
    }
  });
});

describe('netlink dumps flagged as interrupted (NLM_F_DUMP_INTR)', () => {
  let shim = '';
  beforeAll(() => {
    shim = join(tmp, 'dump-intr-preload.so');
    execFileSync('cc', [
      '-Wall',
      '-shared',
      '-fPIC',
      '-o',
      shim,
      join(import.meta.dirname, 'fixtures', 'dump-intr-preload.c'),
      '-ldl',
    ]);
  });

  /** One RTM_GETLINK dump in a child process whose first `interrupted` dumps are flagged. */
  function dumpWithShim(interrupted: number): { result: unknown; dumps: number } {
    const script = `
      const n = require(${JSON.stringify(join(import.meta.dirname, '../../src/native/index.cjs'))});
      const fd = n.nlOpen(0, -1);
      const m = Buffer.alloc(32);
      m.writeUInt32LE(32, 0); m.writeUInt16LE(${RTM_GETLINK}, 4); m.writeUInt16LE(0x1 | 0x4 | 0x300, 6);
      let out;
      try {
        const buf = n.nlRequest(fd, m, 7);
        const flags = [];
        for (let off = 0; off + 16 <= buf.length; off += (buf.readUInt32LE(off) + 3) & ~3) flags.push(buf.readUInt16LE(off + 6));
        out = { messages: flags.length, flagged: flags.filter((f) => f & ${NLM_F_DUMP_INTR}).length, retries: n.nlDumpRetries?.() };
      } catch (e) {
        out = { code: e.code, message: e.message, retries: n.nlDumpRetries?.() };
      }
      process.stdout.write(JSON.stringify(out));`;
    const r = spawnSync(process.execPath, ['-e', script], {
      env: { ...process.env, LD_PRELOAD: shim, MF_FAKE_INTR_DUMPS: String(interrupted) },
      encoding: 'utf8',
    });
    expect(r.status, r.stderr).toBe(0);
    return { result: JSON.parse(r.stdout), dumps: Number(/dumps=(\d+)/.exec(r.stderr)?.[1]) };
  }

  it('are run again until one is whole', () => {
    expect(dumpWithShim(2)).toEqual({ result: { messages: 1, flagged: 0, retries: 2 }, dumps: 3 });
    expect(dumpWithShim(0)).toEqual({ result: { messages: 1, flagged: 0, retries: 0 }, dumps: 1 });
  });

  it('fail with EINTR naming the dump after 5 retries', () => {
    expect(dumpWithShim(1000)).toEqual({
      result: {
        code: 'EINTR',
        message:
          'netlink dump (message type 18) still inconsistent after 6 attempts: Interrupted system call',
        retries: 5,
      },
      dumps: 6,
    });
  });

  it('never return an inconsistent address dump while addresses change on the real kernel', async () => {
    const c = newNetns('mfhc');
    ip('-n', c.name, 'link', 'add', 'd0', 'type', 'veth', 'peer', 'name', 'd1');
    ip('-n', c.name, 'link', 'set', 'd0', 'up');
    const stable: string[] = [];
    for (let i = 0; i < 4; i++) for (let j = 1; j <= 250; j++) stable.push(`10.${100 + i}.${j}.1`);
    const batch = join(tmp, 'stable');
    writeFileSync(batch, stable.map((s) => `addr add ${s}/32 dev d0\n`).join(''));
    ip('-n', c.name, '-b', batch);
    // the churn: one address added and deleted, over and over, by other processes
    const churn = `ip -n ${c.name} addr add 10.99.0.1/32 dev d0; ip -n ${c.name} addr del 10.99.0.1/32 dev d0`;
    const churner: ChildProcess = spawn('sh', ['-c', `while [ -e ${c.path} ]; do ${churn}; done`], {
      stdio: 'ignore',
      detached: true,
    });
    const ns = NetNS.open(c.path);
    const h = Rtnl.open(ns);
    const fd = native.nlOpen(0, ns.fd);
    try {
      const before = retries();
      let dumps = 0;
      let gaveUp = 0;
      const bad: string[] = [];
      // until the kernel has interrupted a few dumps (bounded)
      for (let seq = 1; seq <= 30000 && retries() - before < 3; seq++) {
        let buf: Buffer;
        try {
          buf = native.nlRequest(fd, nlmsg(RTM_GETADDR, 0x300, Buffer.from([2, 0, 0, 0, 0, 0, 0, 0])), seq);
        } catch (err) {
          // six interrupted attempts in a row: allowed, but never an inconsistent result
          expect(err).toMatchObject({
            code: 'EINTR',
            message: /^netlink dump \(message type 22\) still inconsistent/,
          });
          gaveUp++;
          continue;
        }
        dumps++;
        if (messages(buf).some((m) => m.flags & NLM_F_DUMP_INTR))
          bad.push(`dump ${dumps}: flagged NLM_F_DUMP_INTR`);
        const got = ipv4Addresses(buf).filter((x) => x !== '10.99.0.1' && x !== '127.0.0.1');
        if (got.length !== stable.length || new Set(got).size !== stable.length)
          bad.push(`dump ${dumps}: ${got.length} stable addresses, ${new Set(got).size} distinct`);
        if (bad.length > 5) break;
      }
      expect(bad).toEqual([]);
      expect(dumps).toBeGreaterThan(gaveUp);
      expect(retries() - before).toBeGreaterThan(0);
    } finally {
      if (churner.pid) process.kill(-churner.pid, 'SIGKILL');
      native.nlClose(fd);
      h.close();
      ns.close();
    }
  });
});

describe('netlink replies', () => {
  it('are taken only from the kernel: a forged error from another socket with the same sequence number is ignored', () => {
    const fd = native.nlOpen(0, -1);
    try {
      const inode = /socket:\[(\d+)\]/.exec(readlinkSync(`/proc/self/fd/${fd}`))?.[1];
      const row = readFileSync('/proc/net/netlink', 'utf8')
        .split('\n')
        .map((l) => l.trim().split(/\s+/))
        .find((f) => f[f.length - 1] === inode);
      const portid = Number(row?.[2]);
      expect(portid).toBeGreaterThan(0);
      // NLMSG_ERROR, seq 42, error -EPERM, from a socket of another process
      execFileSync('python3', [
        '-c',
        `import socket, struct
s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0)
s.bind((0, 0))
body = struct.pack('=i', -1) + struct.pack('=IHHII', 16, 18, 0x301, 42, 0)
s.sendto(struct.pack('=IHHII', 16 + len(body), 2, 0, 42, ${portid}) + body, (${portid}, 0))`,
      ]);
      const reply = native.nlRequest(fd, nlmsg(RTM_GETLINK, 0x300, Buffer.alloc(16)), 42);
      expect(messages(reply).length).toBeGreaterThan(0);
    } finally {
      native.nlClose(fd);
    }
  });

  it('nlClose of a closed fd throws EBADF', () => {
    const fd = native.nlOpen(0, -1);
    native.nlClose(fd);
    expect(() => native.nlClose(fd)).toThrow(expect.objectContaining({ code: 'EBADF' }));
  });
});
