/**
 * Runs a plugin executable exactly as libcni does: found by type in the search path, the
 * caller's environment with CNI_COMMAND set, the config on stdin, the result (or CNI error)
 * parsed from stdout, stderr passed through. In a daemon that runs in a container with the
 * node's root mounted (`manifold daemon --host-root`), the plugin is found and run inside that
 * root, through the shim's launcher role, so it sees the node's files as one-shot would.
 */
import { accessSync, constants, realpathSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { CniError, Code, failed, q } from '../cni/errors.ts';
import { checkPluginType } from '../cni/names.ts';
import type { Env, Verb } from '../cni/plugin.ts';
import type { Ran } from '../util/spawn.ts';

/** No executable of that type along the search path (a caller may treat it as permanent). */
export class PluginNotFoundError extends CniError {}

/**
 * Where executed plugins run: the node's root as mounted in the daemon's container, and the
 * launcher that enters it (the shim invoked as `manifold-hostexec`). Absent: this filesystem.
 */
export interface HostRoot {
  readonly dir: string;
  readonly launcher: string;
}

/** The first executable `type` in `dirs` (directories inside `root` when given). */
export function findPlugin(type: string, dirs: readonly string[], root?: string): string {
  checkPluginType(type);
  if (dirs.length === 0) {
    throw new PluginNotFoundError(Code.Internal, `failed to find plugin ${q(type)}: CNI_PATH is empty`);
  }
  for (const dir of dirs) {
    const file = join(dir, type);
    const seen = root === undefined ? file : join(root, file);
    try {
      if (!statSync(seen).isFile()) continue;
      accessSync(seen, constants.X_OK);
      return file;
    } catch {
      // not here
    }
  }
  throw new PluginNotFoundError(
    Code.Internal,
    `failed to find plugin ${q(type)} in path [${dirs.join(' ')}]${root === undefined ? '' : ` (inside the host root ${root})`}`,
  );
}

function realpath(p: string): string | undefined {
  try {
    return realpathSync(p);
  } catch {
    return undefined;
  }
}

/**
 * Built-in types run in-process, so executing this very executable means running the
 * meta-plugin inside itself (installed under another name: "multus"…): refused, whatever the
 * verb, so no config can make manifold recurse.
 */
function refuseSelf(type: string, file: string): void {
  const self = realpath(process.execPath);
  if (self !== undefined && realpath(file) === self) {
    throw new CniError(
      Code.InvalidConfig,
      `type: plugin ${q(type)} (${file}) is this executable: a nested meta-plugin is refused`,
    );
  }
}

export interface ExecRequest {
  readonly type: string;
  readonly command: Verb;
  /** Directories searched for the executable, in order. */
  readonly path: readonly string[];
  /** The environment to pass on; CNI_COMMAND is set from `command`, `overrides` win. */
  readonly env: Env;
  readonly overrides?: Readonly<Record<string, string>>;
  readonly stdin: string;
  /** Run it inside the node's root (a daemon in a container). */
  readonly root?: HostRoot | undefined;
}

/** Runs the plugin; returns its decoded stdout (undefined when empty) or throws its CNI error. */
export async function execPlugin(req: ExecRequest): Promise<unknown> {
  const root = req.root;
  const file = findPlugin(req.type, req.path, root?.dir);
  refuseSelf(req.type, root === undefined ? file : join(root.dir, file));
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.env)) if (v !== undefined) env[k] = v;
  Object.assign(env, { CNI_COMMAND: req.command }, req.overrides ?? {});
  let r: Ran;
  try {
    const { runProgram } = await import(/* webpackMode: "eager" */ '../util/spawn.ts'); // node:child_process only when needed
    r =
      root === undefined
        ? await runProgram(file, [], { env, input: req.stdin, stderr: 'inherit' })
        : await runProgram(root.launcher, [root.dir, file], { env, input: req.stdin, stderr: 'inherit' });
  } catch (err) {
    throw failed(`run plugin ${q(req.type)} (${file})`, err);
  }
  const how =
    r.code === 0 ? undefined : r.signal ? `was killed by ${r.signal}` : `exited with status ${r.code ?? '?'}`;
  return pluginOutcome(req.type, r.stdout, how, req.command);
}

/**
 * What a plugin's stdout means, as a runtime reads it: its result (undefined when it printed
 * nothing: only ADD must print one, a JSON object), or — when it failed (`failure` says
 * how) — its CNI error, thrown as is.
 */
export function pluginOutcome(
  type: string,
  stdout: string,
  failure: string | undefined,
  command?: Verb,
): unknown {
  const out = stdout.trim();
  let decoded: unknown;
  if (out !== '') {
    try {
      decoded = JSON.parse(out);
    } catch {
      decoded = undefined;
    }
  }
  if (failure === undefined) {
    if (out !== '' && decoded === undefined) {
      throw new CniError(
        Code.DecodingFailure,
        `plugin ${q(type)} printed a result that is not JSON: ${snippet(out)}`,
      );
    }
    if (command === 'ADD' && out === '') {
      throw new CniError(Code.DecodingFailure, `plugin ${q(type)} printed no result for ADD`);
    }
    if (command === 'ADD' && (decoded === null || typeof decoded !== 'object' || Array.isArray(decoded))) {
      throw new CniError(
        Code.DecodingFailure,
        `plugin ${q(type)} printed a result for ADD that is not a JSON object: ${snippet(out)}`,
      );
    }
    return decoded;
  }
  const e = decoded as { code?: unknown; msg?: unknown; details?: unknown } | undefined;
  if (e && typeof e.code === 'number' && typeof e.msg === 'string') {
    throw new CniError(e.code, e.msg, typeof e.details === 'string' ? e.details : '');
  }
  throw new CniError(Code.Internal, `plugin ${q(type)} ${failure}${out ? `: ${snippet(out)}` : ''}`);
}

function snippet(s: string): string {
  const one = s.replace(/\s+/g, ' ');
  return one.length > 200 ? `${one.slice(0, 197)}...` : one;
}
