/**
 * `manifold explain --networks ANNOTATION --nad FILE...`: the delegates a Kubernetes pod with
 * that `k8s.v1.cni.cncf.io/networks` annotation would get, without an API server — the
 * configured ones, then one per selection, built from the NAD files by the meta-plugin's own
 * functions (parseNetworksAnnotation, checkIsolation, nadDelegate, checkDefaultRoutes), with
 * the refusals ADD would make (a NAD that is not there, a namespace the pod may not use).
 */
import { CniError, Code, q } from '../../cni/errors.ts';
import type { MetaConf } from '../../meta/config.ts';
import { type Delegate, delegatesFromConfig } from '../../meta/delegates.ts';
import { NETWORKS_ANNOTATION, parseNetworksAnnotation } from '../../meta/pods/annotation.ts';
import { checkDefaultRoutes } from '../../meta/pods/default-route.ts';
import { checkIsolation, isSystemNamespace } from '../../meta/pods/isolation.ts';
import { nadDelegate, RESOURCE_NAME_ANNOTATION } from '../../meta/pods/nad-delegate.ts';
import type { Doc } from '../common/documents.ts';

type NadDoc = Extract<Doc, { kind: 'nad' }>;

export function podDelegates(
  conf: MetaConf,
  annotation: string,
  namespace: string,
  nads: readonly NadDoc[],
): { delegates: Delegate[]; notes: string[] } {
  const configured = delegatesFromConfig(conf);
  // as for a pod: no defaultNetworks in a system namespace
  const list =
    conf.clusterNetwork && isSystemNamespace(conf, namespace) ? configured.slice(0, 1) : configured;
  const notes = [
    `a pod in namespace ${q(namespace)} with ${NETWORKS_ANNOTATION}: ${q(annotation)} (its NADs from the --nad files)`,
  ];
  const asked = `pod in namespace ${namespace} (annotation ${NETWORKS_ANNOTATION})`;
  for (const sel of parseNetworksAnnotation(annotation, namespace)) {
    checkIsolation(conf, namespace, sel.namespace, sel.name);
    const what = `${sel.namespace}/${sel.name}`;
    const doc = nads.find((d) => d.namespace === sel.namespace && d.name === sel.name);
    if (!doc) {
      throw new CniError(
        Code.InvalidConfig,
        `${asked} asks for network ${q(what)}: no such NetworkAttachmentDefinition (among the --nad files)`,
      );
    }
    const resource = doc.nad.metadata.annotations?.[RESOURCE_NAME_ANNOTATION];
    if (resource && !sel.deviceID) {
      throw new CniError(
        Code.InvalidConfig,
        `network ${q(what)} takes a device of resource ${q(resource)} from the device plugin at ADD: give one in the selection's "deviceID" to explain it`,
      );
    }
    // the device plugin's device, as the selection names it
    list.push(nadDelegate(conf, sel, doc.nad, false, resource ? sel.deviceID : undefined));
  }
  checkDefaultRoutes(list);
  return { delegates: list, notes };
}
