/**
 * CHECK of a bridge attachment, as the reference checks it: the bridge of prevResult exists,
 * is a bridge with the MAC and promiscuous mode expected; the pod interface is a veth (with
 * the MAC of prevResult) whose peer is a port of that bridge and is listed in prevResult; the
 * pod's addresses and routes are there. manifold also checks the port's hairpin and isolation
 * settings against the config.
 */
import { checkL3 } from '../../src/attach/l3.ts';
import type { Pod } from '../../src/attach/pod.ts';
import { CniError, Code, q } from '../../src/cni/errors.ts';
import type { Result } from '../../src/cni/result.ts';
import * as bridge from '../../src/kernel/bridge.ts';
import * as link from '../../src/kernel/link.ts';
import { IFF_PROMISC } from '../../src/kernel/nl/constants.ts';
import type { Rtnl } from '../../src/kernel/socket.ts';
import type { BridgeConf } from './config.ts';

function fail(msg: string): CniError {
  return new CniError(Code.Internal, msg);
}

async function checkBridge(h: Rtnl, conf: BridgeConf, prev: Result): Promise<link.Link> {
  const iface = (prev.interfaces ?? []).find((i) => i.name === conf.brName && !i.sandbox);
  if (!iface) throw fail(`prevResult has no interface for bridge ${q(conf.brName)}`);
  const br = await link.byName(h, conf.brName);
  if (!br) throw fail(`bridge ${q(conf.brName)} of prevResult is missing in the host netns`);
  if (br.kind !== 'bridge') {
    throw fail(`interface ${q(conf.brName)} is of kind ${q(br.kind ?? 'unknown')}, expected "bridge"`);
  }
  if (iface.mac && iface.mac.toLowerCase() !== br.mac) {
    throw fail(`bridge ${q(conf.brName)} has MAC ${br.mac ?? '?'}, prevResult says ${iface.mac}`);
  }
  const promisc = (br.flags & IFF_PROMISC) !== 0;
  if (promisc !== (conf.promiscMode === true)) {
    throw fail(
      `bridge ${q(conf.brName)} has promiscuous mode ${promisc ? 'on' : 'off'}, config says ${conf.promiscMode ? 'on' : 'off'}`,
    );
  }
  return br;
}

export async function checkBridgeAttachment(
  h: Rtnl,
  pod: Pod,
  conf: BridgeConf,
  prev: Result,
  podLink: link.Link,
  podIndex: number,
): Promise<void> {
  const br = await checkBridge(h, conf, prev);
  const peer = podLink.parent;
  const candidates = (prev.interfaces ?? []).filter(
    (i, n) => n !== podIndex && !i.sandbox && i.name !== conf.brName,
  );
  let port: link.Link | undefined;
  let listed: (typeof candidates)[number] | undefined;
  for (const i of candidates) {
    const l = await link.byName(h, i.name);
    if (l && l.kind === 'veth' && peer !== undefined && l.index === peer && l.parent === podLink.index) {
      port = l;
      listed = i;
      break;
    }
  }
  if (!port || !listed) {
    throw fail(
      `the host end of veth ${q(podLink.name)} is missing, or is not an interface of prevResult in the host netns`,
    );
  }
  if (port.master !== br.index) {
    throw fail(`veth ${q(port.name)} is not a port of bridge ${q(conf.brName)}`);
  }
  if (listed.mac && listed.mac.toLowerCase() !== port.mac) {
    throw fail(`veth ${q(port.name)} has MAC ${port.mac ?? '?'}, prevResult says ${listed.mac}`);
  }
  const hairpin = bridge.portHairpin(port);
  if (hairpin !== (conf.hairpinMode === true)) {
    throw fail(
      `bridge port ${q(port.name)} has hairpin mode ${hairpin ? 'on' : 'off'}, config says ${conf.hairpinMode ? 'on' : 'off'}`,
    );
  }
  if (conf.portIsolation !== undefined && bridge.portIsolated(port) !== conf.portIsolation) {
    throw fail(
      `bridge port ${q(port.name)} has isolation ${conf.portIsolation ? 'off' : 'on'}, config says ${conf.portIsolation ? 'on' : 'off'}`,
    );
  }
  await checkL3(pod, podLink, prev, podIndex);
}
