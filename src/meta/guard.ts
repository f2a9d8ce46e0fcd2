/**
 * What a delegate may name, checked before ADD (and STATUS) runs anything, with the field
 * path in the error (code 7): plugin and IPAM types are file names in binDir/CNI_PATH, never
 * paths; and no delegate is of type "manifold" (or a conflist with one) — it would run a
 * second meta-plugin for the same container, sharing this call's state, and a config that
 * names itself (clusterNetwork) would recurse without end. DEL and GC never run a nested one
 * (teardown.ts); the executor also refuses this very executable under any name
 * (src/invoke/exec.ts).
 */
import { CniError, Code, q } from '../cni/errors.ts';
import { checkPluginType } from '../cni/names.ts';
import type { MetaConf } from './config.ts';
import { type Delegate, delegateField } from './delegates.ts';

const META = 'manifold';

export function isNested(d: Delegate): boolean {
  return d.network.plugins.some((p) => p.type === META);
}

/** Throws code 7 for the first nested manifold delegate. */
export function refuseNested(conf: MetaConf, delegates: readonly Delegate[]): void {
  delegates.forEach((d, i) => {
    const j = d.network.plugins.findIndex((p) => p.type === META);
    if (j < 0) return;
    const field = delegateField(conf, i);
    const path = conf.clusterNetwork
      ? `${field}: network ${q(d.network.name)} in ${q(d.source)}`
      : d.network.kind === 'conflist'
        ? `${field}.plugins[${j}].type`
        : `${field}.type`;
    throw new CniError(
      Code.InvalidConfig,
      `${path}: a delegate of type "manifold" is refused: it would run manifold inside manifold for the same container (sharing its state, possibly recursing); list its networks as delegates of this config instead`,
    );
  });
}

/** Every plugin type and IPAM type of every delegate is a file name (code 7 naming the field otherwise). */
export function checkTypes(conf: MetaConf, delegates: readonly Delegate[]): void {
  delegates.forEach((d, i) => {
    const field = delegateField(conf, i);
    d.network.plugins.forEach((p, j) => {
      const at = conf.clusterNetwork
        ? `${field}: network ${q(d.network.name)} in ${q(d.source)}: plugins[${j}]`
        : d.network.kind === 'conflist'
          ? `${field}.plugins[${j}]`
          : field;
      checkPluginType(String(p.type), `${at}.type`);
      const ipam = p.ipam as { type?: unknown } | undefined;
      if (ipam && typeof ipam.type === 'string' && ipam.type !== '')
        checkPluginType(ipam.type, `${at}.ipam.type`);
    });
  });
}

/** What ADD and STATUS check before running anything. */
export function guard(conf: MetaConf, delegates: readonly Delegate[]): void {
  checkTypes(conf, delegates);
  refuseNested(conf, delegates);
}
