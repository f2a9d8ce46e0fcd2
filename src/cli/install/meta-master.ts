/**
 * A meta-plugin's config (Multus's `00-multus.conf`, a manifold config under another name) is
 * never wrapped: Multus would run inside manifold and every NAD would be attached twice.
 * Its master is taken instead, as Multus itself finds it: the first of
 * `delegates`, else `clusterNetwork` — a path (a file, or the first config of a directory;
 * Multus's thick daemon names them under /host, so the same file name in the conf dir is
 * tried too), or a network name looked up in its `confDir`, then in the node's conf dir.
 */
import { basename, join } from 'node:path';
import { q } from '../../cni/errors.ts';
import { findNetworkByName, type NetworkFile, readNetworkPath } from '../../meta/files.ts';

const META_TYPES = new Set(['multus', 'multus-shim', 'manifold']);

function plugins(raw: Readonly<Record<string, unknown>>): Record<string, unknown>[] {
  if (Array.isArray(raw.plugins)) {
    return raw.plugins.filter((p): p is Record<string, unknown> => !!p && typeof p === 'object');
  }
  return [raw as Record<string, unknown>];
}

/** The meta-plugin type a config runs (`multus`, `multus-shim`, `manifold`), if any. */
export function metaTypeOf(raw: Readonly<Record<string, unknown>>): string | undefined {
  for (const p of plugins(raw)) if (typeof p.type === 'string' && META_TYPES.has(p.type)) return p.type;
  return undefined;
}

/** The master of a meta-plugin config, or why there is none to be found. */
export function masterOf(meta: NetworkFile, confDir: string): NetworkFile | string {
  const p = plugins(meta.raw).find((x) => typeof x.type === 'string' && META_TYPES.has(x.type)) ?? {};
  const delegates = p.delegates;
  if (Array.isArray(delegates) && delegates.length > 0) {
    const first: unknown = delegates[0];
    if (!first || typeof first !== 'object' || Array.isArray(first))
      return 'its delegates[0] is not an object';
    return { path: `${meta.path} delegates[0]`, raw: first as Record<string, unknown> };
  }
  const cluster = p.clusterNetwork;
  if (typeof cluster !== 'string' || cluster === '') return 'it names no delegates[0] nor clusterNetwork';
  if (cluster.includes('/')) {
    for (const path of [cluster, join(confDir, basename(cluster))]) {
      try {
        return readNetworkPath(path);
      } catch {
        // not there: the next place
      }
    }
    return `its clusterNetwork ${q(cluster)} is not a readable file here`;
  }
  const dirs = typeof p.confDir === 'string' && p.confDir ? [p.confDir, confDir] : [confDir];
  for (const dir of dirs) {
    const f = findNetworkByName(dir, cluster);
    if (f && !metaTypeOf(f.raw)) return f;
  }
  return `its clusterNetwork ${q(cluster)} is no network in ${dirs.map((d) => JSON.stringify(d)).join(' or ')}`;
}
