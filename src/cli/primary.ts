/**
 * The node's primary network config and manifold's wrapper around it, as Multus's auto mode
 * makes one: the first config file of the conf dir in libcni's order that is not manifold's
 * own (by name, and by content: a config whose plugin is manifold is never wrapped), embedded
 * as the master delegate of `00-manifold.conflist`, whose cniVersion is the primary's and
 * whose capabilities are the union of the primary's (so portMappings & co still reach it).
 */
import { basename } from 'node:path';
import { isSupported } from '../cni/versions.ts';
import { listNetworkFiles, type NetworkFile, readNetworkFile } from '../meta/files.ts';

export const CONF_FILE = '00-manifold.conflist';
export const NETWORK_NAME = 'manifold-cni-network';

function plugins(raw: Readonly<Record<string, unknown>>): Record<string, unknown>[] {
  if (Array.isArray(raw.plugins)) {
    return raw.plugins.filter((p): p is Record<string, unknown> => !!p && typeof p === 'object');
  }
  return [raw as Record<string, unknown>];
}

/** Whether a config is manifold's (a manifold plugin in it): it must never be wrapped. */
export function isManifoldConfig(raw: Readonly<Record<string, unknown>>): boolean {
  return plugins(raw).some((p) => p.type === 'manifold');
}

export interface Primary {
  readonly file: NetworkFile;
  /** Files passed over, and why (for the report). */
  readonly skipped: readonly string[];
}

export function findPrimary(confDir: string): Primary | undefined {
  const skipped: string[] = [];
  for (const path of listNetworkFiles(confDir)) {
    if (basename(path) === CONF_FILE) continue;
    let f: NetworkFile;
    try {
      f = readNetworkFile(path);
    } catch (err) {
      skipped.push(`${path}: ${err instanceof Error ? err.message : String(err)}`);
      continue;
    }
    if (isManifoldConfig(f.raw)) {
      skipped.push(`${path}: a manifold config`);
      continue;
    }
    return { file: f, skipped };
  }
  return undefined;
}

export interface WrapOptions {
  readonly kubeconfig?: string | undefined;
}

/** The wrapper conflist (as written: 2-space JSON and a newline). */
export function wrapperFor(primary: NetworkFile, opts: WrapOptions): string {
  const version = typeof primary.raw.cniVersion === 'string' ? primary.raw.cniVersion : '';
  if (!isSupported(version)) {
    throw new Error(
      `${primary.path}: cniVersion ${JSON.stringify(version)} is not one manifold speaks; it cannot be wrapped`,
    );
  }
  const capabilities: Record<string, boolean> = {};
  for (const p of plugins(primary.raw)) {
    const caps = p.capabilities;
    if (!caps || typeof caps !== 'object') continue;
    for (const [k, v] of Object.entries(caps as Record<string, unknown>))
      if (v === true) capabilities[k] = true;
  }
  const conf = {
    cniVersion: version,
    name: NETWORK_NAME,
    plugins: [
      {
        type: 'manifold',
        ...(Object.keys(capabilities).length ? { capabilities } : {}),
        ...(opts.kubeconfig ? { kubeconfig: opts.kubeconfig } : {}),
        delegates: [primary.raw],
      },
    ],
  };
  return `${JSON.stringify(conf, null, 2)}\n`;
}
