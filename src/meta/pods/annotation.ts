/**
 * The pod's network selection annotation `k8s.v1.cni.cncf.io/networks` (and
 * `v1.multus-cni.io/default-network`, same syntax), in both forms of the NPWG spec:
 *   - a comma list of `[namespace/]name[@interface]`;
 *   - a JSON list of {name, namespace, interface, ips, mac, default-route, cni-args,
 *     portMappings, bandwidth, infiniband-guid, deviceID} (a value containing `[`, `{` or `"`).
 * Anything malformed is CNI error 7 naming the annotation and quoting the bad part.
 */
import * as z from 'zod/mini';
import { CniError, Code } from '../../cni/errors.ts';
import { interfaceNameProblem } from '../../cni/names.ts';
import { ipOrCidrString, ipString, macString, uint } from '../../cni/netconf.ts';
import { parseWith } from '../../cni/validate.ts';
import { MultihomeShape, type OptionFields } from '../multihome/options.ts';

export const NETWORKS_ANNOTATION = 'k8s.v1.cni.cncf.io/networks';
export const DEFAULT_NETWORK_ANNOTATION = 'v1.multus-cni.io/default-network';

/** One attachment a pod asks for. */
export interface NetworkSelection {
  readonly name: string;
  readonly namespace: string;
  readonly interface?: string;
  readonly ips?: readonly string[];
  readonly mac?: string;
  /** Gateways for the pod's default route(s) through this attachment (`[]`: its own). */
  readonly defaultRoute?: readonly string[];
  readonly cniArgs?: Readonly<Record<string, unknown>>;
  readonly portMappings?: readonly Readonly<Record<string, unknown>>[];
  readonly bandwidth?: Readonly<Record<string, unknown>>;
  readonly infinibandGUID?: string;
  readonly deviceID?: string;
  /** manifold extension: multi-homing options for this attachment (docs/multihoming.md). */
  readonly multihome?: OptionFields;
}

const LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const labelProblem = (s: string) =>
  s.length > 63 || !LABEL.test(s)
    ? 'must be lower-case letters, digits and "-", starting and ending with a letter or digit (DNS-1123 label)'
    : undefined;
const subdomainProblem = (s: string) =>
  s.length > 253 || !s.split('.').every((l) => l.length <= 63 && LABEL.test(l))
    ? 'must be lower-case letters, digits, "-" and ".", each part starting and ending with a letter or digit (DNS-1123 subdomain)'
    : undefined;

const checked = (problem: (s: string) => string | undefined) =>
  z.string().check(
    z.superRefine((s, ctx) => {
      const p = problem(s);
      if (p) ctx.addIssue({ code: 'custom', message: p, input: s });
    }),
  );

const GUID_RE = /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){7}$/;
const port = z.int().check(z.minimum(0), z.maximum(65535));

const ElementSchema = z.looseObject({
  name: checked(subdomainProblem),
  namespace: z.nullish(z.union([z.literal(''), checked(labelProblem)])),
  interface: z.nullish(checked((s) => (s === '' ? undefined : interfaceNameProblem(s)))),
  /** Before NPWG spec 1.1 (Multus < 3.2). */
  interfaceRequest: z.nullish(checked((s) => (s === '' ? undefined : interfaceNameProblem(s)))),
  ips: z.nullish(z.array(ipOrCidrString)),
  mac: z.nullish(z.union([z.literal(''), macString])),
  'default-route': z.nullish(z.array(ipString)),
  'cni-args': z.nullish(z.record(z.string(), z.unknown())),
  portMappings: z.nullish(
    z.array(
      z.looseObject({
        hostPort: port,
        containerPort: port,
        protocol: z.optional(z.string()),
        hostIP: z.optional(z.string()),
      }),
    ),
  ),
  bandwidth: z.nullish(
    z.looseObject({
      ingressRate: z.optional(uint),
      ingressBurst: z.optional(uint),
      egressRate: z.optional(uint),
      egressBurst: z.optional(uint),
    }),
  ),
  'infiniband-guid': z.nullish(
    z.union([
      z.literal(''),
      z.string().check(z.regex(GUID_RE, { message: 'must be 8 bytes like 00:11:22:33:44:55:66:77' })),
    ]),
  ),
  deviceID: z.nullish(z.string()),
  /** manifold extension: this attachment's multi-homing options, over its network's and the meta config's. */
  manifold: z.nullish(z.strictObject(MultihomeShape)),
});

function fail(key: string, problem: string): CniError {
  return new CniError(Code.InvalidConfig, `pod annotation ${key}: ${problem}`);
}

/** At most `n` characters of `s`, for a message. */
function excerpt(s: string, n = 60): string {
  return JSON.stringify(s.length > n ? `${s.slice(0, n)}…` : s);
}

function fromJson(value: string, defaultNamespace: string, key: string): NetworkSelection[] {
  let raw: unknown;
  try {
    raw = JSON.parse(value);
  } catch (err) {
    const why = err instanceof Error ? err.message.split('\n')[0] : String(err);
    const at = /position (\d+)/.exec(why ?? '');
    const pos = at ? Number(at[1]) : value.length;
    const from = Math.max(0, pos - 20);
    throw fail(
      key,
      `not valid JSON near ${excerpt(value.slice(from, pos + 20))} (at offset ${pos}): ${(why ?? '').replace(/, ".*" is not valid JSON$/, '')}`,
    );
  }
  if (!Array.isArray(raw)) throw fail(key, `the JSON form must be a list of objects; got ${excerpt(value)}`);
  const list = parseWith(z.array(ElementSchema), raw, `pod annotation ${key}`);
  return list.map((e): NetworkSelection => {
    const ifname = e.interface || e.interfaceRequest || undefined;
    return {
      name: e.name,
      namespace: e.namespace || defaultNamespace,
      ...(ifname ? { interface: ifname } : {}),
      ...(e.ips ? { ips: e.ips } : {}),
      ...(e.mac ? { mac: e.mac.toLowerCase() } : {}),
      ...(e['default-route'] ? { defaultRoute: e['default-route'] } : {}),
      ...(e['cni-args'] ? { cniArgs: e['cni-args'] } : {}),
      ...(e.portMappings ? { portMappings: e.portMappings } : {}),
      ...(e.bandwidth ? { bandwidth: e.bandwidth } : {}),
      ...(e['infiniband-guid'] ? { infinibandGUID: e['infiniband-guid'] } : {}),
      ...(e.deviceID ? { deviceID: e.deviceID } : {}),
      ...(e.manifold ? { multihome: e.manifold } : {}),
    };
  });
}

function fromItem(item: string, defaultNamespace: string, key: string): NetworkSelection {
  if (item === '')
    throw fail(key, 'an empty entry in the comma list (expected [namespace/]name[@interface])');
  const slash = item.split('/');
  if (slash.length > 2)
    throw fail(key, `${excerpt(item)}: more than one "/" (expected [namespace/]name[@interface])`);
  const namespace = slash.length === 2 ? (slash[0] ?? '').trim() : '';
  const at = (slash.length === 2 ? (slash[1] ?? '') : item).split('@');
  if (at.length > 2)
    throw fail(key, `${excerpt(item)}: more than one "@" (expected [namespace/]name[@interface])`);
  const name = (at[0] ?? '').trim();
  const ifname = (at[1] ?? '').trim();
  if (slash.length === 2) {
    const p = labelProblem(namespace);
    if (p) throw fail(key, `namespace ${excerpt(namespace)} in ${excerpt(item)} ${p}`);
  }
  const p = subdomainProblem(name);
  if (p) throw fail(key, `network name ${excerpt(name)} in ${excerpt(item)} ${p}`);
  if (at.length === 2) {
    const q = interfaceNameProblem(ifname);
    if (q) throw fail(key, `interface name ${excerpt(ifname)} in ${excerpt(item)} ${q}`);
  }
  return { name, namespace: namespace || defaultNamespace, ...(ifname ? { interface: ifname } : {}) };
}

/** The attachments of an annotation value; `[]` for an empty one. */
export function parseNetworksAnnotation(
  value: string,
  defaultNamespace: string,
  key = NETWORKS_ANNOTATION,
): NetworkSelection[] {
  if (value.trim() === '') return [];
  if (/[[{"]/.test(value)) return fromJson(value, defaultNamespace, key);
  return value.split(',').map((item) => fromItem(item.trim(), defaultNamespace, key));
}
