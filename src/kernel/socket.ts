/**
 * An rtnetlink socket bound to one network namespace: manifold's own addon (src/native
 * nlsock.c) makes it inside the namespace and answers each request synchronously (send, then
 * the replies of its sequence number up to the ACK, the error or the end of the dump: a CNI
 * call does one request at a time, so there is no event-loop round trip and no reassembly in
 * JavaScript). Message bodies are encoded here (nl/). Dumps the kernel flags as interrupted
 * (NLM_F_DUMP_INTR) are run again in C, a bounded number of times (then EINTR), as is a
 * system call interrupted by a signal.
 */
import { CniError, Code, q } from '../cni/errors.ts';
import { nlClose, nlOpen, nlRequest } from '../native/index.cjs';
import { callValue, type Slot } from '../util/call.ts';
import { KernelError, toKernelError } from './errors.ts';
import type { NetNS } from './netns.ts';
import { NLM_F } from './nl/constants.ts';

const NETLINK_ROUTE = 0;
const NLMSG_HDRLEN = 16;

export interface RawMessage {
  readonly type: number;
  readonly flags: number;
  readonly data: Buffer;
}

/** The messages of a reply buffer (headers included, each padded to 4 bytes). */
export function splitMessages(buf: Buffer): RawMessage[] {
  const out: RawMessage[] = [];
  let off = 0;
  while (off + NLMSG_HDRLEN <= buf.length) {
    const len = buf.readUInt32LE(off);
    if (len < NLMSG_HDRLEN || off + len > buf.length) break;
    out.push({
      type: buf.readUInt16LE(off + 4),
      flags: buf.readUInt16LE(off + 6),
      data: buf.subarray(off + NLMSG_HDRLEN, off + len),
    });
    off += (len + 3) & ~3;
  }
  return out;
}

/** One kernel socket: its fd and its sequence numbers (shared by the Rtnl handles on it). */
interface Conn {
  readonly fd: number;
  seq: number;
}

/**
 * The call's socket of each pod namespace, by its dev:inode (src/util/call.ts): every
 * Rtnl.open of a namespace within one call gets the same kernel socket (closing a handle
 * leaves it open), closed when the call ends. A call that opens the pod's namespace once per
 * delegate and per step then makes its socket once (setns there and back, socket, bind,
 * options); two calls running at once never share one. Outside a call each handle is its own.
 */
const SOCKETS: Slot<Map<string, Conn>> = {
  name: 'netlink sockets',
  release: (conns) => {
    for (const c of conns.values()) nlClose(c.fd);
  },
};

function connect(ns: NetNS | undefined): Conn {
  try {
    return { fd: nlOpen(NETLINK_ROUTE, ns ? ns.fd : -1), seq: 1 };
  } catch (err) {
    const msg = (err as Error).message;
    if (ns && msg.startsWith('setns')) {
      throw new CniError(Code.InvalidNetNS, `failed to enter netns ${q(ns.path)}: ${msg}`);
    }
    throw toKernelError(err);
  }
}

export class Rtnl {
  readonly ns: NetNS | undefined;
  readonly #conn: Conn;
  readonly #shared: boolean;
  #closed = false;

  private constructor(conn: Conn, ns: NetNS | undefined, shared: boolean) {
    this.#conn = conn;
    this.ns = ns;
    this.#shared = shared;
  }

  /** A socket in `ns`, or in the calling thread's namespace (the host) when omitted. */
  static open(ns?: NetNS): Rtnl {
    const sharing = ns && callValue(SOCKETS, () => new Map());
    if (!ns || !sharing) return new Rtnl(connect(ns), ns, false);
    const key = `${ns.dev}:${ns.ino}`;
    let conn = sharing.get(key);
    if (!conn) {
      conn = connect(ns);
      sharing.set(key, conn);
    }
    return new Rtnl(conn, ns, true);
  }

  /** One request that the kernel answers with an ACK (or an error); the replies before it. */
  async request(type: number, body: Buffer, flags = 0): Promise<RawMessage[]> {
    if (this.#closed) throw new Error('netlink socket used after close');
    const msg = Buffer.allocUnsafe(NLMSG_HDRLEN + body.length);
    msg.writeUInt32LE(msg.length, 0);
    msg.writeUInt16LE(type, 4);
    msg.writeUInt16LE(flags | NLM_F.REQUEST | NLM_F.ACK, 6);
    msg.writeUInt32LE(0, 8); // seq: set by nlRequest
    msg.writeUInt32LE(0, 12); // port: the kernel knows the socket
    body.copy(msg, NLMSG_HDRLEN);
    const c = this.#conn;
    const seq = c.seq;
    c.seq = (c.seq % 0xffffffff) + 1;
    try {
      return splitMessages(nlRequest(c.fd, msg, seq));
    } catch (err) {
      throw toKernelError(err);
    }
  }

  /**
   * A dump; never one the kernel flagged as interrupted (NLM_F_DUMP_INTR): nlRequest runs it
   * again, and gives up with EINTR when the table keeps changing.
   */
  async dump(type: number, body: Buffer): Promise<RawMessage[]> {
    try {
      return await this.request(type, body, NLM_F.DUMP);
    } catch (err) {
      // signals are retried in C: EINTR here is the dump that never came out whole
      if (err instanceof KernelError && err.errno === 'EINTR') {
        throw new KernelError('EINTR', `${err.message} (the kernel's table kept changing during 6 dumps)`);
      }
      throw err;
    }
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (!this.#shared) nlClose(this.#conn.fd);
  }
}

let host: Rtnl | undefined;

/**
 * One socket in the host namespace for the whole process (opened on first use), shared by
 * every call: each request is sent and answered synchronously (nlRequest), so calls running
 * at once cannot interleave on it.
 */
export function hostRtnl(): Rtnl {
  host ??= Rtnl.open();
  return host;
}
