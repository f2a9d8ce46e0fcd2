/**
 * What the daemon's garbage collection (src/daemon/gc.ts) may collect, read from the
 * meta-plugin's cache files: each attachment whose cache names its pod and records the call
 * as the runtime made it, with the DEL a runtime would send for it (the same config and
 * CNI_PATH, the pod's CNI_ARGS, its netns when it still exists, else none as containerd's
 * second DEL). Caches without a pod (not a pod's attachment) or written before they recorded
 * the call are never candidates. Kept here, at the command, so src/daemon knows nothing of
 * the meta-plugin's files.
 */
import { access } from 'node:fs/promises';
import type { GcCandidate } from '../../daemon/gc.ts';
import { readCaches } from '../../meta/cache.ts';

const exists = (p: string) =>
  p
    ? access(p).then(
        () => true,
        () => false,
      )
    : Promise.resolve(false);

export async function gcCandidates(cniDirs: readonly string[]): Promise<GcCandidate[]> {
  const out: GcCandidate[] = [];
  for (const dir of cniDirs) {
    for (const { cache, file, writtenMs } of await readCaches(dir)) {
      const { pod, call } = cache;
      if (!pod || !call) continue;
      const args = [
        'IgnoreUnknown=1',
        `K8S_POD_NAMESPACE=${pod.namespace}`,
        `K8S_POD_NAME=${pod.name}`,
        `K8S_POD_INFRA_CONTAINER_ID=${cache.containerId}`,
        ...(pod.uid ? [`K8S_POD_UID=${pod.uid}`] : []),
      ].join(';');
      const env: Record<string, string> = {
        CNI_COMMAND: 'DEL',
        CNI_CONTAINERID: cache.containerId,
        CNI_NETNS: (await exists(cache.netns)) ? cache.netns : '',
        CNI_IFNAME: cache.ifname,
        CNI_ARGS: args,
        CNI_PATH: call.path,
      };
      out.push({
        file,
        writtenMs,
        containerId: cache.containerId,
        ifname: cache.ifname,
        pod,
        del: { name: 'manifold', env, stdin: Buffer.from(JSON.stringify(call.conf)) },
      });
    }
  }
  return out;
}
