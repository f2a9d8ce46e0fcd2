/**
 * An rtnetlink socket bound to one network namespace: manifold's own addon (src/native
 * nlsock.c) makes it inside the namespace and answers each request in C (send, then the
 * replies of its sequence number up to the ACK, the error or the end of the dump: no
 * reassembly in JavaScript): synchronously, or on a libuv worker thread for the requests the
 * kernel keeps waiting (waitsForRcu), one at a time per socket. Message bodies are encoded here (nl/). Dumps the kernel flags as interrupted
 * (NLM_F_DUMP_INTR) are run again in C, a bounded number of times (then EINTR), as is a
 * system call interrupted by a signal.
 */
import { CniError, Code, q } from '../cni/errors.ts';
import { nlClose, nlOpen, nlRequest, nlRequestAsync } from '../native/index.cjs';
import { callValue, type Slot } from '../util/call.ts';
import { KernelError, toKernelError } from './errors.ts';
import type { NetNS } from './netns.ts';
import { IFLA, NLM_F, RTM } from './nl/constants.ts';
import { IFINFOMSG_LEN } from './nl/messages.ts';

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

/**
 * One kernel socket: its fd, its sequence numbers (shared by the Rtnl handles on it), and its
 * queue. A request either runs synchronously (nlRequest: two system calls, no event-loop
 * round trip) or, when the kernel may keep it waiting, on a libuv worker thread
 * (nlRequestAsync), so that the event loop serves other calls meanwhile. Never two at once on
 * one socket (their replies would interleave): while any request on it is in flight, the next
 * ones queue behind it in order (`tail`), and so does its close.
 */
interface Conn {
  readonly fd: number;
  seq: number;
  /** Requests queued or in flight on a worker thread. */
  queued: number;
  /** Settles when the last queued request has (never rejects). */
  tail: Promise<void>;
  /** Closed by its owner while requests were queued: closed when the last one settles. */
  closeWhenIdle: boolean;
}

/**
 * Whether the kernel answers `msg` only after an RCU grace period spent inside the sendmsg
 * itself: a link deleted (RTM_DELLINK, a link group too), or moved to another namespace (a
 * link change carrying IFLA_NET_NS_FD or _PID: dev_change_net_namespace). Measured here
 * (test/bench-netlink.ts, medians of 60, 2 loaded cores): 15-19 ms each. Those run on a
 * worker thread: the hop costs 10-60 µs, noise beside the wait. Everything else (a dump, a
 * get, an address, a route, a link created, in another namespace too, set up or down) is
 * answered in 20 µs-0.9 ms: synchronous, it costs one-shot nothing and holds the loop no
 * longer than the kernel holds its RTNL lock.
 */
function waitsForRcu(msg: Buffer): boolean {
  const type = msg.readUInt16LE(4);
  if (type === RTM.DELLINK) return true;
  if (type !== RTM.NEWLINK && type !== RTM.SETLINK) return false;
  if (msg.readUInt16LE(6) & NLM_F.CREATE) return false; // made in its namespace, not moved
  for (let off = NLMSG_HDRLEN + IFINFOMSG_LEN; off + 4 <= msg.length; ) {
    const len = msg.readUInt16LE(off);
    const attr = msg.readUInt16LE(off + 2) & 0x3fff;
    if (attr === IFLA.NET_NS_FD || attr === IFLA.NET_NS_PID) return true;
    if (len < 4) return false;
    off += (len + 3) & ~3;
  }
  return false;
}

function closeConn(c: Conn): void {
  if (c.queued > 0) c.closeWhenIdle = true;
  else nlClose(c.fd);
}

/** One exchange on `c`: synchronous when nothing is queued on it and the kernel answers at once. */
function exchange(c: Conn, msg: Buffer, seq: number, slow: boolean): Buffer | Promise<Buffer> {
  if (!slow && c.queued === 0) return nlRequest(c.fd, msg, seq);
  c.queued++;
  const mine = c.tail.then(() => nlRequestAsync(c.fd, msg, seq));
  const settled = () => {
    c.queued--;
    if (c.queued === 0 && c.closeWhenIdle) {
      c.closeWhenIdle = false;
      nlClose(c.fd);
    }
  };
  c.tail = mine.then(settled, settled);
  return mine;
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
    for (const c of conns.values()) closeConn(c);
  },
};

function connect(ns: NetNS | undefined): Conn {
  try {
    return {
      fd: nlOpen(NETLINK_ROUTE, ns ? ns.fd : -1),
      seq: 1,
      queued: 0,
      tail: Promise.resolve(),
      closeWhenIdle: false,
    };
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
      return splitMessages(await exchange(c, msg, seq, waitsForRcu(msg)));
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
    if (!this.#shared) closeConn(this.#conn);
  }
}

let host: Rtnl | undefined;

/**
 * One socket in the host namespace for the whole process (opened on first use), shared by
 * every call: its requests queue behind the one in flight (exchange), so calls running at
 * once never interleave on it.
 */
export function hostRtnl(): Rtnl {
  host ??= Rtnl.open();
  return host;
}
