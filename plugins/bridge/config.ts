/** bridge config: the reference plugin's fields (containernetworking/plugins bridge). */
import * as z from 'zod/mini';
import { invalidConfig, q } from '../../src/cni/errors.ts';
import { interfaceNameProblem } from '../../src/cni/names.ts';
import { macString, NetConfSchema, uint } from '../../src/cni/netconf.ts';
import { parseWith } from '../../src/cni/validate.ts';
import { ipamType } from '../../src/ipam/client.ts';

export const DEFAULT_BRIDGE = 'cni0';
export const MAX_VLAN = 4094;

/** Why `name` cannot be a Linux interface name (counted in bytes, as the kernel does), or undefined when it can. */
export function badIfname(name: string): string | undefined {
  return interfaceNameProblem(name);
}

const ifname = z.string().check(
  z.superRefine((s, ctx) => {
    const why = s === '' ? undefined : badIfname(s);
    if (why) ctx.addIssue({ code: 'custom', message: `${why} (an interface name)`, input: s });
  }),
);

const vlanId = z
  .int()
  .check(
    z.refine((v) => v >= 0 && v <= MAX_VLAN, { message: `must be a VLAN ID between 0 and ${MAX_VLAN}` }),
  );

const trunkId = z
  .int()
  .check(
    z.refine((v) => v >= 1 && v <= MAX_VLAN, { message: `must be a VLAN ID between 1 and ${MAX_VLAN}` }),
  );

export const VlanTrunkSchema = z.looseObject({
  id: z.optional(trunkId),
  minID: z.optional(trunkId),
  maxID: z.optional(trunkId),
});

export const BridgeConfSchema = z.extend(NetConfSchema, {
  /** The bridge to create or reuse; "" or absent means cni0. */
  bridge: z.optional(ifname),
  isGateway: z.optional(z.boolean()),
  /** Implies isGateway; adds a default route via the gateway when IPAM gave none. */
  isDefaultGateway: z.optional(z.boolean()),
  forceAddress: z.optional(z.boolean()),
  ipMasq: z.optional(z.boolean()),
  /** The reference's backend choice; manifold always uses nftables (see README). */
  ipMasqBackend: z.optional(z.enum(['iptables', 'nftables'])),
  /** 0 = the kernel's default. */
  mtu: z.optional(uint),
  hairpinMode: z.optional(z.boolean()),
  promiscMode: z.optional(z.boolean()),
  vlan: z.optional(vlanId),
  vlanTrunk: z.optional(z.array(VlanTrunkSchema)),
  preserveDefaultVlan: z.optional(z.boolean()),
  macspoofchk: z.optional(z.boolean()),
  enabledad: z.optional(z.boolean()),
  disableContainerInterface: z.optional(z.boolean()),
  portIsolation: z.optional(z.boolean()),
  /** A fixed MAC for the pod interface (manifold extension; runtimeConfig.mac and CNI_ARGS MAC win). */
  mac: z.optional(macString),
});

export interface BridgeConf extends z.output<typeof BridgeConfSchema> {
  readonly brName: string;
  /** isGateway, or implied by isDefaultGateway. */
  readonly isGW: boolean;
  /** The trunk's VLANs, sorted and merged into ranges. */
  readonly trunk: readonly VlanRange[];
  /** VLAN filtering is needed (vlan or vlanTrunk given). */
  readonly vlanFiltering: boolean;
  /** runtimeConfig.mac, else args.cni.mac, else CNI_ARGS MAC, else `mac`. */
  readonly effectiveMac: string | undefined;
}

export interface VlanRange {
  readonly min: number;
  readonly max: number;
}

/**
 * The trunk's VLANs as sorted, merged ranges. Each entry is `{id}`, `{minID, maxID}` or both;
 * minID and maxID come together, minID ≤ maxID.
 */
export function collectTrunk(trunk: readonly z.output<typeof VlanTrunkSchema>[]): VlanRange[] {
  const ranges: VlanRange[] = [];
  trunk.forEach((t, i) => {
    const at = `vlanTrunk[${i}]`;
    if ((t.minID === undefined) !== (t.maxID === undefined)) {
      const missing = t.minID === undefined ? 'minID' : 'maxID';
      throw invalidConfig(`${at}.${missing}`, 'minID and maxID must be given together');
    }
    if (t.minID !== undefined && t.maxID !== undefined) {
      if (t.maxID < t.minID) {
        throw invalidConfig(`${at}.maxID`, `must not be smaller than minID ${t.minID}; got ${t.maxID}`);
      }
      ranges.push({ min: t.minID, max: t.maxID });
    }
    if (t.id !== undefined) ranges.push({ min: t.id, max: t.id });
  });
  ranges.sort((a, b) => a.min - b.min);
  const merged: VlanRange[] = [];
  for (const r of ranges) {
    const last = merged[merged.length - 1];
    if (last && r.min <= last.max + 1)
      merged[merged.length - 1] = { min: last.min, max: Math.max(last.max, r.max) };
    else merged.push(r);
  }
  return merged;
}

export function parseBridgeConf(
  raw: Record<string, unknown>,
  cniArgs: ReadonlyMap<string, string>,
): BridgeConf {
  const conf = parseWith(BridgeConfSchema, raw);
  const argMac = cniArgs.get('MAC') || undefined; // "" is not set, as in macvlan and the reference
  if (argMac !== undefined) parseWith(macString, argMac, 'CNI_ARGS MAC');
  const trunk = collectTrunk(conf.vlanTrunk ?? []);
  const brName = conf.bridge || DEFAULT_BRIDGE;
  const isGW = conf.isGateway === true || conf.isDefaultGateway === true;
  if (conf.vlan && isGW) {
    const why = badIfname(`${brName}.${conf.vlan}`);
    if (why) {
      throw invalidConfig(
        'bridge',
        `the VLAN gateway interface ${q(`${brName}.${conf.vlan}`)} (bridge name, ".", vlan) ${why}; use a shorter bridge name`,
      );
    }
  }
  return {
    ...conf,
    brName,
    isGW,
    trunk,
    vlanFiltering: (conf.vlan ?? 0) !== 0 || conf.vlanTrunk !== undefined,
    effectiveMac: conf.runtimeConfig?.mac ?? conf.args?.cni?.mac ?? argMac ?? conf.mac,
  };
}

/**
 * The combinations only ADD refuses (as the reference does): DEL and CHECK of an attachment
 * must keep working after such a config change.
 */
export function validateForAdd(conf: BridgeConf, raw: Readonly<Record<string, unknown>>): void {
  if (conf.hairpinMode && conf.promiscMode) {
    throw invalidConfig('promiscMode', 'cannot be true together with hairpinMode');
  }
  if (conf.disableContainerInterface && ipamType(raw)) {
    throw invalidConfig('ipam', 'cannot be used when disableContainerInterface is true');
  }
}
