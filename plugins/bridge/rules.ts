/**
 * nftables rules of an attachment: IP masquerade (ipMasq) and MAC spoof check (macspoofchk),
 * as nft script text. Each attachment owns whole base chains named from a hash of (network,
 * ifname, containerID), so ADD and DEL are one batch each with no listing: DEL declares the
 * chain (a no-op if it exists), flushes and deletes it, which succeeds whether or not ADD ever
 * ran. Rules and chains carry a comment naming the network, interface and container.
 */
import type { AttachmentKey } from '../../src/attach/pod.ts';
import { formatIP, networkOf, parseCIDR } from '../../src/ip/ip.ts';
import { hash16 } from '../../src/util/hash.ts';

export const MASQ_TABLE = 'manifold_masq';
export const SPOOF_TABLE = 'manifold_macspoofchk';
const MASQ_PREFIX = 'masq-';
const SPOOF_PREFIX = 'spoof-';
const COMMENT_MAX = 128; // nft refuses longer comments

/** `<hash of network>-`: every chain of the network starts with the prefix and this. */
export function networkTag(network: string): string {
  return `${hash16(network)}-`;
}

function tag(a: AttachmentKey): string {
  return `${networkTag(a.network)}${hash16(`${a.ifname}:${a.containerId}`)}`;
}

export const masqChain = (a: AttachmentKey): string => `${MASQ_PREFIX}${tag(a)}`;
export const spoofChain = (a: AttachmentKey): string => `${SPOOF_PREFIX}${tag(a)}`;

/** A comment nft accepts: printable ASCII without quotes or backslashes, at most 128 characters. */
export function comment(a: AttachmentKey): string {
  const clean = (s: string) => s.replace(/[^\x20-\x7e]|["\\]/g, '?');
  const text = `manifold bridge net: ${clean(a.network)}, if: ${clean(a.ifname)}, id: ${clean(a.containerId)}`;
  return text.length > COMMENT_MAX ? text.slice(0, COMMENT_MAX) : text;
}

/** A quoted nft string (interface names may hold characters nft would parse). */
function str(s: string): string {
  return `"${s.replace(/["\\]/g, '')}"`;
}

function masqChainDecl(a: AttachmentKey): string[] {
  return [
    `add table inet ${MASQ_TABLE}`,
    `add chain inet ${MASQ_TABLE} ${masqChain(a)} { type nat hook postrouting priority srcnat; policy accept; comment ${str(comment(a))}; }`,
    `flush chain inet ${MASQ_TABLE} ${masqChain(a)}`,
  ];
}

function spoofChainDecl(a: AttachmentKey): string[] {
  return [
    `add table bridge ${SPOOF_TABLE}`,
    `add chain bridge ${SPOOF_TABLE} ${spoofChain(a)} { type filter hook prerouting priority -300; policy accept; comment ${str(comment(a))}; }`,
    `flush chain bridge ${SPOOF_TABLE} ${spoofChain(a)}`,
  ];
}

/**
 * Masquerade what the pod's addresses send outside their own subnet, multicast excepted (the
 * reference's rules): `ip saddr 10.1.0.5 ip daddr != 10.1.0.0/24 ip daddr != 224.0.0.0/4 masquerade`.
 */
export function masqRules(a: AttachmentKey, addresses: readonly string[]): string[] {
  const out = masqChainDecl(a);
  for (const cidr of addresses) {
    const n = parseCIDR(cidr);
    if (!n) continue;
    const v4 = n.ip.family === 4;
    const net = networkOf(n);
    const fam = v4 ? 'ip' : 'ip6';
    const mcast = v4 ? '224.0.0.0/4' : 'ff00::/8';
    out.push(
      `add rule inet ${MASQ_TABLE} ${masqChain(a)} ${fam} saddr ${formatIP(n.ip)} ${fam} daddr != ${formatIP(net.ip)}/${n.prefix} ${fam} daddr != ${mcast} masquerade comment ${str(comment(a))}`,
    );
  }
  return out;
}

/** Frames entering the bridge from the pod's port must carry the pod's MAC as source. */
export function spoofRules(a: AttachmentKey, hostPort: string, mac: string): string[] {
  return [
    ...spoofChainDecl(a),
    `add rule bridge ${SPOOF_TABLE} ${spoofChain(a)} iifname ${str(hostPort)} ether saddr != ${mac.toLowerCase()} drop comment ${str(comment(a))}`,
  ];
}

/** Removes what masqRules/spoofRules added; fine when it was never there. */
export function teardown(a: AttachmentKey, which: { masq: boolean; spoof: boolean }): string[] {
  const out: string[] = [];
  if (which.masq) out.push(...masqChainDecl(a), `delete chain inet ${MASQ_TABLE} ${masqChain(a)}`);
  if (which.spoof) out.push(...spoofChainDecl(a), `delete chain bridge ${SPOOF_TABLE} ${spoofChain(a)}`);
  return out;
}

/**
 * GC: the chains of `network` (in `chains`, as listed) that belong to no valid attachment,
 * as a batch deleting them (empty when there is nothing to delete).
 */
export function gcBatch(
  network: string,
  chains: readonly { family: string; table: string; name: string }[],
  valid: readonly { containerID: string; ifname: string }[],
): string[] {
  const keep = new Set<string>();
  for (const v of valid) {
    const a = { network, ifname: v.ifname, containerId: v.containerID };
    keep.add(masqChain(a));
    keep.add(spoofChain(a));
  }
  const tagOf = networkTag(network);
  const out: string[] = [];
  for (const c of chains) {
    const ours =
      (c.family === 'inet' && c.table === MASQ_TABLE && c.name.startsWith(`${MASQ_PREFIX}${tagOf}`)) ||
      (c.family === 'bridge' && c.table === SPOOF_TABLE && c.name.startsWith(`${SPOOF_PREFIX}${tagOf}`));
    if (!ours || keep.has(c.name)) continue;
    out.push(`flush chain ${c.family} ${c.table} ${c.name}`, `delete chain ${c.family} ${c.table} ${c.name}`);
  }
  return out;
}
