import type { NetlinkSocket, NetlinkSocketOptions } from 'netlink/dist/netlink.js';
import type { RawNetlinkSocketOptions } from 'netlink/dist/raw.js';

export declare function createNetlink(
  protocol: number,
  options?: NetlinkSocketOptions & RawNetlinkSocketOptions,
): NetlinkSocket;
