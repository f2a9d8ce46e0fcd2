/**
 * `manifold install` and `manifold uninstall` as functions: copy the executable into the bin
 * dir (atomically), write the kubeconfig from the pod's service account when run in a pod,
 * and write `00-manifold.conflist` wrapping the node's primary network config. Every step is
 * idempotent; uninstall removes manifold's config (only manifold's), so the node falls back to
 * its primary network instead of pointing at a plugin that is gone (Multus #1105).
 */
import { existsSync, readFileSync, unlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { readNetworkFile } from '../meta/files.ts';
import { copyExecutable, writeAtomic } from './files.ts';
import { CONF_FILE, findPrimary, isManifoldConfig, wrapperFor } from './primary.ts';

export interface InstallOptions {
  readonly binDir: string;
  readonly confDir: string;
  /** The kubeconfig path the config names (the node's view of it). */
  readonly kubeconfig?: string | undefined;
  /** The executable to copy. */
  readonly source: string;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** The pod's service account (in-cluster): its token and CA back the kubeconfig. */
  readonly serviceAccountDir: string;
  /** Only refresh what exists (the kubeconfig, and the wrapper when the primary changed): never create the wrapper. */
  readonly refreshOnly?: boolean;
}

/**
 * The kubeconfig manifold writes: the in-cluster server, the CA and the token as files beside
 * it. JSON (a kubeconfig may be JSON), so CNI calls read it without loading a YAML parser.
 */
export function kubeconfigText(server: string, caFile: string, tokenFile: string): string {
  const kc = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'kubernetes', cluster: { server, 'certificate-authority': caFile } }],
    users: [{ name: 'manifold', user: { tokenFile } }],
    contexts: [{ name: 'manifold', context: { cluster: 'kubernetes', user: 'manifold' } }],
    'current-context': 'manifold',
  };
  return `${JSON.stringify(kc, null, 2)}\n`;
}

function writeKubeconfig(opts: InstallOptions, report: string[]): void {
  const path = opts.kubeconfig;
  if (!path) return;
  const host = opts.env.KUBERNETES_SERVICE_HOST;
  const port = opts.env.KUBERNETES_SERVICE_PORT;
  const token = join(opts.serviceAccountDir, 'token');
  if (!host || !port || !existsSync(token)) {
    report.push(
      `kubeconfig: ${path} (not in a pod: used as it is${existsSync(path) ? '' : ', and it does not exist yet'})`,
    );
    return;
  }
  const dir = dirname(path);
  const server = `https://${host.includes(':') ? `[${host}]` : host}:${port}`;
  const wrote = [
    writeAtomic(join(dir, 'token'), readFileSync(token), 0o600),
    writeAtomic(join(dir, 'ca.crt'), readFileSync(join(opts.serviceAccountDir, 'ca.crt')), 0o644),
    writeAtomic(path, kubeconfigText(server, join(dir, 'ca.crt'), join(dir, 'token')), 0o600),
  ].some(Boolean);
  report.push(`kubeconfig: ${path} for ${server} (${wrote ? 'written' : 'unchanged'})`);
}

export function install(opts: InstallOptions): string[] {
  const report: string[] = [];
  if (!opts.refreshOnly) {
    const target = join(opts.binDir, 'manifold');
    report.push(`binary: ${target} (${copyExecutable(opts.source, target) ? 'installed' : 'unchanged'})`);
  }
  writeKubeconfig(opts, report);
  const conf = join(opts.confDir, CONF_FILE);
  if (opts.refreshOnly && !existsSync(conf)) return report;
  const primary = findPrimary(opts.confDir);
  for (const s of primary?.skipped ?? []) report.push(`skipped ${s}`);
  if (!primary) {
    throw new Error(
      `no primary network config in ${opts.confDir} to wrap (*.conf, *.conflist, *.json): is the cluster network installed?`,
    );
  }
  const wrote = writeAtomic(conf, wrapperFor(primary.file, { kubeconfig: opts.kubeconfig }), 0o644);
  report.push(`config: ${conf} wraps ${primary.file.path} (${wrote ? 'written' : 'unchanged'})`);
  return report;
}

export function uninstall(confDir: string): string[] {
  const conf = join(confDir, CONF_FILE);
  if (!existsSync(conf)) return [`config: ${conf} (not there)`];
  let ours = true;
  try {
    ours = isManifoldConfig(readNetworkFile(conf).raw);
  } catch {
    ours = true; // a broken file under manifold's name is manifold's to remove
  }
  if (!ours) throw new Error(`${conf} is not a manifold config: left alone`);
  try {
    unlinkSync(conf);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  return [`config: ${conf} (removed)`];
}
