/** Moves the calling thread into the namespace open at `fd` (nstype: CLONE_NEW* or 0). */
export declare function setns(fd: number, nstype: number): void;
/** flock(2) on `fd` (LOCK_SH=1, LOCK_EX=2, LOCK_NB=4, LOCK_UN=8); false when LOCK_NB finds it held. */
export declare function flock(fd: number, op: number): boolean;
/** An AF_PACKET SOCK_DGRAM socket bound to `ifindex` (0: all) and ethertype `protocol` (3: all), non-blocking, own frames ignored. */
export declare function packetOpen(ifindex: number, protocol: number): number;
/** Sends `payload` (from the ARP/IPv6 header on) to link-layer address `dst`. */
export declare function packetSend(
  fd: number,
  ifindex: number,
  protocol: number,
  dst: Buffer,
  payload: Buffer,
): void;
/** One received frame (payload, sender's link-layer address, PACKET_* type, interface, ethertype), or null when none is queued. */
export declare function packetRecv(
  fd: number,
): { data: Buffer; from: Buffer; type: number; ifindex: number; protocol: number } | null;
/** Waits up to `timeoutMs` for one of `fds` to be readable: its index, or -1. */
export declare function packetWait(fds: readonly number[], timeoutMs: number): number;
