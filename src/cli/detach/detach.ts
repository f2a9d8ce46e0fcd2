/**
 * `manifold detach POD INTERFACE`: removes a network from a running pod, for operators
 * (docs/hotplug.md). It removes the element that made INTERFACE from the pod's networks
 * annotation — the one that names it, else (an element without `interface`) one of the same
 * network, found through network-status — and waits until network-status no longer shows it.
 */
import type { CliIO, Command } from '../common/command.ts';
import { type FlagSpec, parseArgs, stringFlag, UsageError } from '../common/flags.ts';
import { apiFor, editNetworks, podRef, statusOf, waitForStatus } from '../common/pod-networks-edit.ts';

const FLAGS: Record<string, FlagSpec> = {
  namespace: { kind: 'string' },
  kubeconfig: { kind: 'string' },
  'wait-seconds': { kind: 'string' },
};

async function run(args: readonly string[], io: CliIO): Promise<number> {
  const { flags, positional } = parseArgs(args, FLAGS, { names: ['POD', 'INTERFACE'] });
  const pod = podRef(positional[0] as string, stringFlag(flags, 'namespace'));
  const ifname = positional[1] as string;
  const wait = Number(stringFlag(flags, 'wait-seconds') ?? '30');
  if (!Number.isFinite(wait) || wait < 0)
    throw new UsageError('--wait-seconds: a number of seconds, 0 or more');
  const api = await apiFor(stringFlag(flags, 'kubeconfig'), io.env);
  const ref = `pod ${pod.namespace}/${pod.name}`;
  await editNetworks(api, pod.namespace, pod.name, (elements, meta) => {
    const named = elements.findIndex((e) => e.interface === ifname);
    if (named >= 0) return elements.filter((_, i) => i !== named);
    const entry = statusOf(meta).find((s) => s.interface === ifname);
    if (!entry)
      throw new UsageError(`${ref} has no interface ${JSON.stringify(ifname)} in its network-status`);
    const nameOf = (e: { namespace?: string; name: string }) => `${e.namespace || pod.namespace}/${e.name}`;
    const unnamed = elements.findLastIndex((e) => e.interface === undefined && nameOf(e) === entry.name);
    if (unnamed < 0)
      throw new UsageError(
        `${ref}: interface ${JSON.stringify(ifname)} (${entry.name}) does not come from its k8s.v1.cni.cncf.io/networks annotation (the cluster network and defaultNetworks cannot be detached)`,
      );
    return elements.filter((_, i) => i !== unnamed);
  });
  io.stdout(`${ref}: ${ifname} removed from its networks annotation\n`);
  if (wait === 0) return 0;
  const status = await waitForStatus(
    api,
    pod.namespace,
    pod.name,
    wait,
    (s) => !s.some((e) => e.interface === ifname),
  );
  if (!status) {
    io.stderr(
      `manifold detach: network-status of ${ref} still shows ${ifname} after ${wait} s (see the pod's events)\n`,
    );
    return 1;
  }
  io.stdout(`detached: ${ifname}\n`);
  return 0;
}

export const detachCommand: Command = {
  help: `Removes a network from a running pod (hot-plug, docs/hotplug.md): takes the element that
made INTERFACE out of the pod's k8s.v1.cni.cncf.io/networks annotation in the API server, which
the manifold daemon of the pod's node acts on, and waits until the pod's network-status no longer
shows INTERFACE. Daemon mode only. The cluster network and defaultNetworks cannot be detached.

flags:
  --namespace NS       the pod's namespace when POD has none (default "default")
  --kubeconfig FILE    credentials (default: $KUBECONFIG, else the in-cluster service account)
  --wait-seconds N     how long to wait for network-status (default 30; 0: do not wait)

examples:
  $ manifold detach default/web data1
  $ manifold detach web --namespace tenant-a net2
`,
  run,
};
