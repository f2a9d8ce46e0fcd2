/**
 * A Kubernetes pod's delegates, resolved before anything is attached: the pod (its annotations
 * from the runtime's `io.kubernetes.cri.pod-annotations` when it passed them, else a GET;
 * gone → Multus's empty result), the master (`v1.multus-cni.io/default-network`, else clusterNetwork
 * as a NAD in multusNamespace or a config in confDir, else delegates[0]), defaultNetworks
 * (not for systemNamespaces), then every attachment of `k8s.v1.cni.cncf.io/networks` with its
 * NAD, namespace isolation, device IDs (from the pod's DRA claims, else the device plugins) and
 * per-attachment arguments. Any refusal happens here, so nothing is left behind. After ADD,
 * the network data of DRA devices goes back to their claims (dra-status.ts).
 */
import { CniError, Code, q } from '../../cni/errors.ts';
import type { KubeHost } from '../../cni/host.ts';
import type { PluginContext } from '../../cni/plugin.ts';
import { parseNetwork } from '../../invoke/network.ts';
import { asNad, asPod, getNad, getPod, isStaticPod, type Nad, type Pod } from '../../k8s/api.ts';
import { Budget, KubeClient, type SharedConnection } from '../../k8s/client.ts';
import { inClusterSource } from '../../k8s/incluster.ts';
import { kubeconfigSource } from '../../k8s/kubeconfig.ts';
import { log } from '../../util/log.ts';
import type { MetaConf } from '../config.ts';
import { DEFAULT_DEVICE_INFO_DIR, DEFAULT_KUBE_API_TIMEOUT_S } from '../config.ts';
import { assignIfnames, type Delegate, delegatesFromConfig, splitManifoldKey } from '../delegates.ts';
import { cniDeviceInfoPath, dpDeviceInfoPath } from '../device-info.ts';
import { findNetworkByName, readNetworkPath } from '../files.ts';
import type { PodIdentity, PodNetworks } from '../pod-call.ts';
import {
  DEFAULT_NETWORK_ANNOTATION,
  NETWORKS_ANNOTATION,
  type NetworkSelection,
  parseNetworksAnnotation,
} from './annotation.ts';
import { apiCall } from './api-call.ts';
import { checkDefaultRoutes } from './default-route.ts';
import { DeviceAllocator } from './device-ids.ts';
import { type ClaimDevice, DraAllocator } from './dra-devices.ts';
import { type DraAttachment, entriesByClaim, writeClaimStatuses } from './dra-status.ts';
import { PodEvents } from './events.ts';
import { checkIsolation, isSystemNamespace, multusNamespace } from './isolation.ts';
import { nadAnnotation } from './nad.ts';
import { nadDelegate, RESOURCE_NAME_ANNOTATION } from './nad-delegate.ts';
import { publishStatus } from './pod-status.ts';

type Ctx = PluginContext<MetaConf>;

class Resolver {
  readonly #ctx: Ctx;
  readonly #client: KubeClient;
  readonly #pod: Pod;
  readonly #podNs: string;
  readonly #devices: DeviceAllocator;
  readonly #id: PodIdentity;
  #dra: Promise<DraAllocator> | undefined;

  readonly #forDel: boolean;

  constructor(ctx: Ctx, client: KubeClient, pod: Pod, id: PodIdentity, budget: Budget, forDel: boolean) {
    this.#ctx = ctx;
    this.#id = id;
    this.#forDel = forDel;
    this.#client = client;
    this.#pod = pod;
    this.#podNs = pod.metadata.namespace || id.namespace;
    this.#devices = new DeviceAllocator(
      ctx.conf,
      { namespace: this.#podNs, name: id.name, uid: id.uid || (pod.metadata.uid ?? '') },
      budget,
    );
  }

  /** A NAD-backed delegate for one selection. */
  async fromNad(sel: NetworkSelection, master: boolean, asked: string): Promise<Delegate | undefined> {
    const what = `${sel.namespace}/${sel.name}`;
    const nad = await readNad(this.#ctx, this.#client, sel.namespace, sel.name, this.#forDel);
    if (!nad) {
      if (!asked) return undefined;
      throw new CniError(
        Code.InvalidConfig,
        `${asked} asks for network ${q(what)}: no such NetworkAttachmentDefinition`,
      );
    }
    const resourceName = nadAnnotation(nad, RESOURCE_NAME_ANNOTATION);
    const device = resourceName ? await this.#device(resourceName, what) : undefined;
    const d = nadDelegate(this.#ctx.conf, sel, nad, master, device?.id);
    const claim = device?.claim;
    if (!claim || !d.k8s) return d;
    const pci = {
      'pci-address': claim.pciAddress,
      ...(claim.pfPciAddress ? { 'pf-pci-address': claim.pfPciAddress } : {}),
    };
    const { namespace, claim: name, driver, pool, device: dev } = claim;
    return {
      ...d,
      k8s: {
        ...d.k8s,
        draDevice: { namespace, claim: name, driver, pool, device: dev },
        deviceInfoContent: { type: 'pci', version: '1.1.0', pci },
      },
    };
  }

  /** The attachment's device; for a DEL, none when it is not known any more (its IPAM is still released). */
  async #device(
    resourceName: string,
    what: string,
  ): Promise<{ id: string; claim?: ClaimDevice } | undefined> {
    if (!this.#forDel) return this.#take(resourceName, what);
    try {
      return await this.#take(resourceName, what);
    } catch (err) {
      log.info(`DEL: ${what}: no ${resourceName} device known any more (${(err as Error).message})`);
      return undefined;
    }
  }

  /** A device of the pod's DRA claims when one is of this resource, else the device plugins'. */
  async #take(resourceName: string, what: string): Promise<{ id: string; claim?: ClaimDevice }> {
    this.#dra ??= this.#draAllocator();
    const dra = await this.#dra;
    const claim = await dra.take(resourceName, what);
    if (claim) return { id: claim.pciAddress, claim };
    try {
      return { id: await this.#devices.take(resourceName, what) };
    } catch (err) {
      const unmatched = dra.describeUnmatched(resourceName);
      if (!unmatched) throw err;
      throw new CniError(
        Code.InvalidConfig,
        `network ${q(what)} needs a device of resource ${q(resourceName)}: ${unmatched}, and the device plugins gave it none (${(err as Error).message})`,
        "the claim's devices must be published with that resource name, or the NAD must name the claim's resource",
      );
    }
  }

  /** The pod's claims need its spec and status: the runtime's annotations alone have neither, then the pod is read. */
  async #draAllocator(): Promise<DraAllocator> {
    const podRef = `pod ${this.#podNs}/${this.#pod.metadata.name}`;
    let pod: unknown = this.#pod;
    if (!('spec' in this.#pod)) {
      const full = await readPod(this.#ctx, this.#client, this.#id, this.#forDel, true).catch((err) => {
        if (this.#forDel) return undefined;
        throw err;
      });
      pod = full ?? this.#pod;
    }
    const host = this.#ctx.host?.kube;
    const cached = host?.resourceSlices ? (node: string) => host.resourceSlices?.(node) : undefined;
    return new DraAllocator(this.#client, pod, this.#podNs, podRef, cached);
  }

  /** clusterNetwork / defaultNetworks: a path, a NAD in multusNamespace, or a config in confDir (as Multus). */
  async named(value: string, field: string, master: boolean): Promise<Delegate> {
    const conf = this.#ctx.conf;
    const plain = (raw: Record<string, unknown>, source: string): Delegate => {
      const { rest, ours } = splitManifoldKey(raw, source);
      return {
        network: parseNetwork(rest, source, conf.effectiveVersion),
        source,
        master,
        ifnameRequest: ours?.ifname,
        defaultRoute: ours?.defaultRoute === true,
        ...(ours ? { multihome: ours } : {}),
      };
    };
    if (value.includes('/')) {
      const f = readNetworkPath(value);
      return plain(f.raw, f.path);
    }
    const ns = multusNamespace(conf);
    const fromNad = await this.fromNad({ name: value, namespace: ns }, master, '');
    if (fromNad) return fromNad;
    const f = findNetworkByName(conf.confDirOrDefault, value);
    if (!f) {
      throw new CniError(
        Code.InvalidConfig,
        `${field}: no NetworkAttachmentDefinition ${q(`${ns}/${value}`)} and no network named ${q(value)} in confDir ${q(conf.confDirOrDefault)}`,
      );
    }
    return plain(f.raw, f.path);
  }

  async delegates(): Promise<Delegate[]> {
    const conf = this.#ctx.conf;
    const annotations = this.#pod.metadata.annotations ?? {};
    const podRef = `pod ${this.#podNs}/${this.#pod.metadata.name}`;
    const defaultNet = parseNetworksAnnotation(
      annotations[DEFAULT_NETWORK_ANNOTATION] ?? '',
      multusNamespace(conf),
      DEFAULT_NETWORK_ANNOTATION,
    );
    if (defaultNet.length > 1) {
      throw new CniError(
        Code.InvalidConfig,
        `pod annotation ${DEFAULT_NETWORK_ANNOTATION}: names ${defaultNet.length} networks; the default network is one`,
      );
    }
    const list: Delegate[] = [];
    const asked = `${podRef} (annotation ${DEFAULT_NETWORK_ANNOTATION})`;
    // the default network becomes the master: isolation is checked before anything is read or attached
    for (const sel of defaultNet) {
      checkIsolation(conf, this.#podNs, sel.namespace, sel.name, {
        via: DEFAULT_NETWORK_ANNOTATION,
        defaultNetwork: true,
      });
    }
    const master = defaultNet[0] ? await this.fromNad(defaultNet[0], true, asked) : undefined;
    if (conf.clusterNetwork) {
      list.push(master ?? (await this.named(conf.clusterNetwork, 'clusterNetwork', true)));
      if (!isSystemNamespace(conf, this.#podNs)) {
        for (const [i, v] of (conf.defaultNetworks ?? []).entries())
          list.push(await this.named(v, `defaultNetworks[${i}]`, false));
      }
    } else {
      list.push(...delegatesFromConfig(conf));
      if (master) list[0] = master;
    }
    const wanted = parseNetworksAnnotation(annotations[NETWORKS_ANNOTATION] ?? '', this.#podNs);
    for (const sel of wanted) {
      checkIsolation(conf, this.#podNs, sel.namespace, sel.name);
      list.push(
        (await this.fromNad(sel, false, `${podRef} (annotation ${NETWORKS_ANNOTATION})`)) as Delegate,
      );
    }
    checkDefaultRoutes(list);
    return list;
  }
}

/** The device-info files of each attachment with a device, now that interface names are known. */
function withDeviceInfo(ctx: Ctx, drafts: readonly Delegate[]): Delegate[] {
  const dir = ctx.conf.deviceInfoDir || DEFAULT_DEVICE_INFO_DIR;
  const ifnames = assignIfnames(drafts, ctx.ifname);
  return drafts.map((d, i) => {
    const k = d.k8s;
    if (!k?.deviceID) return d;
    const file = cniDeviceInfoPath(dir, k.statusName, ctx.containerId, ifnames[i] as string);
    // a DRA device has no device plugin's file: its content was made from the slice's attributes
    const source =
      k.resourceName && !k.draDevice ? dpDeviceInfoPath(dir, k.resourceName, k.deviceID) : undefined;
    return {
      ...d,
      k8s: {
        ...k,
        capabilityArgs: { ...k.capabilityArgs, CNIDeviceInfoFile: file },
        deviceInfoFile: file,
        ...(source ? { deviceInfoSource: source } : {}),
      },
    };
  });
}

/** Multus's answer for a pod that is already gone: the interface name and 0.0.0.0/0, nothing attached. */
function goneResult(ctx: Ctx): PodNetworks {
  const gone = {
    cniVersion: ctx.cniVersion,
    interfaces: [{ name: ctx.ifname, sandbox: ctx.netns }],
    ips: [{ address: '0.0.0.0/0', gateway: '0.0.0.0' }],
  };
  return { delegates: [], gone, publish: async () => undefined, failed: async () => undefined };
}

/** Every pod annotation, as containerd and CRI-O pass them when the config declares the capability. */
export const POD_ANNOTATIONS_CAPABILITY = 'io.kubernetes.cri.pod-annotations';

/** The pod's annotations from the runtime (runtimeConfig), when it passed them; undefined otherwise. */
export function runtimeAnnotations(ctx: Ctx): Record<string, string> | undefined {
  const v = ctx.conf.runtimeConfig?.[POD_ANNOTATIONS_CAPABILITY];
  if (!v || typeof v !== 'object' || Array.isArray(v)) return undefined;
  const entries = Object.entries(v as Record<string, unknown>);
  if (entries.some(([, x]) => typeof x !== 'string')) return undefined;
  return Object.fromEntries(entries) as Record<string, string>;
}

export interface ResolveOptions {
  /** For a DEL without a readable cache: no Events, no network-status, a device that cannot be found is left out. */
  readonly forDel?: boolean;
}

/** A DEL run by the daemon reads nothing from the API: what its caches do not have is not known. */
function notCached(what: string): CniError {
  return new CniError(
    Code.TryAgainLater,
    `${what} is not in the daemon's watch cache, and a DEL does not wait for the API server`,
  );
}

/** The NAD: from the daemon's watch cache when it has it, else (never for the daemon's DEL) a GET. */
async function readNad(
  ctx: Ctx,
  client: KubeClient,
  ns: string,
  name: string,
  forDel: boolean,
): Promise<Nad | undefined> {
  const what = `NetworkAttachmentDefinition ${ns}/${name}`;
  const host = ctx.host?.kube;
  const cached = host?.nad(ns, name, forDel);
  if (cached) {
    log.verbose(`${what}: from the daemon's watch cache`);
    return asNad(cached);
  }
  if (host && forDel) throw notCached(what);
  return apiCall(`read ${what}`, () => getNad(client, ns, name));
}

/**
 * The pod as the runtime describes it (its annotations, the identity of CNI_ARGS) when the
 * runtime passed the annotations and `whole` (the spec and status too) is not asked: no GET. Else the daemon's cached pod when it has it (of this
 * uid), else the API server's pod (undefined: gone) — never for the daemon's DEL.
 */
async function readPod(
  ctx: Ctx,
  client: KubeClient,
  id: PodIdentity,
  forDel: boolean,
  whole = false,
): Promise<Pod | undefined> {
  const annotations = whole ? undefined : runtimeAnnotations(ctx);
  if (annotations) {
    log.verbose(
      `pod ${id.namespace}/${id.name}: annotations from the runtime (${POD_ANNOTATIONS_CAPABILITY}), no pod GET`,
    );
    return { metadata: { name: id.name, namespace: id.namespace, uid: id.uid || undefined, annotations } };
  }
  const podRef = `${id.namespace}/${id.name}`;
  const host = ctx.host?.kube;
  const cached = host?.pod(id.namespace, id.name, id.uid, forDel);
  if (cached) {
    log.verbose(`pod ${podRef}: from the daemon's watch cache, no pod GET`);
    return asPod(cached);
  }
  if (host && forDel) throw notCached(`pod ${podRef}`);
  const pod = await apiCall(`read pod ${podRef}`, () => getPod(client, id.namespace, id.name));
  if (pod && id.uid && pod.metadata.uid && pod.metadata.uid !== id.uid && !isStaticPod(pod)) {
    throw new CniError(
      Code.TryAgainLater,
      `pod ${podRef} in the API server has uid ${q(pod.metadata.uid)}, not ${q(id.uid)} (K8S_POD_UID): it was deleted and created again`,
    );
  }
  return pod;
}

/** Where the call's API requests go: the daemon's kept-alive connection, else the config's kubeconfig or the in-cluster config. */
function apiSource(ctx: Ctx): SharedConnection | ReturnType<typeof inClusterSource> {
  const host: KubeHost | undefined = ctx.host?.kube;
  if (host) return { server: host.server, send: (...args) => host.send(...args) };
  return ctx.conf.kubeconfig ? kubeconfigSource(ctx.conf.kubeconfig) : inClusterSource(ctx.env);
}

const draView = (a: {
  ifname: string;
  result: DraAttachment['result'];
  delegate: Delegate;
}): DraAttachment => ({
  ifname: a.ifname,
  result: a.result,
  draDevice: a.delegate.k8s?.draDevice,
});

/** The claims' network data: after the call in the daemon, bounded and awaited one-shot; never throws. */
async function writeDraStatus(
  ctx: Ctx,
  source: ReturnType<typeof apiSource>,
  attached: readonly DraAttachment[],
): Promise<void> {
  const perClaim = entriesByClaim(attached);
  if (perClaim.size > 0) await writeClaimStatuses(source, perClaim, ctx.host?.kube !== undefined);
}

/**
 * DEL of attachments backed by DRA devices: manifold's entries of their claims' status.devices
 * are removed (the claim may outlive the pod). Never throws.
 */
export async function releaseDraDevices(
  ctx: Ctx,
  attached: readonly { readonly delegate: Delegate }[],
): Promise<void> {
  const claims = new Set(
    attached.flatMap((a) => {
      const d = a.delegate.k8s?.draDevice;
      return d ? [`${d.namespace}/${d.claim}`] : [];
    }),
  );
  if (claims.size === 0) return;
  await writeClaimStatuses(
    apiSource(ctx),
    new Map([...claims].map((c) => [c, []])),
    ctx.host?.kube !== undefined,
  );
}

export async function resolvePodNetworks(
  ctx: Ctx,
  id: PodIdentity,
  opts: ResolveOptions = {},
): Promise<PodNetworks> {
  const conf = ctx.conf;
  const budget = new Budget((conf.kubeApiTimeoutSeconds ?? DEFAULT_KUBE_API_TIMEOUT_S) * 1000);
  const source = apiSource(ctx);
  const client = new KubeClient(source, budget);
  const podRef = `${id.namespace}/${id.name}`;
  const events = opts.forDel ? undefined : new PodEvents(source, id);
  try {
    const pod = await readPod(ctx, client, id, opts.forDel === true);
    if (!pod) {
      log.info(
        `${opts.forDel ? 'DEL' : 'ADD'} ${ctx.containerId}: pod ${podRef} not found (already deleted?): nothing attached, as Multus`,
      );
      client.close();
      return goneResult(ctx);
    }
    const resolver = new Resolver(ctx, client, pod, id, budget, opts.forDel === true);
    const delegates = withDeviceInfo(ctx, await resolver.delegates());
    return {
      delegates,
      publish: async (attached) => {
        try {
          await publishStatus(ctx.conf, client, pod, id, attached);
        } finally {
          client.close();
        }
        await writeDraStatus(ctx, source, attached.map(draView));
        await events?.added(attached);
      },
      failed: async (err) => {
        client.close();
        await events?.failed(err);
      },
    };
  } catch (err) {
    client.close();
    await events?.failed(err);
    throw err;
  }
}
