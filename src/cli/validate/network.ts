/**
 * `manifold validate` of one network: the network's own shape (parseNetwork, the name rules)
 * and each plugin's config checked by that plugin's own parser — the very parseConfig ADD
 * runs, given the config as the plugin receives it (name and cniVersion injected) — and by
 * its built-in IPAM's. Every problem is kept with its JSON path (prefixed with where the
 * network sits in the file), and each plugin is summarised for the cross-network risk checks.
 */
import { CniError, describeError, q } from '../../cni/errors.ts';
import { isValidName } from '../../cni/names.ts';
import { ConfigError } from '../../cni/validate.ts';
import { type Network, parseNetwork, pluginConfig, type RuntimeConf } from '../../invoke/network.ts';
import type { CliBuiltins } from '../common/builtins.ts';
import { type Finding, joinPath, type PluginView } from '../common/findings.ts';

export interface Checked {
  readonly findings: Finding[];
  readonly plugins: PluginView[];
  /** `macvlan (in-process), IPAM host-local (in-process)` per plugin, for the ok line. */
  readonly summary: string[];
}

const PATH_FIRST = /^((?:[A-Za-z_$][\w$-]*|\[\d+\])(?:\.[A-Za-z_$][\w$/.-]*|\[\d+\])*): (.*)$/s;

/** A thrown config error as problems (every one zod found), paths prefixed. */
export function problemsOf(err: unknown, prefix: string): { path: string; problem: string }[] {
  if (err instanceof ConfigError) {
    return err.problems.map((p) => ({
      path: joinPath(prefix, p.path.replace(/^\./, '')),
      problem: p.problem,
    }));
  }
  const msg = (err instanceof CniError ? err.describe() : describeError(err)).replace(/^\./, '');
  const m = PATH_FIRST.exec(msg);
  if (m?.[1] && m[2] !== undefined && !m[1].includes(' '))
    return [{ path: joinPath(prefix, m[1]), problem: m[2] }];
  return [{ path: prefix, problem: msg }];
}

const NO_RUNTIME: RuntimeConf = {
  containerId: '',
  netns: '',
  ifname: '',
  args: [],
  capabilityArgs: {},
  searchPath: [],
  env: {},
};

function ipamTypeOf(conf: Readonly<Record<string, unknown>>): string | undefined {
  const ipam = conf.ipam as { type?: unknown } | undefined;
  return ipam && typeof ipam.type === 'string' && ipam.type !== '' ? ipam.type : undefined;
}

/** Checks a meta-plugin config found at the top of a file (not inside a delegate). */
export type MetaCheck = (conf: Record<string, unknown>, where: string, prefix: string) => Promise<void>;

async function checkPlugin(
  builtins: CliBuiltins,
  net: Network,
  plugin: Readonly<Record<string, unknown>>,
  where: string,
  prefix: string,
  out: Checked,
  meta: MetaCheck | undefined,
): Promise<void> {
  const conf = pluginConfig(net, plugin, NO_RUNTIME, undefined);
  const type = String(plugin.type);
  const error = (path: string, problem: string) =>
    out.findings.push({ level: 'error', where, path, message: problem });
  out.plugins.push({ where, path: prefix, network: net.name, type, raw: conf });
  const b = builtins.get(type);
  const parts: string[] = [];
  if (b?.role === 'meta') {
    out.plugins.pop();
    if (meta) return meta(conf, where, prefix);
    error(
      joinPath(prefix, 'type'),
      'a delegate of type "manifold" is refused: it would run manifold inside manifold for the same container',
    );
    return;
  }
  if (b) {
    parts.push(`${type} (in-process)`);
    try {
      (await b.load()).parseConfig(conf, new Map());
    } catch (err) {
      for (const p of problemsOf(err, prefix)) error(p.path, p.problem);
    }
  } else {
    parts.push(`${type} (executed from CNI_PATH; its config is that plugin's to check)`);
  }
  const ipam = ipamTypeOf(conf);
  if (ipam && b?.role === 'link') {
    const ib = builtins.get(ipam);
    if (ib?.role === 'ipam') {
      parts.push(`IPAM ${ipam} (in-process)`);
      try {
        (await ib.load()).parseConfig(conf, new Map());
      } catch (err) {
        for (const p of problemsOf(err, prefix)) error(p.path, p.problem);
      }
    } else parts.push(`IPAM ${ipam} (executed from CNI_PATH)`);
  }
  out.summary.push(parts.join(', '));
}

/**
 * Checks one conf or conflist. `prefix` places it in the file (`delegates[1]`); networks
 * without a cniVersion take `fallbackVersion` (a meta config's delegates inherit its own).
 */
export async function checkNetwork(
  builtins: CliBuiltins,
  raw: unknown,
  where: string,
  prefix: string,
  fallbackVersion: string,
  out: Checked,
  meta?: MetaCheck,
): Promise<Network | undefined> {
  let net: Network;
  try {
    net = parseNetwork(raw, prefix, fallbackVersion);
  } catch (err) {
    for (const p of problemsOf(err, ''))
      out.findings.push({ level: 'error', where, path: p.path, message: p.problem });
    return undefined;
  }
  if (!isValidName(net.name)) {
    out.findings.push({
      level: 'error',
      where,
      path: joinPath(prefix, 'name'),
      message: `invalid characters in network name ${q(net.name)}: a letter or digit first, then only letters, digits, "_", "." or "-"`,
    });
  }
  for (const [i, plugin] of net.plugins.entries()) {
    const at = net.kind === 'conflist' ? joinPath(prefix, `plugins[${i}]`) : prefix;
    await checkPlugin(builtins, net, plugin, where, at, out, meta);
  }
  return net;
}

export function emptyChecked(): Checked {
  return { findings: [], plugins: [], summary: [] };
}
