/**
 * One pod attachment's delegate from its selection (the annotation's element) and its
 * NetworkAttachmentDefinition, as ADD builds it — the NAD's network (its `manifold` object
 * split off; the device ID written in as `deviceID` and `pciBusID`, `cni-args` merged into
 * `args.cni`), the per-attachment capability arguments and CNI_ARGS (../pod-attachment.ts),
 * interface name, default route, multi-homing options — with no API call, so `manifold
 * explain` builds the very same delegate from NAD files.
 */

import { parseNetwork } from '../../invoke/network.ts';
import type { Nad } from '../../k8s/api.ts';
import type { MetaConf } from '../config.ts';
import { type Delegate, splitManifoldKey } from '../delegates.ts';
import type { PodAttachment } from '../pod-attachment.ts';
import type { NetworkSelection } from './annotation.ts';
import { nadAnnotation, networkOfNad } from './nad.ts';

export const RESOURCE_NAME_ANNOTATION = 'k8s.v1.cni.cncf.io/resourceName';

type Raw = Record<string, unknown>;

function eachPlugin(raw: Readonly<Raw>, edit: (plugin: Raw) => Raw): Raw {
  if (Array.isArray(raw.plugins)) {
    return {
      ...raw,
      plugins: raw.plugins.map((p) => (p && typeof p === 'object' ? edit({ ...(p as Raw) }) : p)),
    };
  }
  return edit({ ...raw });
}

/** The network config with a device ID and `cni-args` put in the conf, or in every plugin of a conflist. */
export function injectIntoNetwork(
  raw: Readonly<Raw>,
  deviceID: string | undefined,
  cniArgs: Readonly<Record<string, unknown>> | undefined,
): Raw {
  return eachPlugin(raw, (p) => {
    if (deviceID) {
      p.deviceID = deviceID;
      p.pciBusID = deviceID;
    }
    if (cniArgs) {
      const args =
        p.args && typeof p.args === 'object' && !Array.isArray(p.args) ? { ...(p.args as Raw) } : {};
      const cni =
        args.cni && typeof args.cni === 'object' && !Array.isArray(args.cni) ? (args.cni as Raw) : {};
      args.cni = { ...cni, ...cniArgs };
      p.args = args;
    }
    return p;
  });
}

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
