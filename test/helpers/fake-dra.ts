/**
 * The Dynamic Resource Allocation part of the stand-in API server (fake-apiserver.ts routes
 * every `/apis/resource.k8s.io/` request here), kept apart because server-side apply of the
 * claim's `status.devices` list-map is most of it. Served as the API documents it:
 * - GET a ResourceClaim (`/apis/resource.k8s.io/v1/namespaces/{ns}/resourceclaims/{name}`);
 * - ResourceSlices are kept here (`slices`) but listed and watched by fake-apiserver.ts's
 *   collection code, as pods are (`fieldSelector=spec.nodeName=…`);
 * - PATCH `…/resourceclaims/{name}/status` as `application/apply-patch+yaml` only (415
 *   otherwise), with a `fieldManager` (400 without): the manager's set of `status.devices`
 *   entries (keyed by driver, pool, device) becomes exactly what it applies; an entry it owned
 *   and no longer applies goes (when no other manager owns it); an entry another manager owns
 *   with different values is a 409 conflict unless `force=true`; every entry must be a device
 *   of the allocation, ips CIDRs and at most 16 (422); the apply's other status fields are
 *   ignored (the fake only serves status.devices); the driver of each entry the apply sets or
 *   removes must be granted `associated-node:patch` on `resourceclaims/driver` (403).
 * `appliedBy` shows each entry's manager, `applyAs` lets a test apply as another manager.
 */
import { parse as parseYaml } from 'yaml';

export interface ClaimSpec {
  readonly namespace: string;
  readonly name: string;
  /** status.allocation.devices.results; absent: not allocated. */
  readonly results?: readonly { request?: string; driver: string; pool: string; device: string }[];
}

export interface SliceSpec {
  readonly name: string;
  readonly driver: string;
  readonly pool: string;
  readonly nodeName: string;
  readonly devices: readonly {
    name: string;
    attributes?: Record<string, { string?: string; int?: number }>;
  }[];
}

type Json = Record<string, unknown>;

interface Reply {
  readonly code: number;
  readonly body: unknown;
}

export interface Authz {
  readonly verb: string;
  readonly group: string;
  readonly resource: string;
  readonly name?: string;
}

const status = (code: number, reason: string, message: string) => ({
  kind: 'Status',
  apiVersion: 'v1',
  metadata: {},
  status: 'Failure',
  message,
  reason,
  code,
});

const entryKey = (e: Json) => `${String(e.driver)}/${String(e.pool)}/${String(e.device)}`;
const CIDR = /^(\d{1,3}(\.\d{1,3}){3}\/\d{1,2}|[0-9a-fA-F:]+\/\d{1,3})$/;

export class DraStore {
  readonly claims = new Map<string, Json & { metadata: Json; status: Json }>();
  readonly slices = new Map<string, Json>();
  /** Per claim: entry key → the field manager that owns it. */
  readonly #owners = new Map<string, Map<string, string>>();
  readonly #rv: () => string;

  constructor(rv: () => string) {
    this.#rv = rv;
  }

  addClaim(c: ClaimSpec): void {
    const k = `${c.namespace}/${c.name}`;
    this.claims.set(k, {
      apiVersion: 'resource.k8s.io/v1',
      kind: 'ResourceClaim',
      metadata: { name: c.name, namespace: c.namespace, uid: `claim-${c.name}`, resourceVersion: this.#rv() },
      spec: { devices: { requests: [{ name: 'vf', exactly: { deviceClassName: 'sriov-vf' } }] } },
      status: c.results ? { allocation: { devices: { results: structuredClone(c.results) } } } : {},
    });
    this.#owners.delete(k);
  }

  addSlice(s: SliceSpec): void {
    this.slices.set(s.name, {
      apiVersion: 'resource.k8s.io/v1',
      kind: 'ResourceSlice',
      metadata: { name: s.name, resourceVersion: this.#rv() },
      spec: {
        driver: s.driver,
        pool: { name: s.pool, generation: 1, resourceSliceCount: 1 },
        nodeName: s.nodeName,
        devices: structuredClone(s.devices),
      },
    });
  }

  /** The claim's status.devices. */
  devices(namespace: string, name: string): Json[] {
    return ((this.claims.get(`${namespace}/${name}`)?.status.devices as Json[] | undefined) ?? []).map((d) =>
      structuredClone(d),
    );
  }

  /** Which manager owns each entry of the claim's status.devices (`driver/pool/device` → manager). */
  appliedBy(namespace: string, name: string): Record<string, string> {
    return Object.fromEntries(this.#owners.get(`${namespace}/${name}`) ?? []);
  }

  /** Applies status.devices entries as another manager (a DRA driver writing its own). */
  applyAs(namespace: string, name: string, manager: string, devices: Json[]): Reply {
    return this.#apply(namespace, name, manager, { status: { devices } }, false, () => true);
  }

  serve(method: string, url: URL, contentType: string, body: string, allowed: (a: Authz) => boolean): Reply {
    const p = url.pathname;
    const m = /^\/apis\/resource\.k8s\.io\/v1\/namespaces\/([^/]+)\/resourceclaims\/([^/]+)(\/status)?$/.exec(
      p,
    );
    if (!m)
      return { code: 404, body: status(404, 'NotFound', 'the server could not find the requested resource') };
    const ns = decodeURIComponent(m[1] ?? '');
    const name = decodeURIComponent(m[2] ?? '');
    const claim = this.claims.get(`${ns}/${name}`);
    if (!claim) {
      return {
        code: 404,
        body: status(404, 'NotFound', `resourceclaims.resource.k8s.io "${name}" not found`),
      };
    }
    if (method === 'GET' && !m[3]) return { code: 200, body: claim };
    if (method !== 'PATCH' || !m[3]) {
      return {
        code: 405,
        body: status(
          405,
          'MethodNotAllowed',
          'the server does not allow this method on the requested resource',
        ),
      };
    }
    if (contentType.split(';')[0]?.trim() !== 'application/apply-patch+yaml') {
      return {
        code: 415,
        body: status(
          415,
          'UnsupportedMediaType',
          'the fake serves resourceclaims/status by server-side apply only',
        ),
      };
    }
    const manager = url.searchParams.get('fieldManager') ?? '';
    if (!manager) {
      return {
        code: 400,
        body: status(
          400,
          'BadRequest',
          'PATCH, application/apply-patch+yaml: fieldManager is required for apply requests',
        ),
      };
    }
    let applied: unknown;
    try {
      applied = parseYaml(body);
    } catch (err) {
      return { code: 400, body: status(400, 'BadRequest', `error decoding YAML: ${(err as Error).message}`) };
    }
    return this.#apply(ns, name, manager, applied, url.searchParams.get('force') === 'true', allowed);
  }

  #apply(
    ns: string,
    name: string,
    manager: string,
    applied: unknown,
    force: boolean,
    allowed: (a: Authz) => boolean,
  ): Reply {
    const k = `${ns}/${name}`;
    const claim = this.claims.get(k);
    if (!claim)
      return {
        code: 404,
        body: status(404, 'NotFound', `resourceclaims.resource.k8s.io "${name}" not found`),
      };
    const a = (applied && typeof applied === 'object' ? applied : {}) as Json;
    const meta = (a.metadata ?? {}) as Json;
    if (
      (meta.name !== undefined && meta.name !== name) ||
      (meta.namespace !== undefined && meta.namespace !== ns)
    ) {
      return {
        code: 400,
        body: status(400, 'BadRequest', 'the name or namespace of the object does not match the request'),
      };
    }
    const list = (((a.status ?? {}) as Json).devices ?? []) as Json[];
    if (!Array.isArray(list))
      return { code: 422, body: status(422, 'Invalid', 'status.devices: must be a list') };
    const invalid = (msg: string) => ({
      code: 422,
      body: status(422, 'Invalid', `ResourceClaim.resource.k8s.io "${name}" is invalid: ${msg}`),
    });
    const allocated = new Set(
      (
        ((((claim.status.allocation ?? {}) as Json).devices ?? {}) as Json).results as Json[] | undefined
      )?.map(entryKey) ?? [],
    );
    const seen = new Set<string>();
    for (const [i, e] of list.entries()) {
      const key = entryKey(e);
      if (seen.has(key)) return invalid(`status.devices[${i}]: Duplicate value: ${key}`);
      seen.add(key);
      if (!allocated.has(key))
        return invalid(
          `status.devices[${i}]: Invalid value: "${key}": must be an allocated device in the claim`,
        );
      const nd = (e.networkData ?? {}) as Json;
      const ips = (nd.ips ?? []) as unknown[];
      if (ips.length > 16)
        return invalid(
          `status.devices[${i}].networkData.ips: Too many: ${ips.length}: must have at most 16 items`,
        );
      for (const [j, ip] of ips.entries())
        if (typeof ip !== 'string' || !CIDR.test(ip))
          return invalid(
            `status.devices[${i}].networkData.ips[${j}]: Invalid value: "${String(ip)}": must be a valid address in CIDR form`,
          );
    }
    const owners = this.#owners.get(k) ?? new Map<string, string>();
    const current = new Map(
      ((claim.status.devices as Json[] | undefined) ?? []).map((e) => [entryKey(e), e]),
    );
    // conflicts: an entry another manager owns, applied with other values
    for (const e of list) {
      const key = entryKey(e);
      const owner = owners.get(key);
      if (owner && owner !== manager && !force && JSON.stringify(current.get(key)) !== JSON.stringify(e)) {
        return {
          code: 409,
          body: status(
            409,
            'Conflict',
            `Apply failed with 1 conflict: conflict with "${owner}": .status.devices[driver="${String(e.driver)}",device="${String(e.device)}",pool="${String(e.pool)}"]`,
          ),
        };
      }
    }
    const removed = [...owners].filter(([key, m]) => m === manager && !seen.has(key)).map(([key]) => key);
    // the synthetic subresource, per driver of what the apply changes
    const drivers = new Set([
      ...list.map((e) => String(e.driver)),
      ...removed.map((key) => key.split('/')[0] ?? ''),
    ]);
    for (const driver of drivers) {
      if (!allowed({ verb: 'patch', group: 'resource.k8s.io', resource: 'resourceclaims/status', name }))
        break;
      if (
        !allowed({
          verb: 'associated-node:patch',
          group: 'resource.k8s.io',
          resource: 'resourceclaims/driver',
          name: driver,
        })
      ) {
        return {
          code: 403,
          body: status(
            403,
            'Forbidden',
            `resourceclaims.resource.k8s.io "${name}" is forbidden: User "system:serviceaccount:kube-system:manifold" cannot associated-node:patch resource "resourceclaims/driver" in API group "resource.k8s.io" in the namespace "${ns}": the status.devices entries of driver "${driver}" need it`,
          ),
        };
      }
    }
    for (const key of removed) {
      owners.delete(key);
      current.delete(key);
    }
    for (const e of list) {
      current.set(entryKey(e), structuredClone(e));
      owners.set(entryKey(e), manager);
    }
    this.#owners.set(k, owners);
    const devices = [...current.values()];
    if (devices.length) claim.status.devices = devices;
    else delete claim.status.devices;
    claim.metadata.resourceVersion = this.#rv();
    return { code: 200, body: claim };
  }
}
