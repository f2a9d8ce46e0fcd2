/**
 * `manifold attach POD NETWORK [--interface NAME]`: adds a network to a running pod, for
 * operators (docs/hotplug.md). It appends the element to the pod's networks annotation in the
 * API server; the daemon of the pod's node sees the change and attaches it (hot-plug), and
 * this waits for the pod's network-status to show it.
 */
import type { CliIO, Command } from '../common/command.ts';
import { type FlagSpec, parseArgs, stringFlag, UsageError } from '../common/flags.ts';
import {
  apiFor,
  type Element,
  editNetworks,
  podRef,
  statusOf,
  waitForStatus,
} from '../common/pod-networks-edit.ts';

const FLAGS: Record<string, FlagSpec> = {
  interface: { kind: 'string' },
  namespace: { kind: 'string' },
  kubeconfig: { kind: 'string' },
  'wait-seconds': { kind: 'string' },
};

async function run(args: readonly string[], io: CliIO): Promise<number> {
  const { flags, positional } = parseArgs(args, FLAGS, { names: ['POD', 'NETWORK'] });
  const pod = podRef(positional[0] as string, stringFlag(flags, 'namespace'));
  const network = positional[1] as string;
  const ifname = stringFlag(flags, 'interface');
  const wait = Number(stringFlag(flags, 'wait-seconds') ?? '30');
  if (!Number.isFinite(wait) || wait < 0)
    throw new UsageError('--wait-seconds: a number of seconds, 0 or more');
  const i = network.indexOf('/');
  const el: Element =
    i < 0 ? { name: network } : { namespace: network.slice(0, i), name: network.slice(i + 1) };
  if (ifname) el.interface = ifname;
  const statusName = `${el.namespace ?? pod.namespace}/${el.name}`;
  const api = await apiFor(stringFlag(flags, 'kubeconfig'), io.env);
  let before = 0;
  await editNetworks(api, pod.namespace, pod.name, (elements, meta) => {
    if (ifname && elements.some((e) => e.interface === ifname))
      throw new UsageError(
        `pod ${pod.namespace}/${pod.name} already asks for an interface ${JSON.stringify(ifname)}`,
      );
    before = statusOf(meta).filter((e) => e.name === statusName).length;
    return [...elements, el];
  });
  io.stdout(`pod ${pod.namespace}/${pod.name}: asked for ${statusName}${ifname ? ` as ${ifname}` : ''}\n`);
  if (wait === 0) return 0;
  const status = await waitForStatus(api, pod.namespace, pod.name, wait, (s) =>
    ifname
      ? s.some((e) => e.interface === ifname && e.name === statusName)
      : s.filter((e) => e.name === statusName).length > before,
  );
  if (!status) {
    io.stderr(
      `manifold attach: network-status of pod ${pod.namespace}/${pod.name} does not show ${statusName} after ${wait} s (see the pod's events; the annotation stays as written)\n`,
    );
    return 1;
  }
  const entry = ifname
    ? status.find((e) => e.interface === ifname)
    : status.filter((e) => e.name === statusName).at(-1);
  io.stdout(`attached: ${entry?.interface ?? '?'} [${(entry?.ips ?? []).join(' ')}] from ${statusName}\n`);
  return 0;
}

export const attachCommand: Command = {
  help: `Adds a network to a running pod (hot-plug, docs/hotplug.md): appends it to the pod's
k8s.v1.cni.cncf.io/networks annotation in the API server, which the manifold daemon of the pod's
node acts on, and waits for the pod's network-status to show it. Daemon mode only: in one-shot
mode nobody watches the annotation.

POD is NAMESPACE/NAME or NAME (with --namespace, default "default"); NETWORK is a
NetworkAttachmentDefinition, [NAMESPACE/]NAME (default: the pod's namespace).

flags:
  --interface NAME     the pod's interface name (default: the daemon picks the first free net<N>)
  --namespace NS       the pod's namespace when POD has none
  --kubeconfig FILE    credentials (default: $KUBECONFIG, else the in-cluster service account)
  --wait-seconds N     how long to wait for network-status (default 30; 0: do not wait)

Exit status 0 once network-status shows it; 1 if it did not in time (the pod's events say why).

examples:
  $ manifold attach default/web macvlan-net --interface data1
  $ manifold attach web --namespace tenant-a sriov-net
`,
  run,
};
