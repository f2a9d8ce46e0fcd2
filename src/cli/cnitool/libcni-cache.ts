/**
 * libcni's result cache, read and written the way libcni does, so an attachment made by
 * `manifold add` can be deleted by a libcni runtime (containerd, CRI-O, cnitool) and the other
 * way round: `<cacheDir>/results/<network>-<containerID>-<ifname>`, JSON of kind
 * "cniCacheV1" {kind, containerId, config (the list's bytes, base64), ifName, networkName,
 * netns, cniArgs, capabilityArgs, result}, 0600 in a 0700 directory. A file of another kind is
 * read as a bare result (libcni's legacy form). Written atomically (libcni writes in place).
 */
import { readdirSync, readFileSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { describeError, failed, q } from '../../cni/errors.ts';
import { writeFileAtomic } from '../../util/atomic.ts';

export const CNI_CACHE_KIND = 'cniCacheV1';
export const DEFAULT_CACHE_DIR = '/var/lib/cni';

export interface CachedAttachment {
  readonly networkName: string;
  readonly containerId: string;
  readonly ifName: string;
  readonly netns: string;
  readonly cniArgs: readonly (readonly [string, string])[];
  readonly capabilityArgs: Readonly<Record<string, unknown>>;
  /** The result as cached (JSON of the version the plugin answered in). */
  readonly result: Record<string, unknown> | undefined;
}

export function cacheFile(cacheDir: string, network: string, containerId: string, ifname: string): string {
  return join(cacheDir, 'results', `${network}-${containerId}-${ifname}`);
}

export function writeCachedResult(
  cacheDir: string,
  a: CachedAttachment & { readonly config: Buffer },
): string {
  const _dir = join(cacheDir, 'results');
  const file = cacheFile(cacheDir, a.networkName, a.containerId, a.ifName);
  const body: Record<string, unknown> = {
    kind: CNI_CACHE_KIND,
    containerId: a.containerId,
    config: a.config.toString('base64'),
    ifName: a.ifName,
    networkName: a.networkName,
    ...(a.netns ? { netns: a.netns } : {}),
    ...(a.cniArgs.length ? { cniArgs: a.cniArgs } : {}),
    ...(Object.keys(a.capabilityArgs).length ? { capabilityArgs: a.capabilityArgs } : {}),
    ...(a.result ? { result: a.result } : {}),
  };
  try {
    writeFileAtomic(file, JSON.stringify(body));
  } catch (err) {
    throw failed(`set network ${q(a.networkName)} cached result (${file})`, err);
  }
  return file;
}

/** The cached result of an attachment: undefined when there is none; throws when it cannot be read. */
export function readCachedResult(
  cacheDir: string,
  network: string,
  containerId: string,
  ifname: string,
): Record<string, unknown> | undefined {
  const file = cacheFile(cacheDir, network, containerId, ifname);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return undefined; // as libcni: a cache that cannot be read is no cache
  }
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    throw new Error(`failed to read the cached result ${file}: ${describeError(err)}`);
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new Error(`${file} is not a cached result`);
  const o = v as Record<string, unknown>;
  if (o.kind !== CNI_CACHE_KIND) return o; // the legacy form: the result itself
  const r = o.result;
  return r && typeof r === 'object' && !Array.isArray(r) ? (r as Record<string, unknown>) : undefined;
}

export function removeCachedResult(
  cacheDir: string,
  network: string,
  containerId: string,
  ifname: string,
): void {
  try {
    unlinkSync(cacheFile(cacheDir, network, containerId, ifname));
  } catch {
    // as libcni: gone already, or never written
  }
}

const pair = (x: unknown): x is [string, string] =>
  Array.isArray(x) && x.length === 2 && typeof x[0] === 'string' && typeof x[1] === 'string';

/** Every cached attachment (libcni's GetCachedAttachments): readable cniCacheV1 files with a network and ifName, sorted by file name. */
export function cachedAttachments(cacheDir: string): CachedAttachment[] {
  const dir = join(cacheDir, 'results');
  let names: string[];
  try {
    names = readdirSync(dir).sort();
  } catch {
    return [];
  }
  const out: CachedAttachment[] = [];
  for (const n of names) {
    let o: Record<string, unknown>;
    try {
      o = JSON.parse(readFileSync(join(dir, n), 'utf8')) as Record<string, unknown>;
    } catch {
      continue;
    }
    if (!o || o.kind !== CNI_CACHE_KIND || typeof o.ifName !== 'string' || !o.ifName) continue;
    if (typeof o.networkName !== 'string' || !o.networkName) continue;
    out.push({
      networkName: o.networkName,
      containerId: typeof o.containerId === 'string' ? o.containerId : '',
      ifName: o.ifName,
      netns: typeof o.netns === 'string' ? o.netns : '',
      cniArgs: Array.isArray(o.cniArgs) ? o.cniArgs.filter(pair) : [],
      capabilityArgs:
        o.capabilityArgs && typeof o.capabilityArgs === 'object'
          ? (o.capabilityArgs as Record<string, unknown>)
          : {},
      result: o.result && typeof o.result === 'object' ? (o.result as Record<string, unknown>) : undefined,
    });
  }
  return out;
}
