/**
 * Hot-plug's attach of one network into a running pod (docs/hotplug.md), and its detach:
 * the delegate ADD would build (nadDelegate: the NAD, the selection's arguments, a device the
 * pod has spare for a resourceName NAD, its device-info file), recorded in the pod's cache
 * before it runs and run by addNetwork as every delegate is; rolled back by teardown's
 * deleteAll when it fails. hotplug-ops.ts decides what to attach and detach.
 */
import { CniError, Code, q } from '../../cni/errors.ts';
import type { KubeWatches } from '../../daemon/kube.ts';
import { addNetwork } from '../../invoke/network.ts';
import { asNad, getNad, type Nad } from '../../k8s/api.ts';
import type { KubeClient } from '../../k8s/client.ts';
import { allocatedDevices } from '../../k8s/devices.ts';
import { kernelPodLinks } from '../../meta/add.ts';
import { type Attached, type Ctx, describe, runtimeFor, wrap } from '../../meta/attachment.ts';
import {
  DEFAULT_DEVICE_INFO_DIR,
  DEFAULT_KUBELET_CHECKPOINT,
  DEFAULT_POD_RESOURCES_SOCKET,
} from '../../meta/config.ts';
import { cniDeviceInfoPath, dpDeviceInfoPath, prepareDeviceInfo } from '../../meta/device-info.ts';
import type { PodIdentity } from '../../meta/pod-call.ts';
import type { NetworkSelection } from '../../meta/pods/annotation.ts';
import { checkIsolation } from '../../meta/pods/isolation.ts';
import { nadAnnotation } from '../../meta/pods/nad.ts';
import { nadDelegate, RESOURCE_NAME_ANNOTATION } from '../../meta/pods/nad-delegate.ts';
import { deleteAll } from '../../meta/teardown.ts';

export interface AttachDeps {
  readonly kube: KubeWatches;
  readonly log: (line: string) => void;
}

export const selName = (s: NetworkSelection): string => `${s.namespace}/${s.name}`;

/** The first `net<N>` (N from 1) no interface of the pod has. */
function firstFree(taken: ReadonlySet<string>): string {
  for (let n = 1; ; n++) if (!taken.has(`net${n}`)) return `net${n}`;
}

/** DEL of one attachment; the message of what is left to retry, else undefined. */
export async function deleteOne(ctx: Ctx, a: Attached): Promise<string | undefined> {
  const t = await deleteAll(ctx, [a], ctx.netns, ctx.containerId);
  return t.transient.length ? t.transient.map((e) => e.message).join('; ') : undefined;
}

/** The NAD, from the watch cache when it has it, else a GET. */
async function readNad(deps: AttachDeps, client: KubeClient, sel: NetworkSelection): Promise<Nad> {
  const cached = deps.kube.nad(sel.namespace, sel.name);
  const nad = cached ? asNad(cached) : await getNad(client, sel.namespace, sel.name);
  if (!nad) {
    throw new CniError(Code.InvalidConfig, `no such NetworkAttachmentDefinition ${q(selName(sel))}`);
  }
  return nad;
}

/** A device kubelet allocated to the pod for `resource` that no attachment of it uses, else code 7. */
async function spareDevice(
  ctx: Ctx,
  id: PodIdentity,
  resource: string,
  list: readonly Attached[],
): Promise<string> {
  const conf = ctx.conf;
  const { devices, from } = await allocatedDevices(
    {
      socket: conf.podResourcesSocket || DEFAULT_POD_RESOURCES_SOCKET,
      checkpoint: conf.kubeletCheckpointFile || DEFAULT_KUBELET_CHECKPOINT,
      timeoutMs: 5000,
    },
    id,
  );
  const all = devices.get(resource) ?? [];
  const used = new Set(list.flatMap((a) => (a.delegate.k8s?.deviceID ? [a.delegate.k8s.deviceID] : [])));
  const spare = all.find((d) => !used.has(d));
  if (spare === undefined) {
    throw new CniError(
      Code.InvalidConfig,
      `no spare device of resource ${q(resource)}: pod ${id.namespace}/${id.name} has ${all.length} allocated (${from}) and its attachments use ${all.length === 1 ? 'it' : 'all of them'}`,
      'a pod cannot gain a device after admission: request more of the resource than its first networks use',
    );
  }
  return spare;
}

export async function attachOne(
  deps: AttachDeps,
  ctx: Ctx,
  client: KubeClient,
  id: PodIdentity,
  sel: NetworkSelection,
  list: Attached[],
  save: () => void,
): Promise<Attached> {
  const conf = ctx.conf;
  checkIsolation(conf, id.namespace, sel.namespace, sel.name);
  const nad = await readNad(deps, client, sel);
  const resource = nadAnnotation(nad, RESOURCE_NAME_ANNOTATION);
  const deviceID = resource ? await spareDevice(ctx, id, resource, list) : undefined;
  const draft = nadDelegate(conf, sel, nad, false, deviceID);
  if (draft.multihome) {
    throw new CniError(Code.InvalidConfig, `${describe(draft)}: multi-homing options cannot be hot-plugged`);
  }
  if (draft.defaultRoute) {
    throw new CniError(
      Code.InvalidConfig,
      `${describe(draft)}: a default-route request cannot be hot-plugged`,
    );
  }
  const taken = new Set([...list.map((a) => a.ifname), ...(await kernelPodLinks(ctx.netns))]);
  const ifname = sel.interface ?? draft.ifnameRequest ?? firstFree(taken);
  if (taken.has(ifname)) {
    throw new CniError(
      Code.InvalidConfig,
      `interface ${q(ifname)} already exists in pod ${id.namespace}/${id.name}`,
    );
  }
  let delegate = { ...draft, ifnameRequest: ifname };
  const k = delegate.k8s;
  if (k?.deviceID) {
    const dir = conf.deviceInfoDir || DEFAULT_DEVICE_INFO_DIR;
    const file = cniDeviceInfoPath(dir, k.statusName, ctx.containerId, ifname);
    const source = k.resourceName ? dpDeviceInfoPath(dir, k.resourceName, k.deviceID) : undefined;
    delegate = {
      ...delegate,
      k8s: {
        ...k,
        capabilityArgs: { ...k.capabilityArgs, CNIDeviceInfoFile: file },
        deviceInfoFile: file,
        ...(source ? { deviceInfoSource: source } : {}),
      },
    };
  }
  const a: Attached = { delegate, ifname, result: undefined };
  // in the cache before it runs: a DEL after a crash here still removes it
  list.push(a);
  save();
  try {
    if (delegate.k8s) prepareDeviceInfo(delegate.k8s);
    a.result = await addNetwork(ctx.invoker, delegate.network, runtimeFor(ctx, a));
  } catch (err) {
    const cause = wrap(delegate, '', err);
    a.addError = err instanceof Error ? err.message : String(err);
    const left = await deleteOne(ctx, a);
    if (left) {
      // kept in the cache with its ADD error: the pod's DEL finishes it
      save();
      throw new CniError(cause.code, `${cause.message}; its rollback is not complete (${left})`);
    }
    list.splice(list.indexOf(a), 1);
    save();
    throw cause;
  }
  save();
  deps.log(`hot-plug: pod ${id.namespace}/${id.name}: ${describe(delegate)} attached as ${ifname}`);
  return a;
}
