/**
 * The CNI_* environment variables of a call: which each verb requires, and their rules
 * (container id, interface name, CNI_ARGS pairs). Errors are code 4, as the reference skel's.
 */
import { CniError, Code, q } from '../cni/errors.ts';
import { interfaceNameProblem, isValidName } from '../cni/names.ts';
import { type Env, isVerb, VERBS, type Verb } from '../cni/plugin.ts';

/** What the runtime told us through the environment, validated. */
export interface CmdArgs {
  readonly command: Verb;
  readonly containerId: string;
  readonly netns: string;
  readonly ifname: string;
  /** CNI_ARGS, raw (`K=V;K2=V2`); parse with parseCniArgs. */
  readonly args: string;
  /** CNI_PATH split on ':' (empty entries dropped). */
  readonly path: readonly string[];
}

/**
 * Which variables each verb requires (the CNI spec's table; CNI_ARGS is always optional).
 * CNI_PATH is required only where the plugin must find other plugins to do anything (GC);
 * for ADD/CHECK/DEL/STATUS it is optional so built-ins work by hand without it, and the
 * code that needs it (external delegates, external IPAM) says so when it is missing.
 */
const REQUIRED: Record<Verb, readonly string[]> = {
  ADD: ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME'],
  CHECK: ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME'],
  DEL: ['CNI_CONTAINERID', 'CNI_IFNAME'],
  GC: ['CNI_PATH'],
  STATUS: [],
  VERSION: [],
};

/** Reads and validates the CNI_* variables; all missing ones are reported in one error (code 4). */
export function parseEnv(env: Env): CmdArgs {
  const command = env.CNI_COMMAND ?? '';
  const required = isVerb(command) ? REQUIRED[command] : [];
  const missing = ['CNI_COMMAND', ...required].filter((name) => !env[name]);
  if (missing.length > 0) {
    throw new CniError(Code.InvalidEnvironment, `required env variables [${missing.join(',')}] missing`);
  }
  if (!isVerb(command)) {
    throw new CniError(
      Code.InvalidEnvironment,
      `unknown CNI_COMMAND: ${q(command)} (expected one of ${VERBS.join(', ')})`,
    );
  }
  const containerId = env.CNI_CONTAINERID ?? '';
  const ifname = env.CNI_IFNAME ?? '';
  if (required.includes('CNI_CONTAINERID')) validateContainerId(containerId);
  if (required.includes('CNI_IFNAME')) validateIfname(ifname, 'CNI_IFNAME');
  return {
    command,
    containerId,
    netns: env.CNI_NETNS ?? '',
    ifname,
    args: env.CNI_ARGS ?? '',
    path: splitPath(env.CNI_PATH),
  };
}

export function splitPath(value: string | undefined): string[] {
  return (value ?? '').split(':').filter((p) => p !== '');
}

export function validateContainerId(id: string): void {
  if (!isValidName(id)) {
    throw new CniError(
      Code.InvalidEnvironment,
      `invalid CNI_CONTAINERID ${q(id)}: must start with a letter or digit, then only letters, digits, '_', '.' or '-'`,
    );
  }
}

export function validateIfname(name: string, what: string): void {
  const problem = interfaceNameProblem(name);
  if (problem) {
    throw new CniError(Code.InvalidEnvironment, `invalid ${what} ${q(name)}: interface name ${problem}`);
  }
}

/**
 * Parses CNI_ARGS (`K=V;K2=V2`). Unknown keys are kept (callers pick what they know, as the
 * reference plugins do with IgnoreUnknown); a pair without '=' is an error (code 4).
 */
export function parseCniArgs(raw: string): Map<string, string> {
  const out = new Map<string, string>();
  if (raw === '') return out;
  const pairs = raw.split(';');
  for (const [i, pair] of pairs.entries()) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    if (eq <= 0) {
      // the pair itself is not repeated: it may be a value (a token) that lost its key
      throw new CniError(
        Code.InvalidEnvironment,
        `invalid CNI_ARGS: pair ${i + 1} of ${pairs.length} is not KEY=VALUE`,
      );
    }
    out.set(pair.slice(0, eq), pair.slice(eq + 1));
  }
  return out;
}
