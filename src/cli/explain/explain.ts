/**
 * `manifold explain FILE`: the dry run of an ADD of the file's network — a manifold config
 * (its delegates from the config or confDir), a plain conf or conflist, or a
 * NetworkAttachmentDefinition's network — printed for people, or as JSON. CNI_ARGS, CAP_ARGS
 * and CNI_PATH are read as `manifold add` reads them, so explain and add see the same call.
 */
import { resolve } from 'node:path';
import { CniError } from '../../cni/errors.ts';
import { IMPLICIT_VERSION } from '../../cni/versions.ts';
import { parseNetwork, pluginConfig } from '../../invoke/network.ts';
import { parseMetaConf } from '../../meta/config.ts';
import { delegatesFromConfig, splitManifoldKey } from '../../meta/delegates.ts';
import { guard } from '../../meta/guard.ts';
import type { CliIO, Command } from '../common/command.ts';
import { type Doc, filesOf, readDocuments } from '../common/documents.ts';
import { type Flags, listFlag, parseArgs, stringFlag, UsageError } from '../common/flags.ts';
import { readToolEnv } from '../common/tool-env.ts';
import { explainMeta, explainNetwork } from './dry-run.ts';
import type { ExplainRequest, Explanation } from './explanation.ts';
import { podDelegates } from './pod.ts';
import { renderExplanation } from './render.ts';

export const DEFAULT_CONTAINER_ID = 'manifold-explain';
export const DEFAULT_NETNS = '/var/run/netns/manifold-explain';
const DEFAULT_CONF_DIR = '/etc/cni/manifold/net.d';

type Raw = Record<string, unknown>;

interface Pod {
  readonly annotation: string;
  readonly namespace: string;
  readonly nads: Extract<Doc, { kind: 'nad' }>[];
}

async function podOf(io: CliIO, flags: Flags, confDir: string | undefined): Promise<Pod | undefined> {
  const annotation = stringFlag(flags, 'networks');
  const files = listFlag(flags, 'nad');
  if (annotation === undefined) {
    if (files.length > 0 || flags.namespace !== undefined)
      throw new UsageError('--nad and --namespace go with --networks');
    return undefined;
  }
  const nads: Pod['nads'] = [];
  for (const f of files.flatMap((x) => filesOf(x, io.cwd))) {
    for (const d of await readDocuments(resolve(io.cwd, f), confDir ?? DEFAULT_CONF_DIR)) {
      if (d.kind === 'nad') nads.push(d);
      else if (d.kind === 'broken') throw new Error(`${f}: ${d.path ? `${d.path}: ` : ''}${d.problem}`);
    }
  }
  return { annotation, namespace: stringFlag(flags, 'namespace') ?? 'default', nads };
}

async function explainRaw(
  io: CliIO,
  raw: Raw,
  where: string,
  req: ExplainRequest,
  confDir: string | undefined,
  pod: Pod | undefined,
): Promise<Explanation> {
  const net = parseNetwork(raw, '', IMPLICIT_VERSION);
  const metaAt = net.plugins.findIndex((p) => io.builtins.get(String(p.type))?.role === 'meta');
  if (metaAt < 0 && pod)
    throw new UsageError("--networks is for a manifold config (the pod's other networks come from it)");
  if (metaAt < 0) return explainNetwork(io.builtins, net, where, req);
  const notes: string[] = [];
  const rest = net.plugins.slice(metaAt + 1).map((p) => String(p.type));
  if (metaAt > 0 || rest.length > 0)
    notes.push(
      `the conflist chains other plugins around manifold (${net.plugins.map((p) => String(p.type)).join(', ')}): only manifold's part is shown`,
    );
  const pluginRaw = pluginConfig(
    net,
    net.plugins[metaAt] as Raw,
    { ...req, args: req.cniArgs, capabilityArgs: {}, searchPath: req.cniPath },
    undefined,
  );
  const conf = parseMetaConf(confDir ? { ...pluginRaw, confDir } : pluginRaw);
  if (pod) {
    const p = podDelegates(conf, pod.annotation, pod.namespace, pod.nads);
    guard(conf, p.delegates);
    return explainMeta(io.builtins, conf, p.delegates, req, [...notes, ...p.notes]);
  }
  if (conf.kubeconfig || (req.env.KUBERNETES_SERVICE_HOST && req.env.KUBERNETES_SERVICE_PORT))
    notes.push(
      "for a Kubernetes pod the pod's annotations add attachments (k8s.v1.cni.cncf.io/networks) or replace the master (v1.multus-cni.io/default-network): shown are the configured delegates (--networks and --nad add a pod's)",
    );
  const delegates = delegatesFromConfig(conf);
  guard(conf, delegates);
  return explainMeta(io.builtins, conf, delegates, req, notes);
}

export const explainCommand: Command = {
  help: `A dry run of ADD for FILE's network: the delegate order, the interface names, which plugin runs
in-process and which is executed (and from where), what each would create, the address each
interface would get and the range it comes from, the routes, and the result ADD would print.
FILE is a manifold config, a plain .conf or .conflist, or a NetworkAttachmentDefinition
(YAML or JSON). It creates nothing and reserves no address: host-local's store is read, never
written, and its next address is found by host-local's own allocator. Exit 1 when ADD would
fail (the error is printed as ADD would report it).

CNI_ARGS (K=V;K2=V2), CAP_ARGS (JSON) and CNI_PATH are read as \`manifold add\` reads them.

flags:
  --ifname NAME        CNI_IFNAME, the master's interface (default: CNI_IFNAME, else eth0)
  --netns PATH         the pod's netns, as the result would name it (default ${DEFAULT_NETNS})
  --container-id ID    the container id (default ${DEFAULT_CONTAINER_ID}; some names derive from it)
  --conf-dir DIR       where clusterNetwork and defaultNetworks are looked up instead of confDir
  --networks VALUE     a Kubernetes pod's k8s.v1.cni.cncf.io/networks annotation: its attachments
                       follow the configured ones, each from its NAD among the --nad files
  --nad FILE           NetworkAttachmentDefinitions (YAML or JSON, or a directory of them; repeatable)
  --namespace NS       the pod's namespace (default "default")
  --json               the explanation as JSON

examples:
  $ manifold explain conf.d-examples/10-macvlan.conf
  $ manifold explain --conf-dir conf.d-examples conf.d-examples/00-manifold.conf
  $ CNI_ARGS=IP=10.10.0.42 manifold explain --ifname net1 conf.d-examples/10-macvlan.conf
  $ manifold explain --json conf.d-examples/nad/bridge.yaml
  $ manifold explain --conf-dir conf.d-examples --networks macvlan-net@data0 --nad conf.d-examples/nad/macvlan.yaml conf.d-examples/00-manifold.conf
`,
  async run(args, io) {
    const { flags, positional } = parseArgs(
      args,
      {
        ifname: { kind: 'string' },
        netns: { kind: 'string' },
        'container-id': { kind: 'string' },
        'conf-dir': { kind: 'string' },
        networks: { kind: 'string' },
        nad: { kind: 'list' },
        namespace: { kind: 'string' },
        json: { kind: 'boolean' },
      },
      { names: ['FILE'] },
    );
    const tool = readToolEnv(io.env, stringFlag(flags, 'ifname'));
    const dir = stringFlag(flags, 'conf-dir');
    const confDir = dir === undefined ? undefined : resolve(io.cwd, dir);
    const req: ExplainRequest = {
      containerId: stringFlag(flags, 'container-id') ?? DEFAULT_CONTAINER_ID,
      netns: resolve(io.cwd, stringFlag(flags, 'netns') ?? DEFAULT_NETNS),
      ifname: tool.ifname,
      cniArgs: tool.cniArgs,
      capArgs: tool.capArgs,
      cniPath: tool.cniPath,
      env: io.env,
    };
    const file = positional[0] as string;
    const pod = await podOf(io, flags, confDir);
    const docs = await readDocuments(resolve(io.cwd, file), confDir ?? DEFAULT_CONF_DIR);
    const out: Explanation[] = [];
    for (const doc of docs) {
      if (doc.kind === 'broken')
        throw new Error(
          `${doc.where.replace(resolve(io.cwd, file), file)}: ${doc.path ? `${doc.path}: ` : ''}${doc.problem}`,
        );
      const notes =
        doc.kind === 'nad'
          ? [
              `a pod attachment of NetworkAttachmentDefinition ${doc.namespace}/${doc.name} (its ${doc.source})`,
            ]
          : [];
      try {
        // the `manifold` object of a network is the meta-plugin's: the plugins never see it
        const raw = doc.raw.type === 'manifold' ? doc.raw : splitManifoldKey(doc.raw, '').rest;
        const e = await explainRaw(
          io,
          raw,
          doc.kind === 'nad' ? doc.source : resolve(io.cwd, file),
          req,
          confDir,
          pod,
        );
        out.push({ ...e, notes: [...notes, ...e.notes] });
      } catch (err) {
        if (!(err instanceof CniError)) throw err;
        io.stdout(`ADD would fail: ${err.describe()} (CNI error ${err.code})\n`);
        return 1;
      }
    }
    if (flags.json) io.stdout(`${JSON.stringify(out.length === 1 ? out[0] : out, null, 2)}\n`);
    else io.stdout(out.map((e) => renderExplanation(e, req)).join('\n'));
    return 0;
  },
};
