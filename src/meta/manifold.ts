/**
 * The meta-plugin: attaches a pod to every delegate network in one call and returns one
 * merged result. Delegates run in order (built-ins in-process, others executed); the list
 * is cached before the first one runs; a failure rolls back what was added, in reverse.
 */

import { existsSync } from 'node:fs';
import { withPod } from '../attach/pod.ts';
import { CniError, Code, describeError } from '../cni/errors.ts';
import { ResultSchema } from '../cni/netconf.ts';
import type { CheckContext, GcContext, Plugin, PluginContext } from '../cni/plugin.ts';
import { decodeResult, encodeResult, type Result } from '../cni/result.ts';
import { parseWith } from '../cni/validate.ts';
import * as net from '../invoke/network.ts';
import { type Network, parseNetwork, type RuntimeConf } from '../invoke/network.ts';
import * as link from '../kernel/link.ts';
import { log } from '../util/log.ts';
import {
  CACHE_KIND,
  type CacheEntry,
  type CacheFile,
  listCaches,
  readCache,
  removeCache,
  writeCache,
} from './cache.ts';
import { DEFAULT_READINESS_TIMEOUT_S, type MetaConf, parseMetaConf } from './config.ts';
import { assignIfnames, type Delegate, delegatesFromConfig } from './delegates.ts';
import { mergeResults } from './merge.ts';
import { multihomeAdd, multihomeCheck, multihomeDel } from './multihome/hooks.ts';
import { waitForFile } from './readiness.ts';

type Ctx = PluginContext<MetaConf>;

/** One delegate as it is (or was) attached: its network, interface name and ADD result. */
interface Attached {
  readonly delegate: Delegate;
  readonly ifname: string;
  result: Result | undefined;
  /** What multi-homing did to it (multihome/state.ts), cached for DEL. */
  multihome?: unknown;
}

function describe(d: Delegate): string {
  const types = d.network.plugins.map((p) => String(p.type)).join(', ');
  return `delegate ${JSON.stringify(d.network.name)} (${types})`;
}

function searchPath(ctx: Ctx): string[] {
  return ctx.conf.binDir ? [ctx.conf.binDir, ...ctx.path] : [...ctx.path];
}

function runtimeFor(ctx: Ctx, a: Attached, netns = ctx.netns, containerId = ctx.containerId): RuntimeConf {
  return {
    containerId,
    netns,
    ifname: a.ifname,
    args: [...ctx.cniArgs.entries()],
    capabilityArgs: a.delegate.master ? (ctx.conf.runtimeConfig ?? {}) : {},
    searchPath: searchPath(ctx),
    env: ctx.env,
  };
}

function toCache(ctx: Ctx, attached: readonly Attached[]): CacheFile {
  return {
    kind: CACHE_KIND,
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
        ...(a.result ? { result: encodeResult(a.result, a.delegate.network.cniVersion) } : {}),
        ...(a.multihome ? { multihome: a.multihome } : {}),
      }),
    ),
  };
}

function fromCache(cache: CacheFile): Attached[] {
  return cache.delegates.map((e) => {
    const network: Network = parseNetwork(e.network, e.source, cache.cniVersion);
    const delegate: Delegate = {
      network,
      source: e.source,
      master: e.master,
      ifnameRequest: e.ifname,
      defaultRoute: e.defaultRoute,
    };
    const result = e.result ? decodeResult(parseWith(ResultSchema, e.result), network.cniVersion) : undefined;
    return { delegate, ifname: e.ifname, result, multihome: e.multihome };
  });
}

function wrap(d: Delegate, verb: string, err: unknown): CniError {
  const code = err instanceof CniError ? err.code : Code.Internal;
  const details = err instanceof CniError ? err.details : '';
  return new CniError(
    code,
    `${describe(d)} failed${verb}: ${err instanceof CniError ? err.message : describeError(err)}`,
    details,
    {
      cause: err,
    },
  );
}

/**
 * DEL of every attachment in reverse; every one is attempted; the errors are returned. A
 * delegate whose ADD never completed is deleted on a best-effort basis: its failure is logged,
 * not returned (its config may be what made ADD fail, and a DEL that can never succeed would
 * leave the pod stuck).
 */
async function delAll(
  ctx: Ctx,
  attached: readonly Attached[],
  netns: string,
  containerId: string,
): Promise<CniError[]> {
  await multihomeDel(netns, attached);
  const errors: CniError[] = [];
  for (const a of [...attached].reverse()) {
    try {
      await net.delNetwork(ctx.invoker, a.delegate.network, runtimeFor(ctx, a, netns, containerId), a.result);
    } catch (err) {
      const e = wrap(a.delegate, ' DEL', err);
      if (a.result) errors.push(e);
      else log.info(`${e.message} (its ADD never completed: ignored)`);
    }
  }
  return errors;
}

function combine(errors: readonly CniError[], total: number): CniError {
  const first = errors[0] as CniError;
  if (errors.length === 1) return first;
  return new CniError(
    first.code,
    `${errors.length} of ${total} delegates failed DEL: ${errors.map((e) => e.message).join('; ')}`,
  );
}

/** Undoes a failed ADD: DEL of `attached` in reverse, the cache removed when that worked; returns `cause`. */
async function rollBack(ctx: Ctx, attached: readonly Attached[], cause: CniError): Promise<CniError> {
  log.error(`ADD ${ctx.containerId}: ${cause.message}; rolling back ${attached.length} delegate(s)`);
  const errors = await delAll(ctx, attached, ctx.netns, ctx.containerId);
  if (errors.length === 0) removeCache(ctx.conf.cniDirOrDefault, ctx.containerId);
  else for (const e of errors) log.error(`rollback: ${e.message}`);
  return cause;
}

async function add(ctx: Ctx): Promise<Result> {
  const conf = ctx.conf;
  if (conf.readinessindicatorfile) {
    await waitForFile(
      conf.readinessindicatorfile,
      conf.readinessTimeoutSeconds ?? DEFAULT_READINESS_TIMEOUT_S,
    );
  }
  const delegates = delegatesFromConfig(conf);
  const ifnames = assignIfnames(delegates, ctx.ifname);
  const existing = await withPod(
    ctx.netns,
    async (pod) => new Set((await link.list(pod.rtnl)).map((l) => l.name)),
  );
  const taken = ifnames.find((n) => existing.has(n));
  if (taken !== undefined) {
    const d = delegates[ifnames.indexOf(taken)] as Delegate;
    throw new CniError(
      Code.Internal,
      `${describe(d)}: interface ${JSON.stringify(taken)} already exists in netns ${JSON.stringify(ctx.netns)}`,
    );
  }
  const attached: Attached[] = delegates.map((delegate, i) => ({
    delegate,
    ifname: ifnames[i] as string,
    result: undefined,
  }));
  const cniDir = conf.cniDirOrDefault;
  writeCache(cniDir, toCache(ctx, attached));
  for (let k = 0; k < attached.length; k++) {
    const a = attached[k] as Attached;
    const started = performance.now();
    try {
      a.result = await net.addNetwork(ctx.invoker, a.delegate.network, runtimeFor(ctx, a));
      log.info(
        `ADD ${ctx.containerId}: ${describe(a.delegate)} attached as ${a.ifname} in ${(performance.now() - started).toFixed(1)} ms`,
      );
    } catch (err) {
      throw await rollBack(ctx, attached.slice(0, k + 1), wrap(a.delegate, '', err));
    }
    writeCache(cniDir, toCache(ctx, attached));
  }
  try {
    if (await multihomeAdd(ctx, attached)) writeCache(cniDir, toCache(ctx, attached));
  } catch (err) {
    throw await rollBack(
      ctx,
      attached,
      err instanceof CniError ? err : new CniError(Code.Internal, describeError(err)),
    );
  }
  return mergeResults(
    attached.map((a) => ({
      result: a.result as Result,
      master: a.delegate.master,
      defaultRoute: a.delegate.defaultRoute,
    })),
    ctx.cniVersion,
  );
}

async function del(ctx: Ctx): Promise<void> {
  const cniDir = ctx.conf.cniDirOrDefault;
  const cache = readCache(cniDir, ctx.containerId);
  let attached: Attached[];
  if (cache) {
    attached = fromCache(cache);
  } else {
    try {
      const delegates = delegatesFromConfig(ctx.conf);
      const ifnames = assignIfnames(delegates, ctx.ifname);
      attached = delegates.map((delegate, i) => ({
        delegate,
        ifname: ifnames[i] as string,
        result: undefined,
      }));
    } catch (err) {
      // Nothing cached and the config no longer resolves: nothing we can delete (as Multus).
      log.error(
        `DEL ${ctx.containerId}: no cache and the delegates cannot be resolved: ${describeError(err)}`,
      );
      return;
    }
  }
  const errors = await delAll(ctx, attached, ctx.netns, ctx.containerId);
  if (errors.length > 0) throw combine(errors, attached.length);
  if (cache) removeCache(cniDir, ctx.containerId);
  log.info(
    `DEL ${ctx.containerId}: ${attached.length} delegate(s) deleted${cache ? '' : ' (from the config: no cache)'}`,
  );
}

async function check(ctx: CheckContext<MetaConf>): Promise<void> {
  const cache = readCache(ctx.conf.cniDirOrDefault, ctx.containerId);
  if (!cache) {
    throw new CniError(
      Code.UnknownContainer,
      `no delegate cache for container ${JSON.stringify(ctx.containerId)} in ${JSON.stringify(ctx.conf.cniDirOrDefault)}: was it added by manifold?`,
    );
  }
  const attached = fromCache(cache);
  for (const a of attached) {
    if (!a.result) throw wrap(a.delegate, ' CHECK', new CniError(Code.Internal, 'its ADD never completed'));
    try {
      const r = await net.checkNetwork(ctx.invoker, a.delegate.network, runtimeFor(ctx, a), a.result);
      if (r === 'skipped')
        log.verbose(`CHECK: ${describe(a.delegate)} skipped (disableCheck or cniVersion < 0.4.0)`);
    } catch (err) {
      throw wrap(a.delegate, ' CHECK', err);
    }
  }
  await multihomeCheck(ctx.netns, attached);
}

/** Can ADD be served: the default network is ready and every delegate says so. */
async function status(ctx: Ctx): Promise<void> {
  const file = ctx.conf.readinessindicatorfile;
  if (file && !existsSync(file)) {
    throw new CniError(
      Code.CannotServeAdd,
      `the default network is not ready: readinessindicatorfile ${JSON.stringify(file)} does not exist`,
    );
  }
  const delegates = delegatesFromConfig(ctx.conf);
  const ifnames = assignIfnames(delegates, ctx.ifname || 'eth0');
  for (const [i, delegate] of delegates.entries()) {
    try {
      await net.statusNetwork(
        ctx.invoker,
        delegate.network,
        runtimeFor(ctx, { delegate, ifname: ifnames[i] as string, result: undefined }),
      );
    } catch (err) {
      throw wrap(delegate, ' STATUS', err);
    }
  }
}

/**
 * Deletes cached attachments the runtime no longer has, then gives every delegate network its
 * own valid attachments (container id + the interface name it was given) for its GC.
 */
async function gc(ctx: GcContext<MetaConf>): Promise<void> {
  const cniDir = ctx.conf.cniDirOrDefault;
  const valid = new Set(ctx.validAttachments.map((a) => `${a.containerID}\n${a.ifname}`));
  const live: CacheFile[] = [];
  for (const cache of listCaches(cniDir)) {
    if (valid.has(`${cache.containerId}\n${cache.ifname}`)) {
      live.push(cache);
      continue;
    }
    const errors = await delAll(ctx, fromCache(cache), cache.netns, cache.containerId);
    if (errors.length === 0) removeCache(cniDir, cache.containerId);
    else log.error(`GC: ${cache.containerId}: ${combine(errors, cache.delegates.length).message}`);
  }
  for (const delegate of delegatesFromConfig(ctx.conf)) {
    const mine = live.flatMap((c) =>
      c.delegates
        .filter((e) => e.network.name === delegate.network.name)
        .map((e) => ({ containerID: c.containerId, ifname: e.ifname })),
    );
    try {
      await net.gcNetwork(
        ctx.invoker,
        delegate.network,
        runtimeFor(ctx, { delegate, ifname: '', result: undefined }, '', ''),
        mine,
      );
    } catch (err) {
      throw wrap(delegate, ' GC', err);
    }
  }
}

export const plugin: Plugin<MetaConf> = {
  type: 'manifold',
  parseConfig: parseMetaConf,
  add,
  del,
  check,
  status,
  gc,
};
