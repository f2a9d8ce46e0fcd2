/**
 * The node's primary network config and manifold's wrapper around it, as Multus's auto mode
 * makes one: the first config file of the conf dir in libcni's order that is not manifold's
 * own (by name, and by content: a config whose plugin is manifold is never wrapped). A
 * meta-plugin's config (Multus) is never wrapped either: its master is (meta-master.ts). The
 * primary is embedded as the master delegate with `manifold.exec`, so its own plugin binaries
 * run it, never manifold's built-ins: only the provider's binary cleans up what it made.
 * The wrapper declares the union of the primary's capabilities and those
 * the runtimes pass to a meta-plugin (pod annotations, port mappings, …).
 */

import { q } from '../../cni/errors.ts';
import { isSupported } from '../../cni/versions.ts';
import { listNetworkFiles, type NetworkFile, readNetworkFile } from '../../meta/files.ts';
import { isOurName } from './conf-name.ts';
import { masterOf, metaTypeOf } from './meta-master.ts';

export { CONF_NAMES } from './conf-name.ts';
export const NETWORK_NAME = 'manifold-cni-network';

/** Capability args containerd and CRI-O pass only to a config that declares them (REFERENCE.md). */
export const RUNTIME_CAPABILITIES = [
  'io.kubernetes.cri.pod-annotations',
  'portMappings',
  'bandwidth',
  'ipRanges',
  'dns',
  'cgroupPath',
] as const;

/** A primary without cniVersion speaks 0.1.0 (the spec's default); the wrapper speaks this. */
const WRAPPER_VERSION_FOR_UNVERSIONED = '0.4.0';

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
  /** The meta-plugin config whose master this is (Multus's), when it is one. */
  readonly via?: { readonly path: string; readonly type: string };
}

export function findPrimary(confDir: string): Primary | undefined {
  const skipped: string[] = [];
  for (const path of listNetworkFiles(confDir)) {
    if (isOurName(path.slice(path.lastIndexOf('/') + 1))) continue;
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
    const type = metaTypeOf(f.raw);
    if (!type) return { file: f, skipped };
    const master = masterOf(f, confDir);
    if (typeof master === 'string') {
      skipped.push(`${path}: a ${type} config (never wrapped), and ${master}`);
      continue;
    }
    if (metaTypeOf(master.raw)) {
      skipped.push(`${path}: a ${type} config whose master is a meta-plugin too`);
      continue;
    }
    return { file: master, skipped, via: { path, type } };
  }
  return undefined;
}

export interface WrapOptions {
  readonly kubeconfig?: string | undefined;
}

/** The wrapper conflist (as written: 2-space JSON and a newline). */
export function wrapperFor(primary: NetworkFile, opts: WrapOptions): string {
  const given = primary.raw.cniVersion;
  const unversioned = given === undefined || given === '';
  if (!unversioned && (typeof given !== 'string' || !isSupported(given))) {
    throw new Error(`failed to wrap "${primary.path}": cniVersion ${q(given)} is not one manifold speaks`);
  }
  const capabilities: Record<string, boolean> = {};
  for (const p of plugins(primary.raw)) {
    const caps = p.capabilities;
    if (!caps || typeof caps !== 'object') continue;
    for (const [k, v] of Object.entries(caps as Record<string, unknown>))
      if (v === true) capabilities[k] = true;
  }
  for (const c of RUNTIME_CAPABILITIES) capabilities[c] = true;
  const { manifold: ours, ...rest } = primary.raw;
  const delegate = {
    // no cniVersion is 0.1.0 for its plugins, whatever the wrapper's (libcni parses "" as 0.1.0)
    ...(unversioned ? { cniVersion: '0.1.0' } : {}),
    ...rest,
    manifold: { ...(ours && typeof ours === 'object' ? ours : {}), exec: true },
  };
  const conf = {
    // libcni reads a conflist without cniVersion as 0.1.0: no prevResult on DEL, no CHECK
    cniVersion: unversioned ? WRAPPER_VERSION_FOR_UNVERSIONED : given,
    name: NETWORK_NAME,
    plugins: [
      {
        type: 'manifold',
        capabilities,
        ...(opts.kubeconfig ? { kubeconfig: opts.kubeconfig } : {}),
        delegates: [delegate],
      },
    ],
  };
  return `${JSON.stringify(conf, null, 2)}\n`;
}
