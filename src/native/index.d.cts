/** Moves the calling thread into the namespace open at `fd` (nstype: CLONE_NEW* or 0). */
export declare function setns(fd: number, nstype: number): void;
/** flock(2) on `fd` (LOCK_SH=1, LOCK_EX=2, LOCK_NB=4, LOCK_UN=8); false when LOCK_NB finds it held. */
export declare function flock(fd: number, op: number): boolean;
/**
 * A blocking flock(2) on this thread (op: LOCK_EX=2 or LOCK_SH=1) that gives up after
 * `timeoutMs`: true when taken, false at the deadline. Blocks the event loop while it waits.
 */
export declare function flockWait(fd: number, op: number, timeoutMs: number): boolean;
/** A netlink socket (SOCK_CLOEXEC) of `protocol`, made inside the namespace open at `nsfd` (< 0: here). */
export declare function nlOpen(protocol: number, nsfd: number): number;
/**
 * Sends `msg` (a whole netlink message; its nlmsg_seq is set to `seq`) and returns the reply
 * messages of that sequence number, headers included, up to the ACK, the error or NLMSG_DONE
 * (left out). A kernel error is thrown with its errno name as `code`.
 */
export declare function nlRequest(fd: number, msg: Buffer, seq: number): Buffer;
export declare function nlClose(fd: number): void;
/** _exit(code) when the addon is already loaded (never returns then); otherwise nothing. */
export declare function exitNowIfLoaded(code: number): void;
