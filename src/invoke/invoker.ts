/**
 * The invoker: runs one plugin for one verb wherever it lives, the way libcni's exec does —
 * built-in types in-process through the skel, anything else executed from the search path
 * (and everything when the request says `exec`: a wrapped primary runs its own binaries).
 * Either way the caller gets what a runtime gets: the decoded stdout, or the plugin's CNI
 * error thrown. Which types are built in is not known here: the composition root (registry)
 * says, so this folder depends on no plugin.
 */

import { CniError, Code, q } from '../cni/errors.ts';
import { checkPluginType } from '../cni/names.ts';
import type { InvokeRequest, Invoker, PluginLoader } from '../cni/plugin.ts';
import { execPlugin, type HostRoot, pluginOutcome } from './exec.ts';
import { runInProcess } from './inprocess.ts';

export interface Builtins {
  /** The loader of a type run in-process (undefined: execute it). */
  inProcess(type: string): PluginLoader | undefined;
  /** The loader of a built-in IPAM type (undefined: execute it). */
  ipam(type: string): PluginLoader | undefined;
}

/**
 * How deep in-process calls may nest: meta-plugin → delegate → its IPAM is 2. Deeper means
 * plugin types that name each other (a config error), which would otherwise recurse without end.
 */
export const MAX_NESTING = 4;

/** `root`: where executed plugins run (a daemon in a container: the node's root), else here. */
export function createInvoker(builtins: Builtins, depth = 0, root?: HostRoot): Invoker {
  const invoker: Invoker = {
    async invoke(req: InvokeRequest): Promise<unknown> {
      checkPluginType(req.type, req.asIpam ? 'ipam.type' : 'type');
      const env = { ...req.env, CNI_COMMAND: req.command };
      const stdin = JSON.stringify(req.conf);
      const load = req.exec ? undefined : builtins.inProcess(req.type);
      if (!load)
        return execPlugin({ type: req.type, command: req.command, path: req.searchPath, env, stdin, root });
      if (req.asIpam && !builtins.ipam(req.type)) {
        throw new CniError(
          Code.InvalidConfig,
          `ipam.type: ${q(req.type)} is a built-in plugin that is not an IPAM plugin`,
        );
      }
      if (depth >= MAX_NESTING) {
        throw new CniError(
          Code.InvalidConfig,
          `type: plugin ${q(req.type)} would nest ${depth + 1} calls deep: do plugin types of the config name each other?`,
        );
      }
      const { status, stdout } = await runInProcess(
        req.type,
        load,
        env,
        stdin,
        createInvoker(builtins, depth + 1, root),
      );
      return pluginOutcome(
        req.type,
        stdout,
        status === 0 ? undefined : `exited with status ${status}`,
        req.command,
      );
    },
    async ipam(type: string) {
      return builtins.ipam(type)?.();
    },
    inProcess(type: string) {
      return builtins.inProcess(type) !== undefined;
    },
  };
  return invoker;
}
