/**
 * A host bridge that attachments share (the bridge plugin's, vxlan's bridge mode): used when
 * it exists (it must be a bridge), made when it does not, with its MAC pinned, and up.
 */
import { CniError, Code, describeError, q } from '../cni/errors.ts';
import { isErrno } from '../kernel/errors.ts';
import * as kinds from '../kernel/kinds.ts';
import * as link from '../kernel/link.ts';
import type { Rtnl } from '../kernel/socket.ts';
import * as sysctl from '../kernel/sysctl.ts';
import { log } from '../util/log.ts';

export interface WantedBridge {
  readonly name: string;
  readonly mtu?: number | undefined;
  /** Made with VLAN filtering on (an existing bridge without it is used as it is, logged). */
  readonly vlanFiltering?: boolean | undefined;
  readonly promisc?: boolean | undefined;
  /** Router advertisements ignored (accept_ra 0): the plugin owns the routes of the bridge. */
  readonly ownRoutes?: boolean | undefined;
  /**
   * Made under this temporary name, renamed to `name` with `alias` (an ownership mark) once
   * made: a call killed in between leaves a name the next call recognises and removes.
   */
  readonly staging?: { readonly name: string; readonly alias: string } | undefined;
}

export interface EnsuredBridge {
  /** The bridge as found before this attachment's port joined it. */
  readonly link: link.Link;
  /** This call created it (so a failed ADD may remove it again). */
  readonly created: boolean;
}

const HOST = 'in the host netns';

/** The bridge `want.name` in the host (`h`): found or made, a bridge, up. */
export async function ensureBridge(h: Rtnl, want: WantedBridge): Promise<EnsuredBridge> {
  const name = want.name;
  let br = await link.byName(h, name);
  const created = !br && (await create(h, want));
  br ??= await link.mustByName(h, name, HOST);
  if (br.kind !== 'bridge') {
    throw new CniError(
      Code.Internal,
      `failed to create bridge ${q(name)}: ${q(name)} already exists but is not a bridge (it is a ${br.kind ?? 'device'})`,
    );
  }
  // Pin the MAC it was made with, so it does not follow its lowest-numbered port as pods come
  // and go (the reference pins it only when it puts a gateway address on the bridge, and its
  // CHECK, which compares the bridge MAC, then fails for pods that joined earlier).
  const mac = usableMac(br.mac);
  if (created && mac) await link.set(h, br.index, { mac }, `bridge ${q(name)}`);
  if (!created && want.vlanFiltering && !kinds.bridgeVlanFiltering(br)) {
    log.info(
      `bridge ${q(name)} exists without VLAN filtering: vlan/vlanTrunk are set on the port but not enforced`,
    );
  }
  if (want.promisc) await link.set(h, br.index, { promisc: true }, `bridge ${q(name)}`);
  if (want.ownRoutes) {
    try {
      sysctl.set(undefined, { [`net/ipv6/conf/${name}/accept_ra`]: '0' });
    } catch (err) {
      log.verbose(`sysctl accept_ra of ${name} not set: ${describeError(err)}`); // IPv6 disabled
    }
  }
  if (!br.up || want.promisc) {
    await link.set(h, br.index, { up: true }, `bridge ${q(name)}`);
    br = await link.mustByName(h, name, HOST);
  }
  return { link: br, created };
}

/** Makes the bridge; false when another call made it meanwhile. */
async function create(h: Rtnl, want: WantedBridge): Promise<boolean> {
  const spec = {
    kind: 'bridge',
    data: kinds.bridgeData(want.vlanFiltering ? { vlanFiltering: true } : {}),
    ...(want.mtu ? { mtu: want.mtu } : {}),
  };
  const what = `bridge ${q(want.name)}`;
  try {
    if (!want.staging) {
      await link.create(h, { name: want.name, ...spec }, what);
      return true;
    }
    await link.create(h, { name: want.staging.name, ...spec }, what);
  } catch (err) {
    if (isErrno(err, 'EEXIST') && !want.staging) return false;
    throw err;
  }
  const made = await link.mustByName(h, want.staging.name, HOST);
  await link.set(
    h,
    made.index,
    { name: want.name, alias: want.staging.alias },
    `bridge ${q(want.staging.name)}`,
  );
  return true;
}

/** A unicast, non-zero MAC, or undefined. */
export function usableMac(mac: string | undefined): string | undefined {
  if (!mac || /^(00:){5}00$/.test(mac)) return undefined;
  const first = Number.parseInt(mac.slice(0, 2), 16);
  return Number.isNaN(first) || first & 1 ? undefined : mac;
}
