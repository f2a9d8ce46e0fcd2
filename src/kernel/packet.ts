/**
 * Packet sockets (AF_PACKET, SOCK_DGRAM) in a namespace, for ARP and NDP: opened inside the
 * namespace through NetNS.run (the socket stays bound to it), frames sent out of a given
 * interface to a link-layer address, received without blocking with the interface and
 * ethertype they came with, and a bounded wait on the event loop (the addon watches the
 * sockets with libuv; no thread is blocked, so a probe's budget stalls no other call). Closing one costs the kernel an RCU grace
 * period (~10 ms), so one socket on every interface and ethertype serves a whole call.
 * A frame longer than the addon's receive buffer (2048 bytes: every ARP and NDP message we
 * read fits) is skipped and counted, never parsed cut; a frame the interface queue drops is
 * reported by send() as false, like a frame lost on the wire.
 */
import { closeSync } from 'node:fs';
import { packetOpen, packetRecv, packetSend, packetWaitAsync } from '../native/index.cjs';
import { kernelFailure, toKernelError } from './errors.ts';
import type { NetNS } from './netns.ts';
import { formatMac, parseMac } from './nl/attrs.ts';

export const ETH_P_ALL = 0x0003;
export const ETH_P_ARP = 0x0806;
export const ETH_P_IPV6 = 0x86dd;
export const BROADCAST = 'ff:ff:ff:ff:ff:ff';

export interface Frame {
  /** From the ARP or IPv6 header on (the link-layer header is stripped). */
  readonly data: Buffer;
  /** The sender's link-layer address. */
  readonly from: string;
  /** PACKET_HOST, PACKET_BROADCAST, PACKET_MULTICAST… */
  readonly type: number;
  readonly ifindex: number;
  readonly protocol: number;
}

export class PacketSocket {
  readonly fd: number;
  /** For messages: `netns "/run/netns/p1"`. */
  readonly where: string;
  /** Frames skipped because they were longer than the receive buffer (jumbo frames, GRO). */
  truncated = 0;
  #closed = false;
  /** In a waitReadable: libuv watches the fd, so it is neither closed nor watched twice meanwhile. */
  #waiting = false;
  #closeAfterWait = false;

  private constructor(fd: number, where: string) {
    this.fd = fd;
    this.where = where;
  }

  /** A socket in `ns` on interface `ifindex` (0: every interface) for `protocol` (default: every ethertype). */
  static open(ns: NetNS, where: string, ifindex = 0, protocol = ETH_P_ALL): PacketSocket {
    try {
      return new PacketSocket(
        ns.run(() => packetOpen(ifindex, protocol)),
        where,
      );
    } catch (err) {
      throw kernelFailure(`open a packet socket in ${where}`, err);
    }
  }

  /**
   * Sends `payload` (from the ARP/IPv6 header on) out of `ifindex` to `dst`: false when the
   * frame was dropped before the wire (the interface queue or the socket buffer was full).
   */
  send(
    ifindex: number,
    protocol: number,
    dst: string,
    payload: Buffer,
    link = `interface ${ifindex}`,
  ): boolean {
    try {
      return packetSend(this.fd, ifindex, protocol, parseMac(dst), payload);
    } catch (err) {
      throw kernelFailure(`send on ${link} in ${this.where}`, err);
    }
  }

  /** The next queued whole frame, or undefined. */
  recv(): Frame | undefined {
    for (;;) {
      let f: ReturnType<typeof packetRecv>;
      try {
        f = packetRecv(this.fd);
      } catch (err) {
        throw kernelFailure(`receive in ${this.where}`, err);
      }
      if (!f) return undefined;
      if (f.truncated) {
        this.truncated++;
        continue;
      }
      return {
        data: f.data,
        from: formatMac(f.from) ?? '',
        type: f.type,
        ifindex: f.ifindex,
        protocol: f.protocol,
      };
    }
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#waiting) this.#closeAfterWait = true;
    else closeSync(this.fd);
  }

  /** For waitReadable only: marks the socket watched until `done` runs. */
  static watch(sockets: readonly PacketSocket[]): () => void {
    for (const s of sockets) {
      if (s.#waiting) throw new Error(`packet socket in ${s.where} is already being waited on`);
    }
    for (const s of sockets) s.#waiting = true;
    return () => {
      for (const s of sockets) {
        s.#waiting = false;
        if (s.#closeAfterWait) {
          s.#closeAfterWait = false;
          closeSync(s.fd);
        }
      }
    };
  }
}

/**
 * Waits at most `timeoutMs` until one of `sockets` has a frame: that socket, or undefined when
 * the time ran out. The event loop runs meanwhile (the wait is libuv's, not this thread's);
 * what is readable already settles it at once. A socket is waited on by one wait at a time.
 */
export async function waitReadable(
  sockets: readonly PacketSocket[],
  timeoutMs: number,
): Promise<PacketSocket | undefined> {
  if (sockets.length === 0) return undefined;
  const unique = [...new Set(sockets)];
  const done = PacketSocket.watch(unique);
  let i: number;
  try {
    i = await packetWaitAsync(
      unique.map((s) => s.fd),
      Math.max(0, Math.ceil(timeoutMs)),
    );
  } catch (err) {
    throw toKernelError(err);
  } finally {
    done();
  }
  return i >= 0 ? unique[i] : undefined;
}
