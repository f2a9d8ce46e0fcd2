/**
 * A network (a single conf, or a conflist of chained plugins) run for one verb the way libcni
 * runs it: each plugin gets the network's `name` and `cniVersion`, the previous plugin's
 * result as `prevResult`, and `runtimeConfig` holding the capability arguments it declared in
 * `capabilities`; ADD runs the plugins in order, DEL in reverse with the cached result.
 */
import * as z from 'zod/mini';
import { Attempts } from '../cni/attempts.ts';
import { CniError, Code, q } from '../cni/errors.ts';
import { ResultSchema } from '../cni/netconf.ts';
import type { Env, Invoker, ValidAttachment, Verb } from '../cni/plugin.ts';
import { decodeResult, encodeResult, type Result } from '../cni/result.ts';
import { parseWith } from '../cni/validate.ts';
import { atLeast, isSupported, SUPPORTED_VERSIONS } from '../cni/versions.ts';

export interface Network {
  readonly name: string;
  readonly cniVersion: string;
  readonly kind: 'conf' | 'conflist';
  /** The plugin configs, in chain order (one for a conf). */
  readonly plugins: readonly Record<string, unknown>[];
  readonly disableCheck: boolean;
  readonly disableGC: boolean;
  /** The network as given (what a cache keeps). */
  readonly raw: Readonly<Record<string, unknown>>;
}

const PluginSchema = z.looseObject({ type: z.string().check(z.minLength(1)) });
const ConfSchema = z.looseObject({
  cniVersion: z.optional(z.string()),
  name: z.string().check(z.minLength(1)),
  type: z.string().check(z.minLength(1)),
  disableCheck: z.optional(z.boolean()),
  disableGC: z.optional(z.boolean()),
});
const ConfListSchema = z.looseObject({
  cniVersion: z.optional(z.string()),
  name: z.string().check(z.minLength(1)),
  plugins: z.array(PluginSchema).check(z.minLength(1)),
  disableCheck: z.optional(z.boolean()),
  disableGC: z.optional(z.boolean()),
});

/**
 * Reads a conf or conflist object; `path` names it in errors (`delegates[1]`), `fallbackVersion`
 * is used when it has no cniVersion.
 */
export function parseNetwork(raw: unknown, path: string, fallbackVersion: string): Network {
  const isList = !!raw && typeof raw === 'object' && 'plugins' in raw;
  const conf = isList ? parseWith(ConfListSchema, raw, path) : parseWith(ConfSchema, raw, path);
  const cniVersion = conf.cniVersion || fallbackVersion;
  if (!isSupported(cniVersion)) {
    throw new CniError(
      Code.IncompatibleVersion,
      `${path}.cniVersion: ${q(cniVersion)} is not supported`,
      `supported: ${SUPPORTED_VERSIONS.join(', ')}`,
    );
  }
  const plugins = 'plugins' in conf ? (conf.plugins as Record<string, unknown>[]) : [conf];
  return {
    name: conf.name,
    cniVersion,
    kind: isList ? 'conflist' : 'conf',
    plugins,
    disableCheck: conf.disableCheck === true,
    disableGC: conf.disableGC === true,
    raw: raw as Record<string, unknown>,
  };
}

/** What the runtime knows about one attachment (libcni's RuntimeConf). */
export interface RuntimeConf {
  readonly containerId: string;
  readonly netns: string;
  readonly ifname: string;
  /** CNI_ARGS pairs. */
  readonly args: readonly (readonly [string, string])[];
  /** Capability arguments (runtimeConfig candidates). */
  readonly capabilityArgs: Readonly<Record<string, unknown>>;
  readonly searchPath: readonly string[];
  /** The environment to pass on (CNI_* are set from the fields above). */
  readonly env: Env;
  /** Execute every plugin from the search path, built-in types too (a delegate's `manifold.exec`). */
  readonly exec?: boolean;
}

function envFor(rt: RuntimeConf): Env {
  return {
    ...rt.env,
    CNI_CONTAINERID: rt.containerId,
    CNI_NETNS: rt.netns,
    CNI_IFNAME: rt.ifname,
    CNI_ARGS: rt.args.map(([k, v]) => `${k}=${v}`).join(';'),
    CNI_PATH: rt.searchPath.join(':'),
  };
}

/** The config one plugin of the chain receives. */
export function pluginConfig(
  net: Network,
  plugin: Readonly<Record<string, unknown>>,
  rt: RuntimeConf,
  prev: Result | undefined,
  extra: Readonly<Record<string, unknown>> = {},
): Record<string, unknown> {
  const conf: Record<string, unknown> = { ...plugin, name: net.name, cniVersion: net.cniVersion, ...extra };
  if (prev) conf.prevResult = encodeResult(prev, net.cniVersion);
  const caps = plugin.capabilities;
  if (caps && typeof caps === 'object') {
    const runtimeConfig: Record<string, unknown> = {};
    for (const [cap, on] of Object.entries(caps as Record<string, unknown>)) {
      if (on === true && rt.capabilityArgs[cap] !== undefined) runtimeConfig[cap] = rt.capabilityArgs[cap];
    }
    if (Object.keys(runtimeConfig).length > 0) conf.runtimeConfig = runtimeConfig;
  }
  return conf;
}

/** A config error's message that starts with the JSON path of its field. */
const PATH_FIRST = /^[A-Za-z_][\w-]*(\[\d+\])*(\.[\w-]+(\[\d+\])*)*: /;

async function call(
  invoker: Invoker,
  net: Network,
  plugin: Readonly<Record<string, unknown>>,
  command: Verb,
  rt: RuntimeConf,
  prev: Result | undefined,
  extra?: Readonly<Record<string, unknown>>,
): Promise<unknown> {
  try {
    return await invoker.invoke({
      type: String(plugin.type),
      command,
      env: envFor(rt),
      searchPath: rt.searchPath,
      conf: pluginConfig(net, plugin, rt, prev, extra),
      ...(rt.exec ? { exec: true } : {}),
    });
  } catch (err) {
    // a plugin's config error names its field in its own config: in a conflist, say which plugin
    const j = net.plugins.indexOf(plugin);
    if (
      net.kind === 'conflist' &&
      err instanceof CniError &&
      err.code === Code.InvalidConfig &&
      PATH_FIRST.test(err.message)
    ) {
      throw new CniError(err.code, `plugins[${j}].${err.message}`, err.details, { cause: err });
    }
    throw err;
  }
}

export async function addNetwork(invoker: Invoker, net: Network, rt: RuntimeConf): Promise<Result> {
  let prev: Result | undefined;
  for (const plugin of net.plugins) {
    const out = await call(invoker, net, plugin, 'ADD', rt, prev);
    const parsed = parseWith(ResultSchema, out ?? {}, `result of plugin ${q(plugin.type)}`);
    prev = decodeResult(parsed, net.cniVersion);
  }
  return prev ?? { cniVersion: net.cniVersion };
}

/** DEL of every plugin in reverse; the cached result is each one's prevResult (spec ≥ 0.4.0). */
export async function delNetwork(
  invoker: Invoker,
  net: Network,
  rt: RuntimeConf,
  cached: Result | undefined,
): Promise<void> {
  const prev = cached && atLeast(net.cniVersion, '0.4.0') ? cached : undefined;
  for (const plugin of [...net.plugins].reverse()) await call(invoker, net, plugin, 'DEL', rt, prev);
}

/** CHECK of every plugin against the cached result; networks that cannot be checked are skipped. */
export async function checkNetwork(
  invoker: Invoker,
  net: Network,
  rt: RuntimeConf,
  cached: Result,
): Promise<'checked' | 'skipped'> {
  if (net.disableCheck || !atLeast(net.cniVersion, '0.4.0')) return 'skipped';
  for (const plugin of net.plugins) await call(invoker, net, plugin, 'CHECK', rt, cached);
  return 'checked';
}

export async function statusNetwork(
  invoker: Invoker,
  net: Network,
  rt: RuntimeConf,
): Promise<'checked' | 'skipped'> {
  if (!atLeast(net.cniVersion, '1.1.0')) return 'skipped';
  for (const plugin of net.plugins) await call(invoker, net, plugin, 'STATUS', rt, undefined);
  return 'checked';
}

export async function gcNetwork(
  invoker: Invoker,
  net: Network,
  rt: RuntimeConf,
  valid: readonly ValidAttachment[],
): Promise<'checked' | 'skipped'> {
  if (net.disableGC || !atLeast(net.cniVersion, '1.1.0')) return 'skipped';
  for (const plugin of net.plugins) {
    await call(invoker, net, plugin, 'GC', rt, undefined, { 'cni.dev/valid-attachments': valid });
  }
  return 'checked';
}

/**
 * For a network whose own DEL cannot run (its plugin is gone, its config no longer parses):
 * DEL of the IPAM of every plugin that names one, with that plugin's config, as the plugin
 * itself would have delegated it (the spec's IPAM delegation), so the addresses are released
 * by container id and interface name. In reverse order, each attempted; the errors are returned.
 */
export async function ipamDelNetwork(invoker: Invoker, net: Network, rt: RuntimeConf): Promise<unknown[]> {
  const steps = new Attempts();
  for (const plugin of [...net.plugins].reverse()) {
    const ipam = plugin.ipam as { type?: unknown } | undefined;
    const type = typeof ipam?.type === 'string' && ipam.type !== '' ? ipam.type : undefined;
    if (!type) continue;
    await steps.run(() =>
      invoker.invoke({
        type,
        command: 'DEL',
        env: envFor(rt),
        searchPath: rt.searchPath,
        conf: pluginConfig(net, plugin, rt, undefined),
        ...(rt.exec ? { exec: true } : {}),
      }),
    );
  }
  return steps.failures;
}
