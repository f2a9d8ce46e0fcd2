/**
 * `manifold install` and `manifold uninstall` as functions: copy the executable into the bin
 * dir (atomically, before any config names it), write the kubeconfig from the pod's service
 * account when run in a pod, and write manifold's config wrapping the node's primary network
 * config under a name the runtime reads first (conf-name.ts), checked after the write. Every
 * step is idempotent; uninstall removes manifold's config (only manifold's), so the node falls
 * back to its primary network instead of pointing at a plugin that is gone (Multus #1105).
 * Both hold lock.ts while they look at and change the config.
 *
 * Daemon mode (`daemon` set) installs the shim (shim.ts) as `manifold` instead — patched with
 * the socket and the one-shot path, written by rename after an fsync — and the executable
 * beside it as `manifold-oneshot`, its fallback (copied first: the shim may run it as soon as
 * it is in place). One-shot mode on a node that had the shim puts the executable back as
 * `manifold` and removes `manifold-oneshot`. The wrapper config is the same in both modes.
 */
import {
  existsSync,
  lstatSync,
  readFileSync,
  readlinkSync,
  renameSync,
  rmSync,
  symlinkSync,
  unlinkSync,
} from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { readNetworkFile } from '../../meta/files.ts';
import { CONF_NAMES, chooseConfName, runtimeOrder } from './conf-name.ts';
import { copyExecutable, writeAtomic } from './files.ts';
import { lockInstall } from './lock.ts';
import { findPrimary, isManifoldConfig, wrapperFor } from './primary.ts';
import { ONESHOT_NAME, patchShim } from './shim.ts';

/** Daemon mode: the shim is the runtime's `manifold`, talking to `socket`. */
export interface DaemonMode {
  /** The daemon's unix socket the shim connects to. */
  readonly socket: string;
  /** The unpatched shim (the executable's asset). */
  readonly shim: () => Promise<Uint8Array> | Uint8Array;
}

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
  /** Daemon mode (`--mode daemon`); one-shot mode when absent. */
  readonly daemon?: DaemonMode | undefined;
  /** Runs under the lock right before the config is written (tests: a racing uninstall). */
  readonly beforeWrite?: () => Promise<void> | void;
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

/** manifold's config files present in `confDir` (any of its names), as full paths. */
function ourFiles(confDir: string): string[] {
  return CONF_NAMES.map((n) => join(confDir, n)).filter((p) => existsSync(p));
}

function isOurs(path: string): boolean {
  try {
    return isManifoldConfig(readNetworkFile(path).raw);
  } catch {
    return true; // a broken file under manifold's name is manifold's to replace or remove
  }
}

/**
 * `manifold` (the executable, or in daemon mode the shim) and `manifold-oneshot` beside it:
 * in daemon mode the executable, the shim's fallback; in one-shot mode after daemon mode, a
 * link to `manifold`. Every file is replaced by rename, never written in place: a
 * running shim or executable keeps its inode (no "text file busy", Multus #1221).
 */
async function installBinaries(opts: InstallOptions, binary: string, report: string[]): Promise<void> {
  const oneshot = join(resolve(opts.binDir), ONESHOT_NAME);
  if (opts.daemon) {
    report.push(`binary: ${oneshot} (${copyExecutable(opts.source, oneshot) ? 'installed' : 'unchanged'})`);
    const shim = patchShim(await opts.daemon.shim(), opts.daemon.socket, oneshot);
    const wrote = writeAtomic(binary, shim, 0o755, true);
    report.push(
      `shim: ${binary} for the daemon at ${resolve(opts.daemon.socket)}, falling back to ${oneshot} (${wrote ? 'installed' : 'unchanged'})`,
    );
    return;
  }
  report.push(`binary: ${binary} (${copyExecutable(opts.source, binary) ? 'installed' : 'unchanged'})`);
  // back from daemon mode: a shim still running (for up to its 230 s deadline) may yet fall
  // back to manifold-oneshot, so it stays, as a link to the one-shot executable just installed
  // (removing it made that shim's fallback fail with code 999)
  const old = lstatSync(oneshot, { throwIfNoEntry: false });
  if (old && !(old.isSymbolicLink() && readlinkSync(oneshot) === 'manifold')) {
    const tmp = `${oneshot}.${process.pid}.tmp`;
    rmSync(tmp, { force: true });
    symlinkSync('manifold', tmp);
    renameSync(tmp, oneshot);
    report.push(`binary: ${oneshot} (now a link to manifold: one-shot mode)`);
  }
}

export async function install(opts: InstallOptions): Promise<string[]> {
  const report: string[] = [];
  const binary = join(opts.binDir, 'manifold');
  // the executable first: CRI-O skips a config whose plugin binary is missing
  if (!opts.refreshOnly) await installBinaries(opts, binary, report);
  writeKubeconfig(opts, report);
  const lock = await lockInstall(opts.confDir);
  try {
    // under the lock: uninstall cannot remove the config between this check and the write
    const existing = ourFiles(opts.confDir).filter(isOurs);
    if (opts.refreshOnly && existing.length === 0) return report;
    const primary = findPrimary(opts.confDir);
    for (const s of primary?.skipped ?? []) report.push(`skipped ${s}`);
    if (!primary) {
      throw new Error(
        `no primary network config in ${opts.confDir} to wrap (*.conf, *.conflist, *.json): is the cluster network installed?`,
      );
    }
    if (primary.via) {
      report.push(
        `primary: ${primary.file.path} is the master of the ${primary.via.type} config ${primary.via.path}, which is never wrapped (a meta-plugin)`,
      );
    }
    const choice = chooseConfName(opts.confDir);
    if ('blocker' in choice) {
      throw new Error(
        `failed to install config in "${opts.confDir}": "${choice.blocker}" sorts before every name manifold can take (${CONF_NAMES.join(', ')}), so the runtime would read it instead: rename it`,
      );
    }
    const conf = join(opts.confDir, choice.name);
    if (!existsSync(binary)) {
      throw new Error(
        `failed to install config "${conf}": "${binary}" is missing (CRI-O skips a config whose plugin binary is missing)`,
      );
    }
    await opts.beforeWrite?.();
    const text = wrapperFor(primary.file, { kubeconfig: opts.kubeconfig });
    const wrote = writeAtomic(conf, text, 0o644);
    for (const old of existing) if (old !== conf) unlinkSync(old);
    const first = runtimeOrder(opts.confDir)[0];
    if (first !== choice.name) {
      throw new Error(
        `failed to install config "${conf}": "${first}" is the first network file of "${opts.confDir}", so the runtime reads it instead`,
      );
    }
    report.push(`config: ${conf} wraps ${primary.file.path} (${wrote ? 'written' : 'unchanged'})`);
    return report;
  } finally {
    lock.release();
  }
}

/** Removes manifold's config (whichever name it took), only if it is manifold's. */
export async function uninstall(confDir: string): Promise<string[]> {
  const lock = await lockInstall(confDir);
  try {
    const present = ourFiles(confDir);
    if (present.length === 0) return [`config: ${join(confDir, CONF_NAMES[0])} (not there)`];
    const report: string[] = [];
    for (const conf of present) {
      if (!isOurs(conf))
        throw new Error(`failed to remove "${conf}": it is not a manifold config: left alone`);
      try {
        unlinkSync(conf);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
      report.push(`config: ${conf} (removed)`);
    }
    return report;
  } finally {
    lock.release();
  }
}
