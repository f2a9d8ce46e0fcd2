/**
 * The delegate list of a call: the inline `delegates`, or `clusterNetwork` and
 * `defaultNetworks` resolved from confDir (by network name) or from a path. The first is the
 * master (the pod's CNI_IFNAME). A delegate may carry a `manifold` object, which is ours and
 * is removed before the plugin sees the config: `{"ifname": "net5", "defaultRoute": true}`,
 * `{"exec": true}` (run its plugins' own binaries, never manifold's built-ins),
 * and the multi-homing options for this network (`{"policyRouting": true}`, docs/multihoming.md).
 */
import * as z from 'zod/mini';
import { CniError, Code, invalidConfig, q } from '../cni/errors.ts';
import { interfaceNameProblem } from '../cni/names.ts';
import { parseWith } from '../cni/validate.ts';
import { type Network, parseNetwork } from '../invoke/network.ts';
import type { MetaConf } from './config.ts';
import { findNetworkByName, readNetworkPath } from './files.ts';
import { MultihomeShape, type OptionFields } from './multihome/options.ts';
import type { PodAttachment } from './pod-attachment.ts';

export interface Delegate {
  readonly network: Network;
  /** Where it came from, for messages: `delegates[1]`, a file path. */
  readonly source: string;
  readonly master: boolean;
  /** The interface name asked for (else CNI_IFNAME for the master, net<i> for the others). */
  readonly ifnameRequest: string | undefined;
  /** This delegate's default route goes in the merged result (the master's otherwise). */
  readonly defaultRoute: boolean;
  /** The gateways the pod's `default-route` asks for through this delegate (at most one per family). */
  readonly gatewayRequest?: readonly string[];
  /** A Kubernetes pod's attachment: per-attachment arguments, device, network-status name. */
  readonly k8s?: PodAttachment;
  /** Multi-homing options of this network, over the meta config's. */
  readonly multihome?: OptionFields | undefined;
  /**
   * `manifold.exec`: every plugin of this network is executed from binDir/CNI_PATH, never run
   * in-process (a wrapped primary: only the provider's own binary cleans up its own state).
   */
  readonly exec?: boolean;
}

const ManifoldKey = z.optional(
  z.looseObject({
    ifname: z.optional(z.string()),
    defaultRoute: z.optional(z.boolean()),
    exec: z.optional(z.boolean()),
    ...MultihomeShape,
  }),
);

export type ManifoldKeyFields = NonNullable<z.output<typeof ManifoldKey>>;

/** A network config without its `manifold` object, and that object checked (field paths under `source`). */
export function splitManifoldKey(
  raw: Record<string, unknown>,
  source: string,
): { rest: Record<string, unknown>; ours: ManifoldKeyFields | undefined } {
  const { manifold, ...rest } = raw;
  const ours = parseWith(ManifoldKey, manifold, `${source}.manifold`);
  if (ours?.ifname !== undefined) {
    const problem = interfaceNameProblem(ours.ifname);
    if (problem) throw invalidConfig(`${source}.manifold.ifname`, `${q(ours.ifname)} ${problem}`);
  }
  return { rest, ours };
}

function toDelegate(
  raw: Record<string, unknown>,
  source: string,
  master: boolean,
  fallbackVersion: string,
): Delegate {
  const { rest, ours } = splitManifoldKey(raw, source);
  return {
    network: parseNetwork(rest, source, fallbackVersion),
    source,
    master,
    ifnameRequest: ours?.ifname,
    defaultRoute: ours?.defaultRoute === true,
    multihome: ours,
    ...(ours?.exec === true ? { exec: true } : {}),
  };
}

/** A clusterNetwork/defaultNetworks value: a network name in confDir, or a file or directory path. */
function resolveNamed(
  value: string,
  conf: MetaConf,
  field: string,
): { raw: Record<string, unknown>; source: string } {
  if (value.includes('/')) {
    const f = readNetworkPath(value);
    return { raw: f.raw, source: f.path };
  }
  const f = findNetworkByName(conf.confDirOrDefault, value);
  if (!f) {
    throw new CniError(
      Code.InvalidConfig,
      `${field}: no network named ${q(value)} in confDir ${q(conf.confDirOrDefault)}`,
    );
  }
  return { raw: f.raw, source: f.path };
}

/** The config field a delegate comes from: `delegates[1]`, `clusterNetwork`, `defaultNetworks[0]`. */
export function delegateField(conf: MetaConf, i: number): string {
  if (!conf.clusterNetwork) return `delegates[${i}]`;
  return i === 0 ? 'clusterNetwork' : `defaultNetworks[${i - 1}]`;
}

/**
 * Every delegate on its own: one that does not resolve is its error in its place, so DEL and
 * GC can go on with the others (ADD takes delegatesFromConfig, which stops at the first).
 */
export function delegatesEach(conf: MetaConf): (Delegate | CniError)[] {
  const one = (resolve: () => Delegate): Delegate | CniError => {
    try {
      return resolve();
    } catch (err) {
      if (err instanceof CniError) return err;
      throw err;
    }
  };
  if (conf.clusterNetwork) {
    const named = [conf.clusterNetwork, ...(conf.defaultNetworks ?? [])];
    return named.map((value, i) =>
      one(() => {
        const { raw, source } = resolveNamed(value, conf, delegateField(conf, i));
        return toDelegate(raw, source, i === 0, conf.effectiveVersion);
      }),
    );
  }
  return (conf.delegates ?? []).map((raw, i) =>
    one(() => toDelegate(raw, delegateField(conf, i), i === 0, conf.effectiveVersion)),
  );
}

export function delegatesFromConfig(conf: MetaConf): Delegate[] {
  return delegatesEach(conf).map((d) => {
    if (d instanceof CniError) throw d;
    return d;
  });
}

/** The interface name of delegate `i`: its request, else CNI_IFNAME for the master, else net<i>. */
export function ifnameOf(d: Delegate, i: number, ifname: string): string {
  return d.ifnameRequest ?? (d.master ? ifname : `net${i}`);
}

/** Interface names: the request, else CNI_IFNAME for the master, else net<i> (i: position in the list). */
export function assignIfnames(delegates: readonly Delegate[], ifname: string): string[] {
  const names = delegates.map((d, i) => ifnameOf(d, i, ifname));
  const seen = new Map<string, number>();
  names.forEach((n, i) => {
    const first = seen.get(n);
    if (first !== undefined) {
      throw invalidConfig(
        delegates[i]?.source ?? `delegates[${i}]`,
        `interface name ${q(n)} is already used by ${delegates[first]?.source ?? `delegates[${first}]`}`,
      );
    }
    seen.set(n, i);
  });
  return names;
}
