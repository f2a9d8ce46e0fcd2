/**
 * What `manifold inspect` finds on a node, read only:
 *   - attachments, from the meta-plugin's caches (src/meta/cache.ts reads them): the manifold
 *     network, container, netns (and whether it is still there), age, each delegate's
 *     interface, network, plugin types and addresses;
 *   - host-local reservations no attachment claims — leaks: every reservation in the dataDirs
 *     that the caches' delegate configs and the conf dirs' networks name (and the default
 *     /var/lib/cni/networks), read with host-local's own store reader; a reservation is
 *     claimed by a manifold cache entry of that network, container and interface, or by a
 *     libcni result cache (`<cacheDir>/results/<network>-<container>-<ifname>`) when the
 *     runtime runs that network itself;
 *   - caches whose netns is gone: attachments whose pod died without DEL (GC candidates).
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_DATA_DIR, Store } from '../../../plugins/host-local/store.ts';
import { ResultSchema } from '../../cni/netconf.ts';
import { decodeResult } from '../../cni/result.ts';
import { NetNS, NetnsMissingError } from '../../kernel/netns.ts';
import { type CacheFile, listCaches } from '../../meta/cache.ts';
import { DEFAULT_CNI_DIR } from '../../meta/config.ts';
import { listNetworkFiles, readNetworkFile } from '../../meta/files.ts';

export interface InspectOptions {
  readonly cniDirs: readonly string[];
  readonly confDirs: readonly string[];
  /** libcni's cache directory (its `results/` say which attachments the runtime made itself). */
  readonly cacheDir: string;
  readonly now: number;
}

export interface Iface {
  readonly ifname: string;
  readonly network: string;
  readonly types: readonly string[];
  readonly ips: readonly string[];
  /** The delegate's ADD never completed (a rollback or a crash left it). */
  readonly incomplete: boolean;
}

export interface AttachmentView {
  readonly file: string;
  readonly network: string | null;
  readonly containerId: string;
  readonly ifname: string;
  readonly netns: string;
  /** alive, gone, or unknown (no netns recorded, or it cannot be opened to tell). */
  readonly netnsState: 'alive' | 'gone' | 'unknown';
  readonly ageSeconds: number;
  readonly interfaces: readonly Iface[];
}

export interface Leak {
  readonly file: string;
  readonly network: string;
  readonly ip: string;
  readonly containerId: string;
  readonly ifname: string;
  readonly ageSeconds: number;
}

export interface Inspection {
  readonly cniDirs: readonly string[];
  readonly dataDirs: readonly string[];
  readonly attachments: readonly AttachmentView[];
  readonly leaks: readonly Leak[];
  readonly gcCandidates: readonly AttachmentView[];
  readonly unreadable: readonly { readonly file: string; readonly reason: string }[];
}

type Raw = Record<string, unknown>;

function netnsState(path: string): AttachmentView['netnsState'] {
  if (!path) return 'unknown';
  try {
    NetNS.open(path).close();
    return 'alive';
  } catch (err) {
    return err instanceof NetnsMissingError ? 'gone' : 'unknown';
  }
}

function age(file: string, now: number): number {
  try {
    return Math.max(0, Math.round((now - statSync(file).mtimeMs) / 1000));
  } catch {
    return 0;
  }
}

function pluginsOf(network: Readonly<Raw>): Raw[] {
  return Array.isArray(network.plugins)
    ? (network.plugins.filter((p) => p && typeof p === 'object') as Raw[])
    : [network as Raw];
}

function ipsOf(result: Raw | undefined, cniVersion: string): string[] {
  if (!result) return [];
  const r = ResultSchema.safeParse(result);
  if (!r.success) return [];
  try {
    return (decodeResult(r.data, cniVersion).ips ?? []).map((ip) => ip.address);
  } catch {
    return [];
  }
}

function viewOf(cache: CacheFile, file: string, now: number): AttachmentView {
  return {
    file,
    network: cache.networkName ?? null,
    containerId: cache.containerId,
    ifname: cache.ifname,
    netns: cache.netns,
    netnsState: netnsState(cache.netns),
    ageSeconds: age(file, now),
    interfaces: cache.delegates.map((d) => {
      const version =
        typeof d.network.cniVersion === 'string' && d.network.cniVersion
          ? d.network.cniVersion
          : cache.cniVersion;
      return {
        ifname: d.ifname,
        network: String(d.network.name ?? '?'),
        types: pluginsOf(d.network).map((p) => String(p.type)),
        ips: ipsOf(d.result, version),
        incomplete: d.result === undefined,
      };
    }),
  };
}

/** The dataDirs of every host-local IPAM in a network config. */
function dataDirsOf(network: Readonly<Raw>, out: Set<string>): void {
  for (const p of pluginsOf(network)) {
    const ipam = p.ipam as Raw | undefined;
    if (ipam?.type === 'host-local')
      out.add(typeof ipam.dataDir === 'string' && ipam.dataDir ? ipam.dataDir : DEFAULT_DATA_DIR);
    // a meta config's inline delegates
    if (Array.isArray(p.delegates))
      for (const d of p.delegates) if (d && typeof d === 'object') dataDirsOf(d as Raw, out);
  }
}

/** The cniDirs of the manifold configs in the conf dirs. */
function cniDirsOf(network: Readonly<Raw>, out: Set<string>): void {
  for (const p of pluginsOf(network)) {
    if (p.type === 'manifold') out.add(typeof p.cniDir === 'string' && p.cniDir ? p.cniDir : DEFAULT_CNI_DIR);
  }
}

function confNetworks(confDirs: readonly string[]): Raw[] {
  const out: Raw[] = [];
  for (const dir of confDirs) {
    let files: string[];
    try {
      files = listNetworkFiles(dir);
    } catch {
      continue;
    }
    for (const f of files) {
      try {
        out.push(readNetworkFile(f).raw);
      } catch {
        // not a readable network config: not ours to judge here (validate does)
      }
    }
  }
  return out;
}

function subdirs(dir: string): string[] {
  try {
    return readdirSync(dir, { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => e.name)
      .sort();
  } catch {
    return [];
  }
}

export function inspect(opts: InspectOptions): Inspection {
  const networks = confNetworks(opts.confDirs);
  const cniDirs = new Set(opts.cniDirs);
  if (cniDirs.size === 0) {
    cniDirs.add(DEFAULT_CNI_DIR);
    for (const n of networks) cniDirsOf(n, cniDirs);
  }
  const attachments: AttachmentView[] = [];
  const unreadable: { file: string; reason: string }[] = [];
  const claimed = new Set<string>();
  const dataDirs = new Set<string>([DEFAULT_DATA_DIR]);
  for (const n of networks) dataDirsOf(n, dataDirs);
  for (const dir of cniDirs) {
    const listed = listCaches(dir);
    unreadable.push(...listed.unreadable.map((u) => ({ file: u.file, reason: u.reason })));
    for (const { cache, file } of listed.caches) {
      attachments.push(viewOf(cache, file, opts.now));
      for (const d of cache.delegates) {
        dataDirsOf(d.network, dataDirs);
        const name = String(d.network.name ?? '');
        claimed.add(`${name}\n${cache.containerId}\n${d.ifname}`);
        claimed.add(`${name}\n${cache.containerId}\n`);
      }
    }
  }
  const libcni = (network: string, containerId: string, ifname: string) =>
    ifname !== '' && existsSync(join(opts.cacheDir, 'results', `${network}-${containerId}-${ifname}`));
  const leaks: Leak[] = [];
  for (const dataDir of [...dataDirs].sort()) {
    for (const network of subdirs(dataDir)) {
      const store = Store.view(network, dataDir);
      for (const r of store.list()) {
        if (claimed.has(`${network}\n${r.containerId}\n${r.ifname}`)) continue;
        if (libcni(network, r.containerId, r.ifname)) continue;
        const file = join(store.dir, r.ip);
        leaks.push({
          file,
          network,
          ip: r.ip,
          containerId: r.containerId,
          ifname: r.ifname,
          ageSeconds: age(file, opts.now),
        });
      }
    }
  }
  return {
    cniDirs: [...cniDirs],
    dataDirs: [...dataDirs].sort(),
    attachments,
    leaks,
    gcCandidates: attachments.filter((a) => a.netnsState === 'gone'),
    unreadable,
  };
}
