/**
 * The contract between the skel and a plugin. A plugin never reads the process environment,
 * stdin or stdout: it gets a typed context and returns a Result or throws a CniError. The
 * context types say what the skel guarantees for each verb (CHECK always has a prevResult,
 * GC always has its valid attachments), and every context carries the invoker that runs
 * other plugins (IPAM, delegates), injected by the composition root.
 */
import type { HostServices } from './host.ts';
import type { Result } from './result.ts';

export const VERBS = ['ADD', 'DEL', 'CHECK', 'VERSION', 'GC', 'STATUS'] as const;
export type Verb = (typeof VERBS)[number];

export function isVerb(s: string): s is Verb {
  return (VERBS as readonly string[]).includes(s);
}

/** A process environment (or the view of one a nested call gets). */
export type Env = Readonly<Record<string, string | undefined>>;

/** One attachment the runtime still has, as GC's `cni.dev/valid-attachments` lists it. */
export interface ValidAttachment {
  readonly containerID: string;
  readonly ifname: string;
}

/** One plugin run for one verb, as a runtime runs it (libcni's RuntimeConf plus the config). */
export interface InvokeRequest {
  readonly type: string;
  readonly command: Verb;
  /** The complete environment of the call (CNI_* variables included). */
  readonly env: Env;
  /** Where executables are looked for, in order. */
  readonly searchPath: readonly string[];
  readonly conf: Readonly<Record<string, unknown>>;
  /** Run as an IPAM plugin (the IPAM client's calls): a built-in link plugin is refused. */
  readonly asIpam?: boolean;
  /** Execute it from the search path even when the type is built in (a delegate's `manifold.exec`). */
  readonly exec?: boolean;
}

/**
 * Runs other plugins: built-ins in-process, anything else executed from the search path
 * (the shape of libcni's exec). Given to every plugin by the skel.
 */
export interface Invoker {
  /** The decoded stdout of the plugin (undefined when it printed nothing), or its CNI error thrown. */
  invoke(req: InvokeRequest): Promise<unknown>;
  /** The IPAM plugin of this type when it is built in (run in-process, config checked up front). */
  ipam(type: string): Promise<Plugin<unknown> | undefined>;
  /** Whether a plugin of this type runs inside this process (a built-in), rather than executed. */
  inProcess(type: string): boolean;
}

export interface PluginContext<C> {
  readonly command: Verb;
  readonly containerId: string;
  /** CNI_NETNS; may be empty for DEL. */
  readonly netns: string;
  readonly ifname: string;
  /** CNI_ARGS parsed into keys and values. */
  readonly cniArgs: ReadonlyMap<string, string>;
  /** CNI_PATH, split. */
  readonly path: readonly string[];
  /** The environment the plugin was called with (passed on to delegated plugins). */
  readonly env: Env;
  /** The validated config. */
  readonly conf: C;
  /** The config as decoded JSON (what a delegated plugin receives). */
  readonly raw: Readonly<Record<string, unknown>>;
  /** The config's cniVersion (a supported one). */
  readonly cniVersion: string;
  /** prevResult converted to the 1.1.0 model, when the config carried one. */
  readonly prevResult?: Result;
  /** Runs other plugins (IPAM, delegates). */
  readonly invoker: Invoker;
  /** What a long-lived host (the daemon) lends the call (src/cni/host.ts); absent in one-shot. */
  readonly host?: HostServices;
}

/** CHECK: the skel refuses a CHECK without prevResult, so it is always there. */
export interface CheckContext<C> extends PluginContext<C> {
  readonly prevResult: Result;
}

/** GC: the attachments the runtime still uses (`cni.dev/valid-attachments`, `[]` when absent). */
export interface GcContext<C> extends PluginContext<C> {
  readonly validAttachments: readonly ValidAttachment[];
}

export interface Plugin<C> {
  /** The CNI `type` this plugin answers to. */
  readonly type: string;
  /**
   * Validates the decoded config (throw a CniError 7, e.g. through parseWith). CNI_ARGS are
   * given too: several fields can come from them (MAC=, IP=).
   */
  parseConfig(raw: Record<string, unknown>, cniArgs: ReadonlyMap<string, string>): C;
  add(ctx: PluginContext<C>): Promise<Result>;
  del(ctx: PluginContext<C>): Promise<void>;
  check(ctx: CheckContext<C>): Promise<void>;
  status(ctx: PluginContext<C>): Promise<void>;
  gc(ctx: GcContext<C>): Promise<void>;
}

/** Loads a plugin's code only when a verb needs it (VERSION never does). */
export type PluginLoader = () => Promise<Plugin<unknown>>;
