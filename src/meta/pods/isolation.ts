/**
 * Multus's namespace rules: with `namespaceIsolation`, a pod may use NetworkAttachmentDefinitions
 * of its own namespace and of the `globalNamespaces` (a comma list; "default" when unset);
 * pods in `systemNamespaces` (default kube-system) get no `defaultNetworks` and no
 * network-status; `clusterNetwork`/`defaultNetworks` names and the default-network
 * annotation are looked up in `multusNamespace` (default kube-system).
 */
import { CniError, Code, q } from '../../cni/errors.ts';
import type { MetaConf } from '../config.ts';
import { DEFAULT_GLOBAL_NAMESPACES, DEFAULT_MULTUS_NAMESPACE, DEFAULT_SYSTEM_NAMESPACES } from '../config.ts';

export function globalNamespaces(conf: MetaConf): string[] {
  if (!conf.globalNamespaces) return [...DEFAULT_GLOBAL_NAMESPACES];
  return conf.globalNamespaces
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

export function isSystemNamespace(conf: MetaConf, namespace: string): boolean {
  return (conf.systemNamespaces ?? DEFAULT_SYSTEM_NAMESPACES).includes(namespace);
}

export function multusNamespace(conf: MetaConf): string {
  return conf.multusNamespace || DEFAULT_MULTUS_NAMESPACE;
}

/**
 * Refuses (code 7) a reference to a NAD the pod's namespace may not use. The default network
 * (`v1.multus-cni.io/default-network`) may also come from `multusNamespace`, where its
 * unqualified names resolve; `via` names the annotation in the message.
 */
export function checkIsolation(
  conf: MetaConf,
  podNamespace: string,
  nadNamespace: string,
  nadName: string,
  opts: { readonly via?: string; readonly defaultNetwork?: boolean } = {},
): void {
  if (!conf.namespaceIsolation || nadNamespace === podNamespace) return;
  const globals = globalNamespaces(conf);
  if (globals.includes(nadNamespace)) return;
  const multus = multusNamespace(conf);
  if (opts.defaultNetwork && nadNamespace === multus) return;
  const allowed = `the global namespaces ${q(globals.join(','))} (globalNamespaces)`;
  throw new CniError(
    Code.InvalidConfig,
    `namespace isolation: pod in namespace ${q(podNamespace)} may not use network ${q(`${nadNamespace}/${nadName}`)}${opts.via ? ` (annotation ${opts.via})` : ''}`,
    opts.defaultNetwork
      ? `allowed: its own namespace, ${allowed} and ${q(multus)} (multusNamespace)`
      : `allowed: its own namespace and ${allowed}`,
  );
}
