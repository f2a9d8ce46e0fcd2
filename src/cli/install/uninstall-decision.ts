/**
 * `uninstall --if-daemonset-deleted` (the DaemonSet's preStop): uninstalling belongs to
 * removing manifold from a node, not to restarting it. A rolling update that removed the
 * config opened a window where pods were deleted by the primary alone and their NAD
 * attachments leaked. So ask the API server about the DaemonSet named by
 * MANIFOLD_DAEMONSET_NAMESPACE/MANIFOLD_DAEMONSET_NAME (set through the downward API /
 * literally in daemonset.yaml): deleted (404) or being deleted (deletionTimestamp) → uninstall
 * (Multus #1105's fix for real removal); present → leave the config. When the API server
 * cannot say, uninstall: a node left pointing at a plugin that is gone is the worse failure.
 */
import { describeError } from '../../cni/errors.ts';

type Env = Readonly<Record<string, string | undefined>>;

export interface Decision {
  readonly uninstall: boolean;
  readonly why: string;
}

export async function shouldUninstall(env: Env, kubeconfig: string | undefined): Promise<Decision> {
  const ns = env.MANIFOLD_DAEMONSET_NAMESPACE;
  const name = env.MANIFOLD_DAEMONSET_NAME;
  if (!ns || !name) {
    return {
      uninstall: true,
      why: 'MANIFOLD_DAEMONSET_NAMESPACE and MANIFOLD_DAEMONSET_NAME are not set: cannot tell a restart from a removal',
    };
  }
  const { KubeClient, Budget } = await import(/* webpackMode: "eager" */ '../../k8s/client.ts');
  const { daemonSetState } = await import(/* webpackMode: "eager" */ '../../k8s/daemonset.ts');
  let client: InstanceType<typeof KubeClient> | undefined;
  try {
    let source: ConstructorParameters<typeof KubeClient>[0];
    if (kubeconfig) {
      const { kubeconfigSource } = await import(/* webpackMode: "eager" */ '../../k8s/kubeconfig.ts');
      source = kubeconfigSource(kubeconfig);
    } else {
      const { inClusterSource } = await import(/* webpackMode: "eager" */ '../../k8s/incluster.ts');
      source = inClusterSource(env);
    }
    client = new KubeClient(source, new Budget(5_000));
    const state = await daemonSetState(client, ns, name);
    const what = `DaemonSet ${ns}/${name}`;
    if (state === 'present')
      return { uninstall: false, why: `${what} is still there: a restart, the config stays` };
    return { uninstall: true, why: `${what} is ${state === 'gone' ? 'gone' : 'being deleted'}` };
  } catch (err) {
    return { uninstall: true, why: `failed to get DaemonSet "${ns}/${name}": ${describeError(err)}` };
  } finally {
    client?.close();
  }
}
