/**
 * Packet sockets (AF_PACKET, SOCK_DGRAM) on one interface of a namespace, for ARP and NDP:
 * opened inside the namespace through NetNS.run (the socket stays bound to it), frames sent
 * to a link-layer address, received without blocking, and a bounded wait over several
 * sockets at once. The native addon does the system calls; nothing here spawns a tool.
 */
import { closeSync } from 'node:fs';
import { packetOpen, packetRecv, packetSend, packetWait } from '../native/index.cjs';
import { kernelFailure, toKernelError } from './errors.ts';
import type { NetNS } from './netns.ts';
import { formatMac, parseMac } from './nl/attrs.ts';

export const ETH_P_ARP = 0x0806;
export const ETH_P_IPV6 = 0x86dd;
export const BROADCAST = 'ff:ff:ff:ff:ff:ff';
/** PACKET_* types of a received frame. */
export const PACKET = { HOST: 0, BROADCAST: 1, MULTICAST: 2, OTHERHOST: 3 } as const;

export interface Frame {
  /** From the ARP or IPv6 header on (the link-layer header is stripped). */
  readonly data: Buffer;
  /** The sender's link-layer address. */
  readonly from: string;
  readonly type: number;
}

export class PacketSocket {
  readonly fd: number;
  readonly ifindex: number;
  readonly protocol: number;
  /** For messages: `interface "net1"`. */
  readonly where: string;
  #closed = false;

  private constructor(fd: number, ifindex: number, protocol: number, where: string) {
    this.fd = fd;
    this.ifindex = ifindex;
    this.protocol = protocol;
    this.where = where;
  }

  /** A socket on interface `ifindex` of `ns` for ethertype `protocol`. */
  static open(ns: NetNS, ifindex: number, protocol: number, where: string): PacketSocket {
    try {
      return new PacketSocket(
        ns.run(() => packetOpen(ifindex, protocol)),
        ifindex,
        protocol,
        where,
      );
    } catch (err) {
      throw kernelFailure(`open a packet socket on ${where}`, err);
    }
  }

  send(dst: string, payload: Buffer): void {
    try {
      packetSend(this.fd, this.ifindex, this.protocol, parseMac(dst), payload);
    } catch (err) {
      throw kernelFailure(`send on ${this.where}`, err);
    }
  }

  /** The next queued frame, or undefined. */
  recv(): Frame | undefined {
    let f: ReturnType<typeof packetRecv>;
    try {
      f = packetRecv(this.fd);
    } catch (err) {
      throw kernelFailure(`receive on ${this.where}`, err);
    }
    return f ? { data: f.data, from: formatMac(f.from) ?? '', type: f.type } : undefined;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    closeSync(this.fd);
  }
}

/**
 * Blocks the calling thread for at most `timeoutMs` until one of `sockets` has a frame: that
 * socket, or undefined when the time ran out. (A CNI call has nothing else to do meanwhile.)
 */
export function waitReadable(sockets: readonly PacketSocket[], timeoutMs: number): PacketSocket | undefined {
  if (sockets.length === 0) return undefined;
  let i: number;
  try {
    i = packetWait(
      sockets.map((s) => s.fd),
      Math.max(0, Math.ceil(timeoutMs)),
    );
  } catch (err) {
    throw toKernelError(err);
  }
  return i >= 0 ? sockets[i] : undefined;
}
