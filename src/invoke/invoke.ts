/**
 * Runs one plugin for one verb, wherever it lives: built-in types in-process, anything else
 * executed from the search path. Either way the caller gets what a runtime gets: the decoded
 * stdout, or the plugin's CNI error thrown.
 */
import type { Env, Verb } from '../skel/env.ts';
import { loaderFor } from './builtins.ts';
import { checkPluginType, execPlugin, pluginOutcome } from './exec.ts';
import { runInProcess } from './inprocess.ts';

export interface InvokeRequest {
  readonly type: string;
  readonly command: Verb;
  /** The complete environment of the call (CNI_* variables included). */
  readonly env: Env;
  /** Where external plugins are looked for, in order. */
  readonly searchPath: readonly string[];
  readonly conf: Readonly<Record<string, unknown>>;
}

export async function invoke(req: InvokeRequest): Promise<unknown> {
  checkPluginType(req.type);
  const env = { ...req.env, CNI_COMMAND: req.command };
  const stdin = JSON.stringify(req.conf);
  const load = loaderFor(req.type);
  if (!load || req.type === 'manifold') {
    return execPlugin({ type: req.type, command: req.command, path: req.searchPath, env, stdin });
  }
  const { status, stdout } = await runInProcess(req.type, load, env, stdin);
  return pluginOutcome(req.type, stdout, status === 0 ? undefined : `exited with status ${status}`);
}
