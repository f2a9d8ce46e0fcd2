/**
 * One delegate as it is (or was) attached — its network, interface name and ADD result — and
 * what every verb shares about it: the runtime view a delegate gets (libcni's RuntimeConf),
 * the cache form, and the wording of its errors.
 */
import { CniError, Code, describeError, q } from '../cni/errors.ts';
import { ResultSchema } from '../cni/netconf.ts';
import type { PluginContext } from '../cni/plugin.ts';
import { decodeResult, encodeResult, type Result } from '../cni/result.ts';
import { parseWith } from '../cni/validate.ts';
import { type Network, parseNetwork, type RuntimeConf } from '../invoke/network.ts';
import { CACHE_KIND, type CacheEntry, type CacheFile } from './cache.ts';
import type { MetaConf } from './config.ts';
import type { Delegate } from './delegates.ts';
import { attachmentFromCache, capabilityArgsFor, cniArgsFor } from './pod-attachment.ts';

/**
 * The meta-plugin's context: the plugin context, and where ADD learns which links the pod
 * already has (its one kernel read; a unit test gives its own, so ADD runs without root).
 */
export type Ctx = PluginContext<MetaConf> & {
  /** The names of the links in the netns at `netns` (default: read from the kernel, add.ts). */
  readonly podLinks?: (netns: string) => Promise<readonly string[]>;
};

export interface Attached {
  readonly delegate: Delegate;
  readonly ifname: string;
  result: Result | undefined;
  /** The message its ADD failed with (then its DEL failing the same way is no reason to retry). */
  addError?: string | undefined;
  /** What multi-homing did to it (multihome/state.ts), cached for DEL and CHECK. */
  multihome?: unknown;
}

/** A plugin type as a message shows it: quoted when it is not a plain file name. */
function showType(t: unknown): string {
  const s = String(t);
  return /^[\w.+-]+$/.test(s) ? s : JSON.stringify(s);
}

export function describe(d: Delegate): string {
  const types = d.network.plugins.map((p) => showType(p.type)).join(', ');
  return `delegate ${q(d.network.name)} (${types})`;
}

function searchPath(ctx: Ctx): string[] {
  return ctx.conf.binDir ? [ctx.conf.binDir, ...ctx.path] : [...ctx.path];
}

export function runtimeFor(
  ctx: Ctx,
  a: Attached,
  netns = ctx.netns,
  containerId = ctx.containerId,
): RuntimeConf {
  return {
    containerId,
    netns,
    ifname: a.ifname,
    args: cniArgsFor(ctx.cniArgs, a.delegate),
    capabilityArgs: capabilityArgsFor(ctx.conf.runtimeConfig, a.delegate),
    searchPath: searchPath(ctx),
    env: ctx.env,
    ...(a.delegate.exec ? { exec: true } : {}),
  };
}

/** The pod CNI_ARGS name, for the cache (the daemon's garbage collection reads it). */
function podOfCall(ctx: Ctx): CacheFile['pod'] {
  const namespace = ctx.cniArgs.get('K8S_POD_NAMESPACE') ?? '';
  const name = ctx.cniArgs.get('K8S_POD_NAME') ?? '';
  if (!namespace || !name) return undefined;
  return { namespace, name, uid: ctx.cniArgs.get('K8S_POD_UID') ?? '' };
}

export function toCache(ctx: Ctx, attached: readonly Attached[]): CacheFile & { networkName: string } {
  const pod = podOfCall(ctx);
  const { prevResult: _, ...conf } = ctx.raw;
  return {
    kind: CACHE_KIND,
    ...(pod ? { pod } : {}),
    call: { conf, path: ctx.path.join(':') },
    networkName: ctx.conf.name,
    containerId: ctx.containerId,
    ifname: ctx.ifname,
    netns: ctx.netns,
    cniVersion: ctx.cniVersion,
    delegates: attached.map(
      (a): CacheEntry => ({
        source: a.delegate.source,
        ifname: a.ifname,
        master: a.delegate.master,
        defaultRoute: a.delegate.defaultRoute,
        network: { ...a.delegate.network.raw },
        ...(a.delegate.k8s ? { k8s: a.delegate.k8s } : {}),
        ...(a.result ? { result: encodeResult(a.result, a.delegate.network.cniVersion) } : {}),
        ...(a.addError !== undefined ? { addError: a.addError } : {}),
        ...(a.delegate.exec ? { exec: true } : {}),
        ...(a.multihome ? { multihome: a.multihome } : {}),
      }),
    ),
  };
}

/** The attachments a cache records; throws a CniError when its content does not parse. */
export function fromCache(cache: CacheFile): Attached[] {
  return cache.delegates.map((e, i) => {
    const where = `delegates[${i}]`;
    const network: Network = parseNetwork(e.network, `${where}.network`, cache.cniVersion);
    const delegate: Delegate = {
      network,
      source: e.source,
      master: e.master,
      ifnameRequest: e.ifname,
      defaultRoute: e.defaultRoute,
      ...(e.exec === true ? { exec: true } : {}),
      ...attachmentFromCache(e.k8s),
    };
    const result = e.result
      ? decodeResult(parseWith(ResultSchema, e.result, `${where}.result`), network.cniVersion)
      : undefined;
    return { delegate, ifname: e.ifname, result, addError: e.addError, multihome: e.multihome };
  });
}

/** A config error's message that starts with the JSON path of its field (`mtu: …`, `plugins[1].ipam.type: …`). */
const PATH_FIRST = /^[A-Za-z_][\w-]*(\[\d+\])*(\.[\w-]+(\[\d+\])*)*: /;

/**
 * `delegate "mv" (macvlan) failed DEL: <cause>`, keeping the cause's CNI code. A config error
 * of an inline delegate names its field by its full JSON path in this config instead:
 * `delegates[1].mtu: …` (the delegate in the details).
 */
export function wrap(d: Delegate, verb: string, err: unknown): CniError {
  const code = err instanceof CniError ? err.code : Code.Internal;
  const details = err instanceof CniError ? err.details : '';
  if (
    err instanceof CniError &&
    code === Code.InvalidConfig &&
    d.source.startsWith('delegates[') &&
    PATH_FIRST.test(err.message)
  ) {
    const where = `${describe(d)}${verb ? ` (${verb})` : ''}`;
    return new CniError(code, `${d.source}.${err.message}`, details ? `${where}; ${details}` : where, {
      cause: err,
    });
  }
  return new CniError(
    code,
    `${describe(d)} failed${verb ? ` ${verb}` : ''}: ${err instanceof CniError ? err.message : describeError(err)}`,
    details,
    { cause: err },
  );
}
