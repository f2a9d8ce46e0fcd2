/**
 * An rtnetlink socket bound to one network namespace. The netlink package gives us the
 * socket, sequence numbers, multipart reassembly and ACK handling; message bodies are
 * encoded here (nl/). Interrupted dumps and EINTR are retried here, once for everyone.
 */
import type { NetlinkSocket } from 'netlink/dist/netlink.js';
import { KernelError, toKernelError } from './errors.ts';
import { createNetlink } from './netlink.cjs';
import type { NetNS } from './netns.ts';
import { NLM_F } from './nl/constants.ts';

const NETLINK_ROUTE = 0;
const RETRIES = 5;

export interface RawMessage {
  readonly type: number;
  readonly flags: number;
  readonly data: Buffer;
}

export class Rtnl {
  readonly ns: NetNS | undefined;
  readonly #sock: NetlinkSocket;
  /** Requests go one at a time: the netlink package reassembles one multipart reply per socket. */
  #queue: Promise<unknown> = Promise.resolve();

  private constructor(sock: NetlinkSocket, ns: NetNS | undefined) {
    this.#sock = sock;
    this.ns = ns;
  }

  /** A socket in `ns`, or in the calling thread's namespace (the host) when omitted. */
  static open(ns?: NetNS): Rtnl {
    const make = () => createNetlink(NETLINK_ROUTE);
    return new Rtnl(ns ? ns.run(make) : make(), ns);
  }

  /** One request that the kernel answers with an ACK (or an error). */
  request(type: number, body: Buffer, flags = 0): Promise<RawMessage[]> {
    const run = this.#queue.then(() => this.#send(type, body, flags));
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async #send(type: number, body: Buffer, flags: number): Promise<RawMessage[]> {
    for (let attempt = 0; ; attempt++) {
      try {
        const [msgs] = await this.#sock.request(type, body, { flags });
        return msgs as RawMessage[];
      } catch (err) {
        const k = toKernelError(err);
        if (k instanceof KernelError && k.errno === 'EINTR' && attempt < RETRIES) continue;
        throw k;
      }
    }
  }

  /** A dump; restarted when the kernel flags it as interrupted (NLM_F_DUMP_INTR). */
  async dump(type: number, body: Buffer): Promise<RawMessage[]> {
    for (let attempt = 0; ; attempt++) {
      const msgs = await this.request(type, body, NLM_F.DUMP);
      if (!msgs.some((m) => m.flags & NLM_F.DUMP_INTR) || attempt >= RETRIES) return msgs;
    }
  }

  close(): void {
    this.#sock.close();
  }
}

let host: Rtnl | undefined;

/** One socket in the host namespace for the whole process (opened on first use). */
export function hostRtnl(): Rtnl {
  host ??= Rtnl.open();
  return host;
}
