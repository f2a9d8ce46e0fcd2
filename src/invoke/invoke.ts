/**
 * Runs one plugin for one verb, wherever it lives: built-in types in-process, anything else
 * executed from the search path. Either way the caller gets what a runtime gets: the decoded
 * stdout, or the plugin's CNI error thrown.
 */
import type { Env, Verb } from '../skel/env.ts';
import { CniError, Code } from '../skel/errors.ts';
import { loaderFor } from './builtins.ts';
import { checkPluginType, execPlugin } from './exec.ts';
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

function decode(type: string, out: string): unknown {
  const text = out.trim();
  if (text === '') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    throw new CniError(
      Code.DecodingFailure,
      `plugin ${JSON.stringify(type)} printed output that is not JSON`,
    );
  }
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
  const decoded = decode(req.type, stdout);
  if (status === 0) return decoded;
  const e = decoded as { code?: unknown; msg?: unknown; details?: unknown } | undefined;
  if (e && typeof e.code === 'number' && typeof e.msg === 'string') {
    throw new CniError(e.code, e.msg, typeof e.details === 'string' ? e.details : '');
  }
  throw new CniError(Code.Internal, `plugin ${JSON.stringify(req.type)} failed without an error message`);
}
