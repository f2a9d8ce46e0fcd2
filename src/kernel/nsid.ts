/**
 * Peer namespace ids (RTM_GETNSID/RTM_NEWNSID): the number by which one namespace names
 * another in netlink. A link created with IFLA_LINK_NETNSID is made in that other namespace
 * and moved to its target in the same request, so a tunnel created for a pod gets the
 * host's namespace as its link netns (encapsulation in the host) without a second request.
 */
import { isErrno, kernelFailure } from './errors.ts';
import type { NetNS } from './netns.ts';
import { decodeAttrs, encodeAttrs, readS32, s32, u32 } from './nl/attrs.ts';
import { AF_UNSPEC, NETNSA, NSID_NOT_ASSIGNED, RTM_NSID } from './nl/constants.ts';
import type { Rtnl } from './socket.ts';

/** struct rtgenmsg, padded to 4 bytes as the kernel parses it. */
function rtgenmsg(): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt8(AF_UNSPEC, 0);
  return b;
}

/** The id `h`'s namespace has for `peer`, or undefined when it has none yet. */
export async function peerId(h: Rtnl, peer: NetNS): Promise<number | undefined> {
  let msgs: Awaited<ReturnType<Rtnl['request']>>;
  try {
    msgs = await h.request(
      RTM_NSID.GET,
      Buffer.concat([rtgenmsg(), encodeAttrs([[NETNSA.FD, u32(peer.fd)]])]),
    );
  } catch (err) {
    throw kernelFailure(`look up the namespace id of ${peer.path}`, err);
  }
  for (const m of msgs) {
    if (m.type !== RTM_NSID.NEW) continue;
    const id = readS32(decodeAttrs(m.data.subarray(4)).get(NETNSA.NSID));
    if (id !== undefined && id >= 0) return id;
  }
  return undefined;
}

/** The id `h`'s namespace has for `peer`, allocated when there is none (as the kernel does for link-netnsid). */
export async function ensurePeerId(h: Rtnl, peer: NetNS): Promise<number> {
  const have = await peerId(h, peer);
  if (have !== undefined) return have;
  const body = Buffer.concat([
    rtgenmsg(),
    encodeAttrs([
      [NETNSA.NSID, s32(NSID_NOT_ASSIGNED)],
      [NETNSA.FD, u32(peer.fd)],
    ]),
  ]);
  try {
    await h.request(RTM_NSID.NEW, body);
  } catch (err) {
    // another call assigned one in between: read it
    if (!isErrno(err, 'EEXIST')) throw kernelFailure(`assign a namespace id to ${peer.path}`, err);
  }
  const id = await peerId(h, peer);
  if (id === undefined)
    throw kernelFailure(`assign a namespace id to ${peer.path}`, new Error('none assigned'));
  return id;
}
