/**
 * `manifold validate` of a meta-plugin config: its own fields by the meta-plugin's parser
 * (parseMetaConf), its delegates resolved as ADD resolves them (delegatesEach: inline,
 * clusterNetwork/defaultNetworks from confDir or a path), the refusals ADD makes (an interface
 * name used twice; a nested manifold, by checkNetwork), then every delegate's network checked plugin by
 * plugin. A confDir that is not on this machine makes unresolvable names warnings, not errors:
 * the config is for a node.
 */
import { existsSync } from 'node:fs';
import { CniError, q } from '../../cni/errors.ts';
import { ConfigError } from '../../cni/validate.ts';
import { type MetaConf, parseMetaConf } from '../../meta/config.ts';
import { assignIfnames, type Delegate, delegateField, delegatesEach } from '../../meta/delegates.ts';
import type { CliBuiltins } from '../common/builtins.ts';
import { joinPath } from '../common/findings.ts';
import { type Checked, checkNetwork, problemsOf } from './network.ts';

export interface MetaOptions {
  /** Where clusterNetwork, defaultNetworks and empty NADs are looked up instead of the config's confDir. */
  readonly confDir?: string | undefined;
}

/** The fields that say what to attach: never dropped. */
const NETWORKS = new Set(['delegates', 'clusterNetwork', 'defaultNetworks']);

export async function checkMeta(
  builtins: CliBuiltins,
  conf: Record<string, unknown>,
  where: string,
  prefix: string,
  out: Checked,
  opts: MetaOptions,
): Promise<void> {
  const err = (e: unknown, level: 'error' | 'warning' = 'error') => {
    for (const p of problemsOf(e, prefix))
      out.findings.push({ level, where, path: p.path, message: p.problem });
  };
  const given = opts.confDir ? { ...conf, confDir: opts.confDir } : conf;
  let meta: MetaConf;
  try {
    meta = parseMetaConf(given);
  } catch (e) {
    err(e);
    // the delegates are still worth checking: drop the fields found wrong and read it again
    const wrong = e instanceof ConfigError ? e.problems.map((p) => p.path.split(/[.[]/)[0] ?? '') : [];
    const kept = Object.fromEntries(
      Object.entries(given).filter(([k]) => !wrong.includes(k) || NETWORKS.has(k)),
    );
    try {
      meta = parseMetaConf(kept);
    } catch {
      return;
    }
  }
  const confDirHere = existsSync(meta.confDirOrDefault);
  const delegates: Delegate[] = [];
  delegatesEach(meta).forEach((d, i) => {
    if (!(d instanceof CniError)) {
      delegates.push(d);
      return;
    }
    const unresolved = !!meta.clusterNetwork && !confDirHere && d.message.includes('in confDir');
    if (!unresolved) {
      err(d);
      return;
    }
    out.findings.push({
      level: 'warning',
      where,
      path: joinPath(prefix, delegateField(meta, i)),
      message: `not checked: confDir ${q(meta.confDirOrDefault)} is not on this machine (run validate on the node, or give --conf-dir)`,
    });
  });
  try {
    assignIfnames(delegates, 'eth0');
  } catch (e) {
    err(e);
  }
  out.summary.push(
    `manifold (in-process): ${delegates.length} delegate(s)${meta.kubeconfig ? ', plus the NADs a pod asks for' : ''}`,
  );
  for (const [i, d] of delegates.entries()) {
    const inline = d.source === delegateField(meta, i) && !meta.clusterNetwork;
    await checkNetwork(
      builtins,
      d.network.raw,
      inline ? where : d.source,
      inline ? joinPath(prefix, d.source) : '',
      meta.effectiveVersion,
      out,
    );
  }
}
