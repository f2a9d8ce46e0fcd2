/**
 * Names and ownership marks of what vxlan makes in the host. The kernel keeps the marks
 * (IFLA_IFALIAS), so DEL and GC can tell manifold's devices from anything else without a
 * state file that could go stale.
 */

const MARK = 'manifold-vxlan';

import { hash8 } from '../../src/util/hash.ts';

/**
 * The host end of a pod's veth in bridge mode: derived from the attachment, so DEL finds it
 * even when the pod's namespace is already gone.
 */
export function hostVethName(network: string, containerId: string, ifname: string): string {
  return `vxv${hash8(`${network}\0${containerId}\0${ifname}`)}`;
}

/** Bridge mode: the host's vxlan device of a VNI (one per VNI and port per host). */
export function vxlanDeviceName(vni: number): string {
  return `vxlan${vni}`;
}

/**
 * The name a shared device of a VNI is created under, before one request gives it its final
 * name and manifold's mark together: a call killed in between leaves a device under this
 * name only, which is manifold's by construction and removed by the next call of the VNI.
 */
export function stagingName(kind: 'bridge' | 'vxlan', vni: number): string {
  return `${kind === 'bridge' ? 'mfvb' : 'mfvx'}${vni}`;
}

/** The alias on a bridge or vxlan device manifold created for a VNI. */
export function sharedMark(vni: number): string {
  return `${MARK} vni=${vni}`;
}

export function isSharedMark(alias: string | undefined, vni: number): boolean {
  return alias === sharedMark(vni);
}

export interface AttachmentMark {
  readonly network: string;
  readonly containerId: string;
  readonly ifname: string;
}

/** The alias on a pod's host veth: which attachment it belongs to (for GC). */
export function attachmentMark(a: AttachmentMark): string {
  return `${MARK} net=${a.network} ctr=${a.containerId} if=${a.ifname}`;
}

export function parseAttachmentMark(alias: string | undefined): AttachmentMark | undefined {
  const m = alias ? /^manifold-vxlan net=(\S+) ctr=(\S+) if=(\S+)$/.exec(alias) : null;
  if (!m?.[1] || !m[2] || !m[3]) return undefined;
  return { network: m[1], containerId: m[2], ifname: m[3] };
}

/**
 * The lock that serialises bridge-mode create/attach and the last-pod count-and-remove
 * across concurrent CNI calls. On tmpfs: it and the devices it guards go with a reboot.
 */
export const LOCK_DIR = '/run/manifold';
export const LOCK_FILE = `${LOCK_DIR}/vxlan.lock`;
