/**
 * The CNI result, modelled once in its 1.1.0 shape, and its conversion to and from every
 * supported spec version. 0.3.0/0.3.1/0.4.0 differ from 1.x only in that interfaces have no
 * mtu/socketPath/pciID and each IP carries `version: "4" | "6"`; 0.1.0/0.2.0 have their own
 * shape (`ip4`/`ip6`, result020.ts).
 */
import { familyOf } from '../ip/ip.ts';
import { CniError, Code, q } from './errors.ts';
import { decodeV02, encodeV02, isV02, type V02IPConfig } from './result020.ts';
import { isLegacyResult, isSupported } from './versions.ts';

export interface Interface {
  name: string;
  mac?: string | undefined;
  mtu?: number | undefined;
  sandbox?: string | undefined;
  socketPath?: string | undefined;
  pciID?: string | undefined;
}

export interface IPConfig {
  /** CIDR: address with its prefix length. */
  address: string;
  gateway?: string | undefined;
  /** Index into `interfaces`. */
  interface?: number | undefined;
}

export interface Route {
  dst: string;
  gw?: string | undefined;
  mtu?: number | undefined;
  advmss?: number | undefined;
  priority?: number | undefined;
  table?: number | undefined;
  scope?: number | undefined;
}

export interface DNS {
  nameservers?: string[] | undefined;
  domain?: string | undefined;
  search?: string[] | undefined;
  options?: string[] | undefined;
}

export interface Result {
  cniVersion: string;
  interfaces?: Interface[] | undefined;
  ips?: IPConfig[] | undefined;
  routes?: Route[] | undefined;
  dns?: DNS | undefined;
}

type Json = Record<string, unknown>;

function pick<T extends object>(src: T, keys: readonly (keyof T)[]): Json {
  const out: Json = {};
  for (const k of keys) {
    const v = src[k];
    if (v !== undefined && v !== '') out[k as string] = v;
  }
  return out;
}

const ROUTE_KEYS = ['dst', 'gw', 'mtu', 'advmss', 'priority', 'table', 'scope'] as const;
const DNS_KEYS = ['nameservers', 'domain', 'search', 'options'] as const;

/**
 * Encodes a result as the JSON object of spec version `version`, keys in the order the
 * reference library prints them (cniVersion, interfaces, ips, routes, dns).
 */
export function encodeResult(r: Result, version: string): Json {
  if (!isSupported(version)) {
    throw new CniError(
      Code.IncompatibleVersion,
      `cannot convert result to unsupported version ${q(version)}`,
    );
  }
  if (isV02(version)) return encodeV02(r, version, encodeDns(r.dns));
  const legacy = isLegacyResult(version);
  const out: Json = { cniVersion: version };
  if (r.interfaces?.length) {
    const keys = legacy
      ? (['name', 'mac', 'sandbox'] as const)
      : (['name', 'mac', 'mtu', 'sandbox', 'socketPath', 'pciID'] as const);
    out.interfaces = r.interfaces.map((i) => pick(i, keys));
  }
  if (r.ips?.length) {
    out.ips = r.ips.map((ip) => {
      const o: Json = {};
      if (legacy) o.version = familyOf(ip.address) === 6 ? '6' : '4';
      if (ip.interface !== undefined) o.interface = ip.interface;
      o.address = ip.address;
      if (ip.gateway) o.gateway = ip.gateway;
      return o;
    });
  }
  if (r.routes?.length) out.routes = r.routes.map((rt) => pick(rt, ROUTE_KEYS));
  out.dns = encodeDns(r.dns);
  return out;
}

/** `dns` as the reference prints it: always there, empty lists left out. */
function encodeDns(d: DNS | undefined): Json {
  const dns = d ? pick(d, DNS_KEYS) : {};
  for (const k of ['nameservers', 'search', 'options'] as const) {
    if (Array.isArray(dns[k]) && (dns[k] as unknown[]).length === 0) delete dns[k];
  }
  return dns;
}

/** A result of any supported version, as the Result schema (netconf.ts) passes it. */
type Loose<T> = { [K in keyof T]: undefined extends T[K] ? T[K] | undefined : T[K] };
export interface AnyVersionResult {
  cniVersion?: string | undefined;
  interfaces?: Loose<Interface>[] | undefined;
  ips?: (Loose<IPConfig> & { version?: string | undefined })[] | undefined;
  routes?: Loose<Route>[] | undefined;
  dns?: Loose<DNS> | undefined;
  /** 0.1.0/0.2.0 */
  ip4?: V02IPConfig | undefined;
  ip6?: V02IPConfig | undefined;
}

/**
 * Reads a result of any supported version into the 1.1.0 model: `ips[].version` is dropped,
 * unknown fields are left behind; nothing else changes meaning.
 */
export function decodeResult(r: AnyVersionResult, fallbackVersion: string): Result {
  const version = r.cniVersion || fallbackVersion;
  if (!isSupported(version)) {
    throw new CniError(Code.IncompatibleVersion, `unsupported result version ${q(version)}`);
  }
  const out: Result = { cniVersion: version };
  if (r.interfaces) {
    out.interfaces = r.interfaces.map((i) => ({
      name: i.name,
      ...(pick(i, ['mac', 'mtu', 'sandbox', 'socketPath', 'pciID']) as Omit<Interface, 'name'>),
    }));
  }
  if (r.ips) {
    out.ips = r.ips.map((ip) => ({
      address: ip.address,
      ...(pick(ip, ['gateway', 'interface']) as Omit<IPConfig, 'address'>),
    }));
  }
  if (r.routes)
    out.routes = r.routes.map((rt) => ({ dst: rt.dst, ...(pick(rt, ROUTE_KEYS) as Omit<Route, 'dst'>) }));
  if (r.ip4 || r.ip6) {
    const v02 = decodeV02(r.ip4, r.ip6);
    out.ips = [...(out.ips ?? []), ...v02.ips];
    out.routes = [...(out.routes ?? []), ...v02.routes];
  }
  if (r.dns) out.dns = pick(r.dns, DNS_KEYS) as DNS;
  return out;
}

/** Serialises as the reference library does (4-space indent) with a trailing newline. */
export function printJson(obj: unknown): string {
  return `${JSON.stringify(obj, null, 4)}\n`;
}
