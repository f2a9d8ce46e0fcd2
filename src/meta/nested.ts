/**
 * A delegate of type "manifold" (or a conflist with one) is refused with code 7 naming the
 * field: it would run a second meta-plugin for the same container, sharing this call's
 * state, and a config that names itself (clusterNetwork) would recurse without end. DEL and
 * GC never run one (teardown.ts); the executor also refuses to execute this very executable
 * under any name (src/invoke/exec.ts).
 */
import { CniError, Code } from '../cni/errors.ts';
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
      ? `${field}: network ${JSON.stringify(d.network.name)} in ${JSON.stringify(d.source)}`
      : d.network.kind === 'conflist'
        ? `${field}.plugins[${j}].type`
        : `${field}.type`;
    throw new CniError(
      Code.InvalidConfig,
      `${path}: a delegate of type "manifold" is refused: it would run manifold inside manifold for the same container (sharing its state, possibly recursing); list its networks as delegates of this config instead`,
    );
  });
}
