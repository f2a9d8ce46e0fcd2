/**
 * Bridge mode's shared host devices: one bridge and one vxlan device per VNI, made by the
 * first pod and removed with the last one.
 *
 * Reference counting reads the kernel instead of keeping a count: under one host-wide lock,
 * the users of a bridge are its ports other than manifold's vxlan device. A pod's veth
 * leaves the bridge whenever it goes — by DEL, or with the pod's namespace when the runtime
 * never calls DEL — so the count cannot drift, survives crashes and needs no state file.
 * Devices manifold made carry an alias mark, so a bridge or vxlan device someone else made
 * is used but never deleted.
 */
import { ensureBridge } from '../../src/attach/bridge.ts';
import { CniError, Code, q } from '../../src/cni/errors.ts';
import { isErrno } from '../../src/kernel/errors.ts';
import { type FileLock, lockExclusive } from '../../src/kernel/flock.ts';
import * as kinds from '../../src/kernel/kinds.ts';
import * as link from '../../src/kernel/link.ts';
import type { Rtnl } from '../../src/kernel/socket.ts';
import { ensureDir } from '../../src/util/dirs.ts';
import { log } from '../../src/util/log.ts';
import type { VxlanConf } from './config.ts';
import { retryVniClash, vniInUse, vxlanMismatch, vxlanSpec } from './device.ts';
import { hostWantedFdb, installFdb } from './fdb.ts';
import { isSharedMark, LOCK_DIR, LOCK_FILE, sharedMark, stagingName, vxlanDeviceName } from './names.ts';

/** Runs `fn` holding the host-wide vxlan lock (create/attach and count/remove never interleave). */
export async function withVxlanLock<T>(fn: () => Promise<T>): Promise<T> {
  let lock: FileLock;
  try {
    ensureDir(LOCK_DIR, 0o700);
    lock = await lockExclusive(LOCK_FILE);
  } catch (err) {
    if (err instanceof CniError) throw err;
    throw new CniError(Code.Internal, `failed to lock ${q(LOCK_FILE)}: ${(err as Error).message}`);
  }
  try {
    return await fn();
  } finally {
    lock.release();
  }
}

export interface Shared {
  readonly bridge: link.Link;
  readonly vxlan: link.Link;
}

/** Removes the devices a call killed between creating and naming them left (call under the lock). */
async function removeStaging(host: Rtnl, vni: number): Promise<void> {
  for (const kind of ['vxlan', 'bridge'] as const) {
    const l = await link.byName(host, stagingName(kind, vni));
    if (l?.kind === kind) {
      await link.remove(host, l.index, `${kind} ${q(l.name)}`);
      log.info(`vxlan: removed ${l.name}, left by a call killed while creating it`);
    }
  }
}

async function createVxlan(host: Rtnl, conf: VxlanConf, master: link.Link, br: link.Link, mtu: number) {
  const name = vxlanDeviceName(conf.vni);
  const staging = stagingName('vxlan', conf.vni);
  try {
    await retryVniClash(() =>
      link.create(
        host,
        {
          name: staging,
          kind: 'vxlan',
          data: kinds.vxlanData(vxlanSpec(conf, master)),
          mtu,
          master: br.index,
        },
        `vxlan ${q(name)} (VNI ${conf.vni}) on master ${q(master.name)}`,
      ),
    );
  } catch (err) {
    if (isErrno(err, 'EEXIST') && err instanceof CniError) {
      throw vniInUse(conf, err, ' (a direct-mode pod, or another network with this VNI)');
    }
    throw err;
  }
  const made = await link.mustByName(host, staging, 'in the host netns');
  await link.set(host, made.index, { name, alias: sharedMark(conf.vni) }, `vxlan ${q(staging)}`);
  await link.set(host, made.index, { up: true }, `vxlan ${q(name)}`);
  return link.mustByName(host, name, 'in the host netns');
}

/**
 * Call under the lock: the bridge and its vxlan port, made when missing, checked against
 * the config when present (a device that differs is an error, not silently shared), FDB
 * entries installed.
 */
export async function ensureShared(
  host: Rtnl,
  conf: VxlanConf,
  master: link.Link,
  mtu: number,
): Promise<Shared> {
  await removeStaging(host, conf.vni);
  const { link: br } = await ensureBridge(host, {
    name: conf.bridgeName,
    mtu,
    staging: { name: stagingName('bridge', conf.vni), alias: sharedMark(conf.vni) },
  });
  const name = vxlanDeviceName(conf.vni);
  const all = await link.list(host);
  const foreign = all.find((l) => l.master === br.index && l.kind === 'vxlan' && l.name !== name);
  if (foreign) {
    throw new CniError(
      Code.Internal,
      `failed to use bridge ${q(br.name)} for VNI ${conf.vni}: it already carries vxlan ${q(foreign.name)} (VNI ${kinds.vxlanInfo(foreign).vni ?? '?'})`,
    );
  }
  let vx = all.find((l) => l.name === name);
  if (!vx) {
    vx = await createVxlan(host, conf, master, br, mtu);
  } else {
    const problem = vxlanMismatch(vx, vxlanSpec(conf, master), mtu, master.name);
    if (problem) {
      throw new CniError(Code.Internal, `failed to share vxlan ${q(name)} in the host: it ${problem}`);
    }
    if (vx.master !== br.index) {
      if (vx.master !== undefined || !isSharedMark(vx.alias, conf.vni)) {
        throw new CniError(
          Code.Internal,
          `failed to share vxlan ${q(name)} in the host: it is not a port of bridge ${q(br.name)}`,
        );
      }
      // manifold's own device left detached by an interrupted call: adopt it
      await link.set(host, vx.index, { master: br.index }, `vxlan ${q(name)}`);
    }
    if (!vx.up) await link.set(host, vx.index, { up: true }, `vxlan ${q(name)}`);
  }
  await installFdb(host, vx.index, name, await hostWantedFdb(conf));
  return { bridge: await link.mustByName(host, br.name, 'in the host netns'), vxlan: vx };
}

/**
 * Call under the lock: when no pod uses the bridge any more, removes manifold's vxlan device
 * and bridge (devices without manifold's mark stay). Returns whether the devices are gone.
 */
export async function releaseIfUnused(host: Rtnl, conf: VxlanConf): Promise<boolean> {
  await removeStaging(host, conf.vni);
  const all = await link.list(host);
  const br = all.find((l) => l.name === conf.bridgeName && l.kind === 'bridge');
  const vxName = vxlanDeviceName(conf.vni);
  const ours = (l: link.Link) => l.name === vxName && l.kind === 'vxlan' && isSharedMark(l.alias, conf.vni);
  if (br) {
    const users = all.filter((l) => l.master === br.index && !ours(l));
    if (users.length > 0) return false;
  }
  const vx = all.find(ours);
  if (vx && (vx.master === undefined || vx.master === br?.index)) {
    await link.remove(host, vx.index, `vxlan ${q(vxName)}`);
    log.info(`vxlan: last pod of VNI ${conf.vni} gone: removed ${vxName}`);
  }
  if (br && isSharedMark(br.alias, conf.vni)) {
    await link.remove(host, br.index, `bridge ${q(br.name)}`);
    log.info(`vxlan: last pod of VNI ${conf.vni} gone: removed bridge ${br.name}`);
  }
  return true;
}
