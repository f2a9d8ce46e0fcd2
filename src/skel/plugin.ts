/**
 * The contract between the skel and a plugin. A plugin never reads the process environment,
 * stdin or stdout: it gets a typed context and returns a Result or throws a CniError.
 */
import type { Env, Verb } from './env.ts';
import type { Result } from './result.ts';

export interface Attachment {
  readonly containerID: string;
  readonly ifname: string;
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
  /** GC only: the attachments the runtime still uses (`cni.dev/valid-attachments`). */
  readonly validAttachments?: readonly Attachment[];
}

export interface Plugin<C = unknown> {
  /** The CNI `type` this plugin answers to. */
  readonly type: string;
  /**
   * Validates the decoded config (throw a CniError 7, e.g. through parseWith). CNI_ARGS are
   * given too: several fields can come from them (MAC=, IP=).
   */
  parseConfig(raw: Record<string, unknown>, cniArgs: ReadonlyMap<string, string>): C;
  add(ctx: PluginContext<C>): Promise<Result>;
  del(ctx: PluginContext<C>): Promise<void>;
  check(ctx: PluginContext<C>): Promise<void>;
  status(ctx: PluginContext<C>): Promise<void>;
  gc(ctx: PluginContext<C>): Promise<void>;
}

/** Loads a plugin's code only when a verb needs it (VERSION never does). */
export type PluginLoader = () => Promise<Plugin<unknown>>;
