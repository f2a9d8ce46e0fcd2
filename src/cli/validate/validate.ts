/**
 * `manifold validate FILE...`: every CNI conf, conflist, meta-plugin config and
 * NetworkAttachmentDefinition in the files, checked by the plugins' own parsers (what ADD
 * would refuse, every problem with its JSON path and value), then the cross-network risks.
 * One line per finding, `FILE: error|warning: PATH: what`; an `ok` line per network without
 * errors. Exit 1 when anything is an error. Needs no root, creates nothing.
 */
import { resolve } from 'node:path';
import { q } from '../../cni/errors.ts';
import { IMPLICIT_VERSION } from '../../cni/versions.ts';
import { splitManifoldKey } from '../../meta/delegates.ts';
import type { Command } from '../common/command.ts';
import { filesOf, readDocuments } from '../common/documents.ts';
import type { Finding, PluginView } from '../common/findings.ts';
import { parseArgs, stringFlag } from '../common/flags.ts';
import { readNode } from '../common/node.ts';
import { risks } from '../common/risks.ts';
import { checkMeta } from './meta.ts';
import { type Checked, checkNetwork, emptyChecked, problemsOf } from './network.ts';

const DEFAULT_CONF_DIR = '/etc/cni/manifold/net.d';

interface DocReport {
  readonly where: string;
  readonly network: string | undefined;
  readonly checked: Checked;
}

function line(f: Finding): string {
  return `${f.where}: ${f.level}: ${f.path ? `${f.path}: ` : ''}${f.message}`;
}

async function validateFile(
  file: string,
  io: Parameters<Command['run']>[1],
  confDir: string | undefined,
): Promise<DocReport[]> {
  const out: DocReport[] = [];
  const path = resolve(io.cwd, file);
  for (const doc of await readDocuments(path, confDir ?? DEFAULT_CONF_DIR)) {
    const where = doc.where.replace(path, file);
    const checked = emptyChecked();
    const meta = (conf: Record<string, unknown>, w: string, prefix: string) =>
      checkMeta(io.builtins, conf, w, prefix, checked, { confDir });
    if (doc.kind === 'broken') {
      checked.findings.push({ level: 'error', where, path: doc.path, message: doc.problem });
      out.push({ where, network: undefined, checked });
      continue;
    }
    let at = where;
    if (doc.kind === 'nad') {
      for (const p of doc.problems)
        checked.findings.push({ level: 'error', where, path: p.path, message: p.problem });
      at = doc.source === 'spec.config' ? `${where} spec.config` : doc.source;
    }
    // a network's `manifold` object (interface name, default route, multi-homing options) is the
    // meta-plugin's: checked by its parser, and not seen by the plugins
    let raw = doc.raw;
    if (raw.manifold !== undefined && raw.type !== 'manifold') {
      try {
        raw = splitManifoldKey(raw, '').rest;
      } catch (err) {
        for (const p of problemsOf(err, ''))
          checked.findings.push({ level: 'error', where: at, path: p.path, message: p.problem });
        raw = Object.fromEntries(Object.entries(raw).filter(([k]) => k !== 'manifold'));
      }
    }
    const net = await checkNetwork(io.builtins, raw, at, '', IMPLICIT_VERSION, checked, meta);
    out.push({ where: at, network: net?.name, checked });
  }
  return out;
}

export const validateCommand: Command = {
  help: `Checks CNI network configs — a .conf, a .conflist, a manifold (meta-plugin) config with its
delegates, or NetworkAttachmentDefinitions (YAML or JSON; several documents, or a List) —
with the plugins' own parsers, so it refuses exactly what ADD would refuse. Every problem is
printed with its JSON path, the value found and what is allowed. It also warns about what is
legal but risky: vxlan without an explicit port, macvlan and ipvlan on the same master, an
MTU above the master's (masters on this node), host-local ranges of different networks that
overlap. Exit 0 (warnings allowed) or 1 (errors). Needs no root; creates nothing.

flags:
  FILE may be a directory: its *.conf, *.conflist, *.json, *.yaml and *.yml files.
  --conf-dir DIR  where clusterNetwork, defaultNetworks and NADs with an empty spec.config are
                  looked up (default: the config's confDir, else ${DEFAULT_CONF_DIR})
  --json          the findings as JSON

examples:
  $ manifold validate conf.d-examples/10-macvlan.conf conf.d-examples/nad/macvlan.yaml
  $ manifold validate --conf-dir conf.d-examples conf.d-examples/00-manifold.conf
  $ manifold validate --json conf.d-examples/nad/vxlan.yaml
`,
  async run(args, io) {
    const { flags, positional } = parseArgs(
      args,
      { 'conf-dir': { kind: 'string' }, json: { kind: 'boolean' } },
      { names: ['FILE...'], min: 1 },
    );
    const dir = stringFlag(flags, 'conf-dir');
    const confDir = dir === undefined ? undefined : resolve(io.cwd, dir);
    const reports: DocReport[] = [];
    const files = positional.flatMap((f) => filesOf(f, io.cwd));
    for (const file of files) reports.push(...(await validateFile(file, io, confDir)));
    const views: PluginView[] = reports.flatMap((r) => r.checked.plugins);
    const node = views.some((v) => v.raw.mtu !== undefined) ? readNode() : undefined;
    const crossing = risks(views, node);
    const findings = [...reports.flatMap((r) => r.checked.findings), ...crossing];
    const errors = findings.filter((f) => f.level === 'error');
    if (flags.json) {
      const networks = reports.map((r) => ({
        where: r.where,
        network: r.network ?? null,
        ok: !r.checked.findings.some((f) => f.level === 'error'),
        plugins: r.checked.summary,
      }));
      io.stdout(`${JSON.stringify({ ok: errors.length === 0, networks, findings }, null, 2)}\n`);
      return errors.length > 0 ? 1 : 0;
    }
    for (const r of reports) {
      const own = r.checked.findings;
      for (const f of own) io.stdout(`${line(f)}\n`);
      if (!own.some((f) => f.level === 'error') && r.network !== undefined)
        io.stdout(`${r.where}: ok: network ${q(r.network)}: ${r.checked.summary.join('; ')}\n`);
    }
    for (const f of crossing) io.stdout(`${line(f)}\n`);
    const warnings = findings.length - errors.length;
    io.stdout(
      `${reports.length} network(s) in ${files.length} file(s): ${errors.length} error(s), ${warnings} warning(s)\n`,
    );
    return errors.length > 0 ? 1 : 0;
  },
};
