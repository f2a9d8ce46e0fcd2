/**
 * Hands out a pod's devices from Dynamic Resource Allocation to its attachments, the second
 * source besides the device plugins (device-ids.ts): for a NAD with
 * `k8s.v1.cni.cncf.io/resourceName`, the next unused device of the pod's allocated claims whose
 * ResourceSlice attributes carry `k8s.cni.cncf.io/resourceName` equal to it (as Multus's main
 * branch matches them), its PCI address from `k8s.cni.cncf.io/deviceID` or a driver's PCI
 * attribute. Claims, then results, in the order the pod and the allocation list them: the same
 * device for the same attachment on every retry. Read once per call, and only for a pod with
 * claims that asks for a resource. The matching itself is pure (`claimDevices`) for the tests.
 */
import { CniError, Code, q } from '../../cni/errors.ts';
import type { JsonObject } from '../../cni/host.ts';
import type { KubeClient } from '../../k8s/client.ts';
import {
  type AllocationResult,
  asSlices,
  getClaim,
  listNodeSlices,
  type ResourceClaim,
  type ResourceSlice,
} from '../../k8s/dra.ts';
import { log } from '../../util/log.ts';
import type { DraDeviceRef } from '../pod-attachment.ts';
import { apiCall } from './api-call.ts';

export const DRA_RESOURCE_NAME_ATTRIBUTE = 'k8s.cni.cncf.io/resourceName';
/** Where the PCI address is read from, first found wins: Multus's, Kubernetes' standard one, dra-driver-sriov's. */
export const DRA_PCI_ATTRIBUTES = [
  'k8s.cni.cncf.io/deviceID',
  'resource.kubernetes.io/pciBusID',
  'sriovnetwork.k8snetworkplumbingwg.io/pciAddress',
] as const;
/** dra-driver-sriov's attribute for a VF's physical function (device-info's pf-pci-address). */
export const DRA_PF_ATTRIBUTE = 'sriovnetwork.k8snetworkplumbingwg.io/parentPciAddress';

type Attributes = Readonly<Record<string, { readonly string?: string | undefined }>>;

/** One of the pod's claims as its spec and status name it. */
export interface PodClaimRef {
  /** The name in pod.spec.resourceClaims. */
  readonly podClaimName: string;
  /** The ResourceClaim's name; undefined while a template's claim has not been generated. */
  readonly claimName: string | undefined;
}

/** An allocated device that can back an attachment. */
export interface ClaimDevice extends DraDeviceRef {
  readonly resourceName: string;
  readonly pciAddress: string;
  readonly pfPciAddress?: string | undefined;
}

const obj = (v: unknown): Record<string, unknown> =>
  v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
const list = (v: unknown): Record<string, unknown>[] => (Array.isArray(v) ? v.map(obj) : []);
const str = (v: unknown): string | undefined => (typeof v === 'string' && v ? v : undefined);

/** The pod's claims: `spec.resourceClaims`, a template's generated name from `status.resourceClaimStatuses`. */
export function podClaimRefs(pod: unknown): PodClaimRef[] {
  const p = obj(pod);
  const generated = new Map<string, string | undefined>();
  for (const s of list(obj(p.status).resourceClaimStatuses)) {
    const n = str(s.name);
    if (n) generated.set(n, str(s.resourceClaimName));
  }
  return list(obj(p.spec).resourceClaims).flatMap((c) => {
    const podClaimName = str(c.name);
    if (!podClaimName) return [];
    const direct = str(c.resourceClaimName);
    return [{ podClaimName, claimName: direct ?? generated.get(podClaimName) }];
  });
}

const key = (driver: string, pool: string, device: string) => `${driver}\u0000${pool}\u0000${device}`;

/** The attributes of every device the slices publish, by driver, pool and device. */
export function sliceIndex(slices: readonly ResourceSlice[]): Map<string, Attributes> {
  const out = new Map<string, Attributes>();
  for (const s of slices)
    for (const d of s.spec.devices ?? [])
      out.set(key(s.spec.driver, s.spec.pool.name, d.name), (d.attributes ?? {}) as Attributes);
  return out;
}

/**
 * The network devices of the allocated claims, in claim order then result order: those whose
 * attributes carry a resource name and a PCI address (others are not for a NAD: skipped, as
 * Multus skips them).
 */
export function claimDevices(
  namespace: string,
  claims: readonly ResourceClaim[],
  index: ReadonlyMap<string, Attributes>,
): ClaimDevice[] {
  const out: ClaimDevice[] = [];
  for (const c of claims) {
    for (const r of c.status?.allocation?.devices?.results ?? []) {
      const d = deviceOf(namespace, c.metadata.name, r, index);
      if (d) out.push(d);
    }
  }
  return out;
}

function deviceOf(
  namespace: string,
  claim: string,
  r: AllocationResult,
  index: ReadonlyMap<string, Attributes>,
): ClaimDevice | undefined {
  const what = `claim ${namespace}/${claim}: device ${r.driver}/${r.pool}/${r.device}`;
  const attrs = index.get(key(r.driver, r.pool, r.device));
  if (!attrs) {
    log.verbose(`${what}: in no ResourceSlice of this node, not a network device here`);
    return undefined;
  }
  const resourceName = attrs[DRA_RESOURCE_NAME_ATTRIBUTE]?.string;
  const pciAddress = DRA_PCI_ATTRIBUTES.map((a) => attrs[a]?.string).find((v) => !!v);
  if (!resourceName || !pciAddress) {
    log.verbose(
      `${what}: no ${resourceName ? 'PCI address' : DRA_RESOURCE_NAME_ATTRIBUTE} attribute, skipped`,
    );
    return undefined;
  }
  const pf = attrs[DRA_PF_ATTRIBUTE]?.string;
  return {
    namespace,
    claim,
    driver: r.driver,
    pool: r.pool,
    device: r.device,
    resourceName,
    pciAddress,
    ...(pf ? { pfPciAddress: pf } : {}),
  };
}

interface Loaded {
  readonly devices: ClaimDevice[];
  /** Claims that exist and are allocated. */
  readonly allocated: string[];
  /** Claims not allocated (or not created yet), with why. */
  readonly pending: string[];
}

export class DraAllocator {
  readonly #client: KubeClient;
  readonly #namespace: string;
  readonly #podRef: string;
  readonly #refs: PodClaimRef[];
  readonly #nodeName: string | undefined;
  #loaded: Promise<Loaded> | undefined;
  readonly #used = new Map<string, number>();
  readonly #cachedSlices: ((node: string) => readonly JsonObject[] | undefined) | undefined;

  /** `cachedSlices`: the daemon's watch of the node's ResourceSlices (undefined answer: list them). */
  constructor(
    client: KubeClient,
    pod: unknown,
    namespace: string,
    podRef: string,
    cachedSlices?: (node: string) => readonly JsonObject[] | undefined,
  ) {
    this.#client = client;
    this.#cachedSlices = cachedSlices;
    this.#namespace = namespace;
    this.#podRef = podRef;
    this.#refs = podClaimRefs(pod);
    this.#nodeName = str(obj(obj(pod).spec).nodeName);
  }

  /** Whether the pod has claims at all (else nothing is read and the device plugins alone apply). */
  get hasClaims(): boolean {
    return this.#refs.length > 0;
  }

  async #load(): Promise<Loaded> {
    const claims: ResourceClaim[] = [];
    const pending: string[] = [];
    for (const ref of this.#refs) {
      if (!ref.claimName) {
        pending.push(
          `pod claim ${q(ref.podClaimName)} has no ResourceClaim yet (status.resourceClaimStatuses names none)`,
        );
        continue;
      }
      const name = ref.claimName;
      const what = `ResourceClaim ${this.#namespace}/${name}`;
      const claim = await apiCall(`read ${what}`, () => getClaim(this.#client, this.#namespace, name));
      if (!claim) pending.push(`${what} does not exist`);
      else if (!claim.status?.allocation) pending.push(`${what} is not allocated (no status.allocation)`);
      else claims.push(claim);
    }
    let devices: ClaimDevice[] = [];
    if (claims.length > 0) {
      if (!this.#nodeName) {
        throw new CniError(
          Code.TryAgainLater,
          `${this.#podRef} has allocated claims but no spec.nodeName: its node's ResourceSlices cannot be read`,
        );
      }
      const node = this.#nodeName;
      const cached = this.#cachedSlices?.(node);
      if (cached) log.verbose(`ResourceSlices of node ${node}: from the daemon's watch cache`);
      const slices = cached
        ? await apiCall(`read the cached ResourceSlices of node ${node}`, async () => asSlices(cached))
        : await apiCall(`list the ResourceSlices of node ${node}`, () => listNodeSlices(this.#client, node));
      devices = claimDevices(this.#namespace, claims, sliceIndex(slices));
    }
    return { devices, allocated: claims.map((c) => `${this.#namespace}/${c.metadata.name}`), pending };
  }

  /**
   * The next claim device of `resource` for the attachment to `network`; undefined when no
   * device of the pod's claims is of that resource (the device plugins' then). Code 11 when a
   * claim is not allocated yet and none matches; code 7 when they all are used.
   */
  async take(resource: string, network: string): Promise<ClaimDevice | undefined> {
    if (!this.hasClaims) return undefined;
    this.#loaded ??= this.#load();
    const l = await this.#loaded;
    const matching = l.devices.filter((d) => d.resourceName === resource);
    const n = this.#used.get(resource) ?? 0;
    const d = matching[n];
    if (d) {
      this.#used.set(resource, n + 1);
      log.info(
        `${this.#podRef}: ${network} gets ${resource} device ${d.pciAddress} (DRA claim ${d.namespace}/${d.claim}: ${d.driver}/${d.pool}/${d.device})`,
      );
      return d;
    }
    if (matching.length > 0) {
      throw new CniError(
        Code.InvalidConfig,
        `network ${q(network)} needs a device of resource ${q(resource)}, but ${this.#podRef}'s claims (${[...new Set(matching.map((m) => `${m.namespace}/${m.claim}`))].join(', ')}) have ${matching.length} allocated and earlier attachments use ${matching.length === 1 ? 'it' : 'them'}`,
        'request one device per attachment of this network in the claim',
      );
    }
    if (l.pending.length > 0) {
      throw new CniError(
        Code.TryAgainLater,
        `network ${q(network)} needs a device of resource ${q(resource)}: ${l.pending.join('; ')}`,
        "the scheduler allocates a pod's claims before it binds the pod; the runtime will try again",
      );
    }
    return undefined;
  }

  /** For a message: what the pod's claims hold, when none matched a resource. */
  describeUnmatched(resource: string): string | undefined {
    if (!this.hasClaims) return undefined;
    const names = this.#refs.map((r) => `${this.#namespace}/${r.claimName ?? r.podClaimName}`);
    return `no device of ${this.#podRef}'s claims (${names.join(', ')}) carries ${DRA_RESOURCE_NAME_ATTRIBUTE}=${q(resource)} in its node's ResourceSlices`;
  }
}
