/**
 * sriov config: sriov-cni's fields and validation rules (qos and proto need a vlan, a non-zero
 * qos or 802.1ad need a non-zero vlan, …), plus two manifold fields: `dataDir` and
 * `netdevReturnTimeout`. Cross-field rules fail as CNI error 7 naming the field and value.
 */
import { isAbsolute } from 'node:path';
import * as z from 'zod/mini';
import { invalidConfig, q } from '../../src/cni/errors.ts';
import { macString, NetConfSchema, RuntimeConfigSchema, uint } from '../../src/cni/netconf.ts';
import { parseWith } from '../../src/cni/validate.ts';
import type { PfWant } from './state.ts';

export type { PfWant } from './state.ts';

export const DEFAULT_DATA_DIR = '/var/lib/cni/manifold-sriov';
export const DEFAULT_NETDEV_RETURN_TIMEOUT = 5000;

/** A PCI address, `dddd:bb:dd.f` (domain optional, as `bb:dd.f`); normalised to lower case with a domain. */
const PCI_RE = /^(?:([0-9a-fA-F]{4,8}):)?([0-9a-fA-F]{2}):([0-1][0-9a-fA-F])\.([0-7])$/;
export const pciAddress = z.string().check(
  z.regex(PCI_RE, {
    message: 'must be a PCI address like 0000:03:02.3',
  }),
);

export function normalizePci(s: string): string {
  const m = PCI_RE.exec(s);
  if (!m) return s;
  return `${(m[1] ?? '0000').toLowerCase()}:${m[2]?.toLowerCase()}:${m[3]?.toLowerCase()}.${m[4]}`;
}

/** sriov-cni (Go) treats "" as not set wherever a MAC or device ID comes from. */
const orEmpty = (t: z.ZodMiniType<string>, message: string) =>
  z.string().check(z.refine((s) => s === '' || t.safeParse(s).success, { message }));
const pciOrEmpty = orEmpty(pciAddress, 'must be a PCI address like 0000:03:02.3');
const macOrEmpty = orEmpty(macString, 'must be a MAC address like 0a:58:0a:f4:00:05');

/** Go's `*int`: null is "not set". */
const optionalNullable = <T extends z.ZodMiniType>(t: T) =>
  z.pipe(
    z.nullish(t),
    z.transform((v: z.output<T> | null | undefined) => v ?? undefined),
  );
/** sriov-cni's string fields with `omitempty`: "" is "not set". */
const optionalEnum = <const V extends readonly [string, ...string[]]>(values: V) => {
  const inner = z.optional(z.enum(['', ...values]));
  return z.pipe(
    inner,
    z.transform((v: z.output<typeof inner>) => (v === '' ? undefined : (v as V[number] | undefined))),
  );
};

export const SriovConfSchema = z.extend(NetConfSchema, {
  /** The VF's PCI address (the device plugin's, through Multus). */
  deviceID: z.optional(pciOrEmpty),
  /** What Multus sets for some device plugins; used when deviceID is missing. */
  pciBusID: z.optional(pciOrEmpty),
  vlan: optionalNullable(z.int().check(z.minimum(0), z.maximum(4094))),
  vlanQoS: optionalNullable(z.int().check(z.minimum(0), z.maximum(7))),
  /** 802.1q (default) or 802.1ad, any case (sriov-cni lower-cases it). */
  vlanProto: optionalNullable(
    z.pipe(
      z.pipe(
        z.string(),
        z.transform((s: string) => s.toLowerCase()),
      ),
      z.enum(['802.1q', '802.1ad']),
    ),
  ),
  mac: z.optional(macOrEmpty),
  runtimeConfig: z.optional(
    z.extend(RuntimeConfigSchema, {
      mac: z.optional(macOrEmpty),
      deviceID: z.optional(pciOrEmpty),
    }),
  ),
  spoofchk: optionalEnum(['on', 'off']),
  trust: optionalEnum(['on', 'off']),
  link_state: optionalEnum(['auto', 'enable', 'disable']),
  /** Mbps; 0 = no limit. */
  min_tx_rate: optionalNullable(uint),
  max_tx_rate: optionalNullable(uint),
  logLevel: z.optional(z.string()),
  logFile: z.optional(z.string()),
  /** manifold: where VF records and locks live. */
  dataDir: z.optional(z.string().check(z.refine(isAbsolute, { message: 'must be an absolute path' }))),
  /** manifold: ms DEL waits for the kernel to return a VF netdev whose pod netns is gone. */
  netdevReturnTimeout: z.optional(uint.check(z.maximum(600_000))),
});

export interface SriovConf extends z.output<typeof SriovConfSchema> {
  /** runtimeConfig.deviceID, else deviceID, else pciBusID; normalised. */
  readonly effectiveDeviceID: string | undefined;
  /** runtimeConfig.mac, else CNI_ARGS MAC, else `mac`; lower case. */
  readonly effectiveMac: string | undefined;
  readonly want: PfWant;
  readonly effectiveDataDir: string;
  readonly effectiveReturnTimeout: number;
}

function isMulticast(mac: string): boolean {
  return (Number.parseInt(mac.slice(0, 2), 16) & 1) === 1;
}

/** sriov-cni's vlan rules, as error 7 naming the field and its value. */
function checkVlan(c: z.output<typeof SriovConfSchema>): PfWant['vlan'] {
  if (c.vlan === undefined) {
    if (c.vlanQoS !== undefined) throw invalidConfig('vlanQoS', `needs "vlan" to be set; got ${c.vlanQoS}`);
    if (c.vlanProto !== undefined)
      throw invalidConfig('vlanProto', `needs "vlan" to be set; got ${q(c.vlanProto)}`);
    return undefined;
  }
  const qos = c.vlanQoS ?? 0;
  const proto = c.vlanProto ?? '802.1q';
  if (qos !== 0 && c.vlan === 0)
    throw invalidConfig('vlanQoS', `a non-zero QoS needs a non-zero "vlan"; got ${qos} with vlan 0`);
  if (proto === '802.1ad' && c.vlan === 0)
    throw invalidConfig('vlanProto', `"802.1ad" needs a non-zero "vlan"; got vlan 0`);
  return { vlan: c.vlan, qos, proto };
}

export function parseSriovConf(
  raw: Record<string, unknown>,
  cniArgs: ReadonlyMap<string, string>,
): SriovConf {
  const c = parseWith(SriovConfSchema, raw);
  const device = c.runtimeConfig?.deviceID || c.deviceID || c.pciBusID || undefined;
  const argMac = cniArgs.get('MAC') || undefined;
  if (argMac !== undefined) parseWith(macString, argMac, 'CNI_ARGS MAC');
  const macField = c.runtimeConfig?.mac ? 'runtimeConfig.mac' : argMac ? 'CNI_ARGS MAC' : 'mac';
  const mac = (c.runtimeConfig?.mac || argMac || c.mac || undefined)?.toLowerCase();
  if (mac && (isMulticast(mac) || mac === '00:00:00:00:00:00'))
    throw invalidConfig(macField, `must be a unicast, non-zero MAC address; got ${q(mac)}`);

  if (c.min_tx_rate && c.max_tx_rate && c.min_tx_rate > c.max_tx_rate) {
    throw invalidConfig(
      'min_tx_rate',
      `must not exceed max_tx_rate (${c.max_tx_rate}); got ${c.min_tx_rate}`,
    );
  }
  const vlan = checkVlan(c);
  const want: PfWant = {
    ...(vlan ? { vlan } : {}),
    ...(mac ? { mac } : {}),
    ...(c.max_tx_rate !== undefined ? { maxTxRate: c.max_tx_rate } : {}),
    ...(c.min_tx_rate !== undefined ? { minTxRate: c.min_tx_rate } : {}),
    ...(c.spoofchk ? { spoofchk: c.spoofchk === 'on' } : {}),
    ...(c.trust ? { trust: c.trust === 'on' } : {}),
    ...(c.link_state ? { linkState: c.link_state } : {}),
  };
  return {
    ...c,
    effectiveDeviceID: device === undefined ? undefined : normalizePci(device),
    effectiveMac: mac,
    want,
    effectiveDataDir: c.dataDir ?? DEFAULT_DATA_DIR,
    effectiveReturnTimeout: c.netdevReturnTimeout ?? DEFAULT_NETDEV_RETURN_TIMEOUT,
  };
}
