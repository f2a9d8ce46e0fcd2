/**
 * `manifold inspect`: the node's manifold attachments, leaked host-local addresses and the
 * caches of pods whose netns is gone, for people (a short report with what to do) or as JSON.
 * Read only.
 */
import { resolve } from 'node:path';
import type { Command } from '../common/command.ts';
import { listFlag, parseArgs, stringFlag } from '../common/flags.ts';
import { type AttachmentView, type Inspection, inspect } from './survey.ts';

export const DEFAULT_CONF_DIRS = ['/etc/cni/net.d', '/etc/cni/manifold/net.d'];
export const DEFAULT_LIBCNI_CACHE_DIR = '/var/lib/cni';

export function duration(s: number): string {
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
  return `${Math.floor(s / 86400)}d${String(Math.floor((s % 86400) / 3600)).padStart(2, '0')}h`;
}

function attachment(a: AttachmentView): string[] {
  const out = [
    `  ${a.network ?? '(legacy cache)'}: container ${a.containerId}, ${a.ifname}, netns ${a.netns || '(none)'} (${a.netnsState}), age ${duration(a.ageSeconds)}`,
  ];
  for (const i of a.interfaces) {
    const ips = i.ips.length ? i.ips.join(', ') : 'no address';
    out.push(
      `    ${i.ifname.padEnd(6)} ${i.network} (${i.types.join(', ')}): ${ips}${i.incomplete ? ' — its ADD never completed' : ''}`,
    );
  }
  out.push(`    cache ${a.file}`);
  return out;
}

function render(r: Inspection): string {
  const lines = [`attachments: ${r.attachments.length} (caches in ${r.cniDirs.join(', ')})`];
  for (const a of r.attachments) lines.push(...attachment(a));
  lines.push(
    '',
    `leaked addresses: ${r.leaks.length} (host-local reservations no attachment claims; stores in ${r.dataDirs.join(', ')})`,
  );
  for (const l of r.leaks)
    lines.push(
      `  ${l.file}: container ${l.containerId}${l.ifname ? `, ${l.ifname}` : ''}, age ${duration(l.ageSeconds)}`,
    );
  if (r.leaks.length > 0)
    lines.push(
      "  → no cache (manifold's or libcni's) records these: the pod is gone without DEL. Delete the file to free",
      "    the address, or run the network's CNI GC (it releases what the runtime does not list).",
    );
  lines.push('', `caches whose netns is gone (GC candidates): ${r.gcCandidates.length}`);
  for (const a of r.gcCandidates)
    lines.push(`  ${a.file}: container ${a.containerId}, ${a.ifname}, netns ${a.netns}`);
  if (r.gcCandidates.length > 0)
    lines.push(
      "  → the runtime's next CNI GC deletes them; a DEL with that CNI_CONTAINERID and CNI_IFNAME (an empty",
      '    CNI_NETNS) frees them now, addresses included.',
    );
  if (r.unreadable.length > 0) {
    lines.push('', `caches that cannot be read: ${r.unreadable.length}`);
    for (const u of r.unreadable) lines.push(`  ${u.file}: ${u.reason}`);
  }
  lines.push('');
  return lines.join('\n');
}

export const inspectCommand: Command = {
  help: `What this node holds, read only:
  - attachments, from the meta-plugin's caches: manifold network, container, netns (alive or
    gone), age, and per delegate the interface, network, plugins and addresses;
  - leaked addresses: host-local reservations no cache claims (neither a manifold cache entry
    nor a libcni result cache of that network, container and interface), in every dataDir the
    caches and the conf dirs' networks name, and /var/lib/cni/networks;
  - caches whose netns is gone: pods that died without DEL (candidates for GC);
  - caches that cannot be read.

flags:
  --cni-dir DIR     the meta-plugin's cache dir (repeatable; default: /var/lib/cni/manifold and
                    the cniDir of every manifold config in the conf dirs)
  --conf-dir DIR    where network configs are (repeatable; default ${DEFAULT_CONF_DIRS.join(' and ')})
  --cache-dir DIR   libcni's cache dir (default ${DEFAULT_LIBCNI_CACHE_DIR})
  --json            the findings as JSON

examples:
  $ manifold inspect
  $ manifold inspect --conf-dir conf.d-examples --json
`,
  async run(args, io) {
    const { flags } = parseArgs(args, {
      'cni-dir': { kind: 'list' },
      'conf-dir': { kind: 'list' },
      'cache-dir': { kind: 'string' },
      json: { kind: 'boolean' },
    });
    const abs = (d: string) => resolve(io.cwd, d);
    const confDirs = listFlag(flags, 'conf-dir');
    const r = inspect({
      cniDirs: listFlag(flags, 'cni-dir').map(abs),
      confDirs: confDirs.length > 0 ? confDirs.map(abs) : DEFAULT_CONF_DIRS,
      cacheDir: abs(stringFlag(flags, 'cache-dir') ?? DEFAULT_LIBCNI_CACHE_DIR),
      now: Date.now(),
    });
    io.stdout(flags.json ? `${JSON.stringify(r, null, 2)}\n` : render(r));
    return 0;
  },
};
