/** Moves the calling thread into the namespace open at `fd` (nstype: CLONE_NEW* or 0). */
export declare function setns(fd: number, nstype: number): void;
/** flock(2) on `fd` (LOCK_SH=1, LOCK_EX=2, LOCK_NB=4, LOCK_UN=8); false when LOCK_NB finds it held. */
export declare function flock(fd: number, op: number): boolean;
/** An AF_PACKET SOCK_DGRAM socket bound to `ifindex` (0: all) and ethertype `protocol` (3: all), non-blocking, own frames ignored. */
export declare function packetOpen(ifindex: number, protocol: number): number;
/**
 * Sends `payload` (from the ARP/IPv6 header on) to link-layer address `dst`: false when the
 * frame was dropped before the wire (ENOBUFS: interface queue full; EAGAIN: send buffer full).
 */
export declare function packetSend(
  fd: number,
  ifindex: number,
  protocol: number,
  dst: Buffer,
  payload: Buffer,
): boolean;
/**
 * One received frame (payload, sender's link-layer address, PACKET_* type, interface,
 * ethertype, real length), or null when none is queued. A frame longer than the receive
 * buffer (2048 bytes) has `truncated: true` and an empty `data`.
 */
export declare function packetRecv(fd: number): {
  data: Buffer;
  from: Buffer;
  type: number;
  ifindex: number;
  protocol: number;
  length: number;
  truncated: boolean;
} | null;
/**
 * Waits up to `timeoutMs` for one of `fds` to be readable: its index, or -1. A closed fd
 * (EBADF) or a socket error (SO_ERROR, e.g. ENETDOWN) is thrown.
 */
export declare function packetWait(fds: readonly number[], timeoutMs: number): number;
/**
 * packetWait without blocking: the sockets are watched on the event loop (uv_poll, no
 * thread). Same answer (the index, or -1 at the deadline) and same errors, as a rejection.
 * None of `fds` may be closed or waited on elsewhere until it settles.
 */
export declare function packetWaitAsync(fds: readonly number[], timeoutMs: number): Promise<number>;
/**
 * A blocking flock(2) on this thread (op: LOCK_EX=2 or LOCK_SH=1) that gives up after
 * `timeoutMs`: true when taken, false at the deadline. Blocks the event loop while it waits.
 */
export declare function flockWait(fd: number, op: number, timeoutMs: number): boolean;
/** flockWait on a libuv worker thread: the event loop runs while the lock is waited for. */
export declare function flockWaitAsync(fd: number, op: number, timeoutMs: number): Promise<boolean>;
/** A netlink socket (SOCK_CLOEXEC) of `protocol`, made inside the namespace open at `nsfd` (< 0: here). */
export declare function nlOpen(protocol: number, nsfd: number): number;
/**
 * Sends `msg` (a whole netlink message; its nlmsg_seq is set to `seq`) and returns the reply
 * messages of that sequence number, headers included, up to the ACK, the error or NLMSG_DONE
 * (left out). A kernel error is thrown with its errno name as `code`. Replies not sent by the
 * kernel are ignored. A dump flagged NLM_F_DUMP_INTR (the table changed while it was read) is
 * run again, up to 5 more times, then thrown as EINTR; what is returned is never flagged.
 */
export declare function nlRequest(fd: number, msg: Buffer, seq: number): Buffer;
/**
 * nlRequest with the send and the replies on a libuv worker thread (the socket keeps its
 * namespace): the same Buffer or the same error, as a promise. One request at a time per
 * socket: `fd` must not be used or closed until it settles.
 */
export declare function nlRequestAsync(fd: number, msg: Buffer, seq: number): Promise<Buffer>;
/** close(2) of a netlink socket; EBADF (a double close) is thrown. */
export declare function nlClose(fd: number): void;
/** How many times this process has run a dump again because the kernel flagged it interrupted. */
export declare function nlDumpRetries(): number;
/** _exit(code) when the addon is already loaded (never returns then); otherwise nothing. */
export declare function exitNowIfLoaded(code: number): void;
