/**
 * One pod attachment's delegate from its selection (the annotation's element) and its
 * NetworkAttachmentDefinition, as ADD builds it — the NAD's network (its `manifold` object
 * split off), the device ID and `cni-args` injected, the per-attachment capability arguments
 * and CNI_ARGS, interface name, default route, multi-homing options — with no API call, so
 * `manifold explain` builds the very same delegate from NAD files.
 */

import { parseNetwork } from '../../invoke/network.ts';
import type { Nad } from '../../k8s/api.ts';
import type { MetaConf } from '../config.ts';
import { type Delegate, splitManifoldKey } from '../delegates.ts';
import type { NetworkSelection } from './annotation.ts';
import { injectIntoNetwork, type PodAttachment } from './attachment.ts';
import { nadAnnotation, networkOfNad } from './nad.ts';

export const RESOURCE_NAME_ANNOTATION = 'k8s.v1.cni.cncf.io/resourceName';

/** `deviceID`: the device the device plugin gave this attachment (NADs with a resourceName). */
export function nadDelegate(
  conf: MetaConf,
  sel: NetworkSelection,
  nad: Nad,
  master: boolean,
  deviceID: string | undefined,
): Delegate {
  const what = `${sel.namespace}/${sel.name}`;
  const resourceName = nadAnnotation(nad, RESOURCE_NAME_ANNOTATION);
  const { raw, source } = networkOfNad(nad, sel.namespace, conf.confDirOrDefault);
  const { rest, ours } = splitManifoldKey(raw, source);
  const network = parseNetwork(injectIntoNetwork(rest, deviceID, sel.cniArgs), source, conf.effectiveVersion);
  const multihome = ours || sel.multihome ? { ...ours, ...sel.multihome } : undefined;
  const runtimeDevice = deviceID ?? sel.deviceID;
  const k8s: PodAttachment = {
    statusName: what,
    capabilityArgs: {
      ...(sel.ips?.length ? { ips: [...sel.ips] } : {}),
      ...(sel.mac ? { mac: sel.mac } : {}),
      ...(sel.portMappings ? { portMappings: sel.portMappings } : {}),
      ...(sel.bandwidth ? { bandwidth: sel.bandwidth } : {}),
      ...(sel.infinibandGUID ? { infinibandGUID: sel.infinibandGUID } : {}),
      ...(runtimeDevice ? { deviceID: runtimeDevice } : {}),
    },
    cniArgs: [
      ...(sel.ips?.length ? [['IP', sel.ips.join(',')] as const] : []),
      ...(sel.mac ? [['MAC', sel.mac] as const] : []),
    ],
    ...(resourceName ? { resourceName } : {}),
    ...(runtimeDevice ? { deviceID: runtimeDevice } : {}),
  };
  return {
    network,
    source,
    master,
    ifnameRequest: sel.interface ?? ours?.ifname,
    defaultRoute: sel.defaultRoute !== undefined || ours?.defaultRoute === true,
    ...(multihome ? { multihome } : {}),
    ...(sel.defaultRoute?.length ? { gatewayRequest: sel.defaultRoute } : {}),
    k8s,
  };
}
