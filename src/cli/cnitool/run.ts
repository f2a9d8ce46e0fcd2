/**
 * A network run for one verb as cnitool runs it through libcni: ADD of every plugin in
 * order (each one's result the next one's prevResult), then the result cached in libcni's
 * format; CHECK and DEL with the cached result as prevResult (from 0.4.0; DEL in reverse, the
 * cache removed after); GC deletes every cached attachment of the network, then asks each
 * plugin (from 1.1.0); STATUS asks each plugin (from 1.1.0). Plugins are found in CNI_PATH
 * exactly as libcni finds them; when the one found is this very executable (dist/bin/macvlan,
 * /opt/cni/bin/manifold) it runs in-process through the skel, as the executable would run it
 * — with the invoker a CNI call of it gets — instead of starting it again.
 */
import { realpathSync } from 'node:fs';
import { CniError, Code, q } from '../../cni/errors.ts';
import { interfaceNameProblem, isValidName } from '../../cni/names.ts';
import { ResultSchema } from '../../cni/netconf.ts';
import type { Env, InvokeRequest, Invoker, Verb } from '../../cni/plugin.ts';
import { decodeResult, encodeResult, type Result } from '../../cni/result.ts';
import { parseWith } from '../../cni/validate.ts';
import { atLeast } from '../../cni/versions.ts';
import { execPlugin, findPlugin, pluginOutcome } from '../../invoke/exec.ts';
import { type Network, pluginConfig, type RuntimeConf } from '../../invoke/network.ts';
import { runSkel } from '../../skel/skel.ts';
import { MANIFOLD_VERSION } from '../../util/version.ts';
import type { CliIO } from '../common/command.ts';
import {
  cachedAttachments,
  readCachedResult,
  removeCachedResult,
  writeCachedResult,
} from './libcni-cache.ts';
import type { ConfList } from './netconf-path.ts';

export interface ToolCall {
  readonly list: ConfList;
  readonly net: Network;
  readonly rt: RuntimeConf;
  readonly cacheDir: string;
}

function realpath(p: string): string | undefined {
  try {
    return realpathSync(p);
  } catch {
    return undefined;
  }
}

/** Runs plugins found in the search path; this executable's own names in-process. */
export function toolInvoker(io: CliIO): Invoker {
  const self = realpath(io.execPath);
  const registry = io.builtins.invoker();
  return {
    async invoke(req: InvokeRequest): Promise<unknown> {
      const file = findPlugin(req.type, req.searchPath);
      const env: Env = { ...req.env, CNI_COMMAND: req.command };
      const stdin = JSON.stringify(req.conf);
      if (self === undefined || realpath(file) !== self)
        return execPlugin({ type: req.type, command: req.command, path: req.searchPath, env, stdin });
      const type = io.builtins.typeFor(req.type);
      const b = io.builtins.get(type);
      if (!b) throw new CniError(Code.Internal, `no built-in plugin ${q(type)}`);
      let stdout = '';
      const status = await runSkel(
        { name: type, version: MANIFOLD_VERSION, load: b.load, invoker: registry },
        { env, readStdin: async () => Buffer.from(stdin), stdout: (s) => (stdout += s), stderr: io.stderr },
      );
      return pluginOutcome(
        req.type,
        stdout,
        status === 0 ? undefined : `exited with status ${status}`,
        req.command,
      );
    },
    ipam: (type) => registry.ipam(type),
    // whether a type runs in-process depends on the file the search path finds: say no (callers
    // then treat the plugin as executed, the safe side)
    inProcess: () => false,
  };
}

function describePlugin(p: Readonly<Record<string, unknown>>): string {
  return `type=${q(String(p.type))}${typeof p.name === 'string' && p.name ? ` name=${q(p.name)}` : ''}`;
}

function rewrap(err: unknown, what: string): unknown {
  if (!(err instanceof CniError)) return err;
  return new CniError(err.code, `${what}: ${err.message}`, err.details, { cause: err });
}

function envFor(rt: RuntimeConf, command: Verb): Env {
  return {
    ...rt.env,
    CNI_COMMAND: command,
    CNI_CONTAINERID: rt.containerId,
    CNI_NETNS: rt.netns,
    CNI_IFNAME: rt.ifname,
    CNI_ARGS: rt.args.map(([k, v]) => `${k}=${v}`).join(';'),
    CNI_PATH: rt.searchPath.join(':'),
  };
}

async function call(
  invoker: Invoker,
  c: ToolCall,
  plugin: Readonly<Record<string, unknown>>,
  command: Verb,
  prev: Result | undefined,
  rt: RuntimeConf = c.rt,
): Promise<unknown> {
  return invoker.invoke({
    type: String(plugin.type),
    command,
    env: envFor(rt, command),
    searchPath: rt.searchPath,
    conf: pluginConfig(c.net, plugin, rt, prev),
  });
}

/** libcni's checks before an ADD: container id, network name, interface name. */
function checkNames(c: ToolCall): void {
  if (!isValidName(c.rt.containerId))
    throw new CniError(Code.InvalidEnvironment, `invalid characters in containerID ${q(c.rt.containerId)}`);
  if (!isValidName(c.net.name))
    throw new CniError(Code.InvalidConfig, `invalid characters found in network name ${q(c.net.name)}`);
  const why = interfaceNameProblem(c.rt.ifname);
  if (why) throw new CniError(Code.InvalidEnvironment, `interface name ${q(c.rt.ifname)} ${why}`);
}

/** The result as libcni prints and caches it: the version's shape, with `dns` always there (a Go struct, never omitted). */
export function asLibcniPrints(r: Result, version: string): Record<string, unknown> {
  const out = encodeResult(r, version);
  out.dns ??= {};
  return out;
}

export async function toolAdd(invoker: Invoker, c: ToolCall): Promise<Record<string, unknown>> {
  checkNames(c);
  let prev: Result | undefined;
  for (const plugin of c.net.plugins) {
    try {
      const out = await call(invoker, c, plugin, 'ADD', prev);
      prev = decodeResult(
        parseWith(ResultSchema, out ?? {}, `result of plugin ${q(plugin.type)}`),
        c.net.cniVersion,
      );
    } catch (err) {
      throw rewrap(err, `plugin ${describePlugin(plugin)} failed (add)`);
    }
  }
  const printed = asLibcniPrints(prev ?? { cniVersion: c.net.cniVersion }, c.net.cniVersion);
  writeCachedResult(c.cacheDir, {
    networkName: c.list.name,
    containerId: c.rt.containerId,
    ifName: c.rt.ifname,
    netns: c.rt.netns,
    cniArgs: c.rt.args,
    capabilityArgs: c.rt.capabilityArgs,
    result: printed,
    config: c.list.bytes,
  });
  return printed;
}

/** The cached result in the network's version (libcni's getCachedResult); undefined when there is none. */
function cached(c: ToolCall, rt: RuntimeConf = c.rt): Result | undefined {
  const raw = readCachedResult(c.cacheDir, c.list.name, rt.containerId, rt.ifname);
  if (!raw) return undefined;
  const version = typeof raw.cniVersion === 'string' && raw.cniVersion ? raw.cniVersion : c.net.cniVersion;
  return decodeResult(parseWith(ResultSchema, raw, 'cached result'), version);
}

export async function toolDel(invoker: Invoker, c: ToolCall, rt: RuntimeConf = c.rt): Promise<void> {
  let prev: Result | undefined;
  if (atLeast(c.net.cniVersion, '0.4.0')) {
    try {
      prev = cached(c, rt);
    } catch {
      removeCachedResult(c.cacheDir, c.list.name, rt.containerId, rt.ifname);
      prev = undefined;
    }
  }
  for (const plugin of [...c.net.plugins].reverse()) {
    try {
      await call(invoker, c, plugin, 'DEL', prev, rt);
    } catch (err) {
      throw rewrap(err, `plugin ${describePlugin(plugin)} failed (delete)`);
    }
  }
  removeCachedResult(c.cacheDir, c.list.name, rt.containerId, rt.ifname);
}

export async function toolCheck(invoker: Invoker, c: ToolCall): Promise<void> {
  if (!atLeast(c.net.cniVersion, '0.4.0'))
    throw new CniError(
      Code.IncompatibleVersion,
      `configuration version ${q(c.net.cniVersion)} does not support the CHECK command`,
    );
  if (c.net.disableCheck) return;
  let prev: Result | undefined;
  try {
    prev = cached(c);
  } catch (err) {
    throw rewrap(err, `failed to get network ${q(c.list.name)} cached result`);
  }
  for (const plugin of c.net.plugins) await call(invoker, c, plugin, 'CHECK', prev);
}

/** cnitool's GC: no valid attachments are given, so every cached attachment of the network is deleted. */
export async function toolGc(invoker: Invoker, c: ToolCall): Promise<string[]> {
  if (c.net.disableGC) return [];
  const errors: string[] = [];
  const done: string[] = [];
  for (const a of cachedAttachments(c.cacheDir)) {
    if (a.networkName !== c.list.name) continue;
    const rt: RuntimeConf = {
      ...c.rt,
      containerId: a.containerId,
      netns: a.netns,
      ifname: a.ifName,
      args: a.cniArgs,
      capabilityArgs: a.capabilityArgs,
    };
    try {
      await toolDel(invoker, c, rt);
      done.push(`${a.containerId} ${a.ifName}`);
    } catch (err) {
      errors.push(
        `failed to delete stale attachment ${a.containerId} ${a.ifName}: ${(err as Error).message}`,
      );
    }
  }
  if (atLeast(c.net.cniVersion, '1.1.0')) {
    const none: RuntimeConf = {
      ...c.rt,
      containerId: '',
      netns: '',
      ifname: '',
      args: [],
      capabilityArgs: {},
    };
    for (const plugin of c.net.plugins) {
      try {
        await call(invoker, c, plugin, 'GC', undefined, none);
      } catch (err) {
        errors.push(`failed to GC plugin ${String(plugin.type)}: ${(err as Error).message}`);
      }
    }
  }
  if (errors.length > 0) throw new CniError(Code.Internal, errors.join('; '));
  return done;
}

export async function toolStatus(invoker: Invoker, c: ToolCall): Promise<'asked' | 'skipped'> {
  if (!atLeast(c.net.cniVersion, '1.1.0')) return 'skipped';
  const none: RuntimeConf = { ...c.rt, containerId: '', netns: '', ifname: '', args: [], capabilityArgs: {} };
  for (const plugin of c.net.plugins) await call(invoker, c, plugin, 'STATUS', undefined, none);
  return 'asked';
}
