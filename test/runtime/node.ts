/**
 * The runtime tier's node: containerd (test/helpers/containerd.ts) in a throwaway host netns,
 * the API stand-in enforcing deploy/rbac.yaml, the node's primary network (Debian's reference
 * bridge + host-local, with portmap and bandwidth chained, as a kubeadm node's
 * 10-containerd-net.conflist), a macvlan master, two NADs, a recording delegate, and what the
 * assertions read: a pod's interfaces, the host side, IPAM stores, caches, rules.
 * In daemon mode (MANIFOLD_MODE=daemon, the vitest project `runtime-daemon`) the node also runs
 * one `manifold daemon`, started like containerd (its mount namespace, the node's netns: the
 * same /run/netns paths and /var/lib/cni), and `install` writes the shim for it: containerd's
 * every call to manifold goes through the shim, and `fallbacks()` lists those that did not
 * reach the daemon. That daemon runs without Kubernetes watches; `restartDaemon` gives it
 * them (the stand-in's kubeconfig, node NODE_NAME) for the hot-plug test, and takes them away.
 */
import { type ChildProcess, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { Containerd } from '../helpers/containerd.ts';
import type { SandboxConfig } from '../helpers/cri.ts';
import { httpCall } from '../helpers/daemon.ts';
import { FakeApiServer, type RbacRule } from '../helpers/fake-apiserver.ts';
import { ip, ipJson } from '../helpers/host.ts';
import { MODE } from '../helpers/mode.ts';
import { makePki } from '../helpers/pki.ts';

export const BIN = resolve('dist/bin/manifold');
export const PRIMARY_NAME = 'containerd-net';
export const PRIMARY_FILE = '10-containerd-net.conflist';
export const PRIMARY_SUBNET = '10.88.0';
/** The network name of install's wrapper. */
export const WRAPPER_NAME = 'manifold-cni-network';
export const DATA_MASTER = 'mfdata0';
/** The node the API stand-in puts pods on (its default spec.nodeName). */
export const NODE_NAME = 'node1';
/** Every capability argument a runtime may pass (REFERENCE.md, "How runtimes call CNI"). */
const RECORDED_CAPABILITIES = {
  'io.kubernetes.cri.pod-annotations': true,
  cgroupPath: true,
  portMappings: true,
  bandwidth: true,
  dns: true,
  ipRanges: true,
};

/** deploy/rbac.yaml's ClusterRole rules. */
export function rbacRules(): RbacRule[] {
  const docs = parseAllDocuments(readFileSync('deploy/rbac.yaml', 'utf8')).map((d) => d.toJS());
  const role = docs.find((d) => d?.kind === 'ClusterRole');
  if (!role) throw new Error('deploy/rbac.yaml has no ClusterRole');
  return role.rules as RbacRule[];
}

export interface Timing {
  readonly what: 'RunPodSandbox' | 'StopPodSandbox' | 'RemovePodSandbox';
  readonly pod: string;
  readonly ms: number;
  readonly note: string;
}

export interface PodLink {
  ifname: string;
  address: string;
  link_type: string;
  addr_info: { family: string; local: string; prefixlen: number }[];
}

export interface RunningPod {
  readonly name: string;
  readonly id: string;
  readonly netns: string;
}

export interface PodOptions {
  /** k8s.v1.cni.cncf.io/networks (a string, or an object list for the JSON form). */
  readonly networks?: string | object[];
  readonly annotations?: Record<string, string>;
  readonly portMappings?: SandboxConfig['portMappings'];
  readonly dns?: SandboxConfig['dns'];
  /** Not added to the API stand-in (a pod the API does not know). */
  readonly notInApi?: boolean;
}

export class Node {
  readonly containerd: Containerd;
  readonly api: FakeApiServer;
  readonly kubeconfig: string;
  readonly records: string;
  readonly timings: Timing[] = [];
  /** Every sandbox id ever made (to find rules that mention one). */
  readonly ids = new Set<string>();
  baselineLinks: string[] = [];
  /** Daemon mode: the daemon's socket (in the run's dir: the same path inside and out). */
  readonly socket: string;
  #daemon: ChildProcess | undefined;
  #daemonErr = '';

  constructor(hostNetns: { name: string; path: string }) {
    this.containerd = new Containerd({ hostNetns });
    this.api = new FakeApiServer(makePki());
    this.kubeconfig = join(this.containerd.confDir, 'manifold.d/manifold.kubeconfig');
    this.records = join(this.containerd.dir, 'records');
    this.socket = join(this.containerd.dir, 'manifold-run/manifold.sock');
  }

  get confDir(): string {
    return this.containerd.confDir;
  }

  get binDir(): string {
    return this.containerd.binDir;
  }

  async setUp(): Promise<void> {
    if (!existsSync(BIN)) throw new Error('dist/bin/manifold is missing: run ./build.sh first');
    ip('link', 'set', 'lo', 'up');
    ip('link', 'add', DATA_MASTER, 'type', 'veth', 'peer', 'name', `${DATA_MASTER}p`);
    ip('link', 'set', DATA_MASTER, 'up');
    this.baselineLinks = this.hostLinks().map((l) => l.ifname);
    await this.api.start();
    this.api.tokens.add('node-token');
    this.api.rbac = rbacRules();
    await this.containerd.setUp();
    mkdirSync(this.records, { recursive: true });
    mkdirSync(join(this.confDir, 'manifold.d'), { recursive: true });
    writeFileSync(join(this.confDir, 'manifold.d/token'), 'node-token');
    this.api.writeKubeconfig(this.kubeconfig, { tokenFile: join(this.confDir, 'manifold.d/token') });
    this.#recorder();
    if (MODE === 'daemon') await this.#startDaemon();
    this.containerd.writeConf(PRIMARY_FILE, {
      cniVersion: '1.0.0',
      name: PRIMARY_NAME,
      plugins: [
        {
          type: 'bridge',
          bridge: 'cni0',
          isGateway: true,
          ipMasq: true,
          promiscMode: true,
          ipam: {
            type: 'host-local',
            ranges: [[{ subnet: `${PRIMARY_SUBNET}.0/24` }]],
            routes: [{ dst: '0.0.0.0/0' }],
          },
        },
        { type: 'portmap', capabilities: { portMappings: true } },
        { type: 'bandwidth', capabilities: { bandwidth: true } },
        // a pass-through that records what the master's plugins get from the runtime
        { type: 'mfrecord', capabilities: RECORDED_CAPABILITIES },
      ],
    });
    // NADs: "data" (manifold's macvlan + host-local, then the recorder), "side" (manifold's
    // bridge with host-local, taking the pod's ips and mac)
    this.api.addNad('default', 'data', {
      cniVersion: '1.0.0',
      name: 'data',
      plugins: [
        {
          type: 'macvlan',
          master: DATA_MASTER,
          mode: 'bridge',
          ipam: { type: 'host-local', subnet: '10.70.0.0/24' },
        },
        {
          type: 'mfrecord',
          capabilities: RECORDED_CAPABILITIES,
        },
      ],
    });
    this.api.addNad('default', 'side', {
      cniVersion: '1.0.0',
      name: 'side',
      type: 'bridge',
      bridge: 'br-side',
      capabilities: { ips: true, mac: true },
      ipam: { type: 'host-local', subnet: '10.71.0.0/24' },
    });
  }

  /**
   * Daemon mode: SIGTERM the daemon (it must exit 0) and start it again on the same socket, with
   * its Kubernetes watches (the stand-in's kubeconfig, node `NODE_NAME`: hot-plug, GC) or without
   * (as setUp starts it). Call it with no call in flight (between pods).
   */
  async restartDaemon(opts: { watches: boolean }): Promise<void> {
    const { code, stderr } = await this.stopDaemon();
    if (code !== 0) throw new Error(`manifold daemon exited ${code} after SIGTERM: ${stderr}`);
    this.#daemonErr = '';
    await this.#startDaemon(opts.watches ? ['--kubeconfig', this.kubeconfig, '--node-name', NODE_NAME] : []);
  }

  /** `manifold daemon` on `socket`, as a node's root would start it next to containerd; resolves once ready. */
  async #startDaemon(extra: readonly string[] = []): Promise<void> {
    const d = this.containerd.spawnInside(BIN, ['daemon', '--socket', this.socket, ...extra]);
    this.#daemon = d;
    d.stdout?.resume();
    d.stderr?.on('data', (b: Buffer) => {
      this.#daemonErr = (this.#daemonErr + b.toString()).slice(-8000);
    });
    const t0 = Date.now();
    for (;;) {
      if (d.exitCode !== null || d.signalCode !== null)
        throw new Error(
          `manifold daemon exited at start (${d.exitCode ?? d.signalCode}): ${this.#daemonErr}`,
        );
      const r = await httpCall(this.socket, 'GET', '/readyz').catch(() => undefined);
      if (r?.http === 200) return;
      if (Date.now() - t0 > 30_000)
        throw new Error(`manifold daemon was not ready within 30 s: ${this.#daemonErr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Daemon mode: the last of what the running daemon wrote to stderr (for failure messages). */
  daemonLog(): string {
    return this.#daemonErr;
  }

  /** Daemon mode: the calls the shim ran one-shot because the daemon did not answer (its fallbacks.log). */
  fallbacks(): string[] {
    const log = join(this.socket, '..', 'fallbacks.log');
    return existsSync(log) ? readFileSync(log, 'utf8').split('\n').filter(Boolean) : [];
  }

  /** Daemon mode: the CNI calls the daemon has answered (its /metrics). */
  async served(): Promise<number> {
    const { body } = await httpCall(this.socket, 'GET', '/metrics');
    let n = 0;
    for (const m of body.matchAll(/^manifold_request_duration_seconds_count\{[^}]*\} (\S+)$/gm))
      n += Number(m[1]);
    return n;
  }

  /** Daemon mode: SIGTERM (its drain), SIGKILL if it hangs; its exit status and last words. */
  async stopDaemon(): Promise<{ code: number | null; stderr: string }> {
    const d = this.#daemon;
    if (!d) return { code: 0, stderr: '' };
    this.#daemon = undefined;
    if (d.exitCode !== null || d.signalCode !== null)
      return { code: d.exitCode ?? -1, stderr: this.#daemonErr };
    const gone = new Promise<number | null>((r) => d.once('exit', (code) => r(code)));
    d.kill('SIGTERM');
    const timer = setTimeout(() => d.kill('SIGKILL'), 35_000);
    const code = await gone;
    clearTimeout(timer);
    return { code, stderr: this.#daemonErr };
  }

  /** A chained plugin that records what it was given (stdin, CNI_* environment) and passes prevResult on. */
  #recorder(): void {
    const file = join(this.binDir, 'mfrecord');
    writeFileSync(
      file,
      `#!${process.execPath}
const fs = require('node:fs');
const input = fs.readFileSync(0, 'utf8');
const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith('CNI_')));
const cmd = process.env.CNI_COMMAND;
if (cmd === 'VERSION') { process.stdout.write('{"cniVersion":"1.0.0","supportedVersions":["0.4.0","1.0.0"]}'); process.exit(0); }
fs.writeFileSync(${JSON.stringify(this.records)} + '/' + cmd + '-' + env.CNI_CONTAINERID + '-' + env.CNI_IFNAME + '.json', JSON.stringify({ env, config: JSON.parse(input) }));
if (cmd === 'ADD') process.stdout.write(JSON.stringify(JSON.parse(input).prevResult));
`,
    );
    chmodSync(file, 0o755);
  }

  /** What the recorder got for a sandbox's attachment. */
  record(
    verb: 'ADD' | 'DEL',
    id: string,
    ifname: string,
  ): { env: Record<string, string>; config: Record<string, unknown> } {
    return JSON.parse(readFileSync(join(this.records, `${verb}-${id}-${ifname}.json`), 'utf8'));
  }

  /** Runs manifold's command line as a node's root would (inside containerd's mount namespace). */
  manifold(...args: string[]): { code: number | null; out: string; err: string } {
    return this.containerd.exec(BIN, args);
  }

  /** `manifold install` as the DaemonSet runs it; in daemon mode `--mode daemon` for this node's daemon. */
  install(): string {
    const r = this.manifold(
      'install',
      '--bin-dir',
      this.binDir,
      '--conf-dir',
      this.confDir,
      '--kubeconfig',
      this.kubeconfig,
      ...(MODE === 'daemon' ? ['--mode', 'daemon', '--socket', this.socket] : []),
    );
    if (r.code !== 0) throw new Error(`manifold install failed (${r.code}): ${r.err}`);
    return r.out;
  }

  uninstall(): string {
    const r = this.manifold('uninstall', '--conf-dir', this.confDir);
    if (r.code !== 0) throw new Error(`manifold uninstall failed (${r.code}): ${r.err}`);
    return r.out;
  }

  /** Waits until containerd has loaded the network `name` (no restart: its conf-dir watcher). */
  async loaded(name: string, timeoutMs = 15_000): Promise<number> {
    const t0 = performance.now();
    let last: string[] = [];
    while (performance.now() - t0 < timeoutMs) {
      last = await this.containerd.cri.loadedNetworks();
      if (last.at(-1) === name) return performance.now() - t0;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(
      `containerd did not load network "${name}" within ${timeoutMs} ms (it has ${JSON.stringify(last)})`,
    );
  }

  /** Adds the pod to the API stand-in and asks containerd for its sandbox, timed. */
  async runPod(name: string, opts: PodOptions = {}): Promise<RunningPod> {
    const annotations: Record<string, string> = { ...(opts.annotations ?? {}) };
    if (opts.networks !== undefined) {
      annotations['k8s.v1.cni.cncf.io/networks'] =
        typeof opts.networks === 'string' ? opts.networks : JSON.stringify(opts.networks);
    }
    const uid = `uid-${name}`;
    if (!opts.notInApi)
      this.api.addPod({ namespace: 'default', name, uid, annotations, nodeName: NODE_NAME });
    const t0 = performance.now();
    const id = await this.containerd.cri.runPodSandbox(
      this.containerd.sandboxConfig({
        name,
        namespace: 'default',
        uid,
        annotations,
        ...(opts.portMappings ? { portMappings: opts.portMappings } : {}),
        ...(opts.dns ? { dns: opts.dns } : {}),
      }),
    );
    this.timings.push({ what: 'RunPodSandbox', pod: name, ms: performance.now() - t0, note: noteOf(opts) });
    this.ids.add(id);
    return { name, id, netns: await this.containerd.netnsOf(id) };
  }

  async stopPod(pod: { name: string; id: string }): Promise<void> {
    const t0 = performance.now();
    await this.containerd.cri.stopPodSandbox(pod.id);
    this.timings.push({ what: 'StopPodSandbox', pod: pod.name, ms: performance.now() - t0, note: '' });
  }

  async removePod(pod: { name: string; id: string }): Promise<void> {
    const t0 = performance.now();
    await this.containerd.cri.removePodSandbox(pod.id);
    this.timings.push({ what: 'RemovePodSandbox', pod: pod.name, ms: performance.now() - t0, note: '' });
  }

  async stopAndRemove(pod: { name: string; id: string }): Promise<void> {
    await this.stopPod(pod);
    await this.removePod(pod);
  }

  /** The pod's links with their addresses (lo left out). */
  podLinks(pod: RunningPod): PodLink[] {
    return inNetns<PodLink[]>(pod.netns, 'addr', 'show').filter((l) => l.ifname !== 'lo');
  }

  podRoutes(pod: RunningPod, ...args: string[]): { dst: string; gateway?: string; dev: string }[] {
    return inNetns(pod.netns, 'route', 'show', ...args);
  }

  hostLinks(): { ifname: string; master?: string; linkinfo?: { info_kind?: string } }[] {
    return ipJson('-d', 'link', 'show');
  }

  /** Host-local reservations (files named by address) in the private /var/lib/cni/networks. */
  reservations(): string[] {
    const base = join(this.containerd.varLib, 'cni/networks');
    if (!existsSync(base)) return [];
    const out: string[] = [];
    for (const net of readdirSync(base)) {
      for (const f of readdirSync(join(base, net))) {
        if (f === 'lock' || f.startsWith('last_reserved_ip')) continue;
        out.push(`${net}/${f}`);
      }
    }
    return out.sort();
  }

  /** The sandbox id a reservation belongs to. */
  reservationOwner(entry: string): string {
    return readFileSync(join(this.containerd.varLib, 'cni/networks', entry), 'utf8').split(/\r?\n/)[0] ?? '';
  }

  /** Files under a directory of the private /var/lib or /run, recursively. */
  files(root: 'varLib' | 'run', sub: string): string[] {
    const base = join(this.containerd[root], sub);
    if (!existsSync(base)) return [];
    return (readdirSync(base, { recursive: true, withFileTypes: true }) as import('node:fs').Dirent[])
      .filter((e) => e.isFile())
      .map((e) => join(e.parentPath, e.name).slice(base.length + 1))
      .sort();
  }

  /** iptables (nat, filter) and nftables lines naming one of our sandboxes. */
  rules(): string[] {
    const lines: string[] = [];
    for (const table of ['nat', 'filter']) {
      const r = spawnSync('iptables-save', ['-t', table], { encoding: 'utf8' });
      lines.push(...r.stdout.split('\n'));
    }
    const nft = spawnSync('nft', ['list', 'ruleset'], { encoding: 'utf8' });
    lines.push(...nft.stdout.split('\n'));
    return lines.filter((l) => [...this.ids].some((id) => l.includes(id)));
  }

  /** Everything a pod can leave behind on the node; every list empty once its sandbox is removed. */
  leftovers(): Record<string, string[]> {
    const bridges = new Set(['cni0', 'br-side']);
    return {
      reservations: this.reservations(),
      manifoldCache: this.files('varLib', 'cni/manifold'),
      libcniCache: this.files('varLib', 'cni/results'),
      deviceInfo: this.files('run', 'k8s.cni.cncf.io/devinfo'),
      hostLinks: this.hostLinks()
        .map((l) => l.ifname)
        .filter((n) => !this.baselineLinks.includes(n) && !bridges.has(n)),
      netns: this.containerd.netnsFiles(),
      rules: this.rules(),
      sandboxes: [],
    };
  }

  /** Stops and removes every sandbox containerd lists (after a failed test: no cascade). */
  async removeAll(): Promise<void> {
    if (this.containerd.pid === undefined) await this.containerd.start();
    for (const s of await this.containerd.cri.listPodSandbox()) {
      await this.containerd.cri.stopPodSandbox(s.id).catch(() => undefined);
      await this.containerd.cri.removePodSandbox(s.id).catch(() => undefined);
    }
  }

  async leftoversWithSandboxes(): Promise<Record<string, string[]>> {
    const l = this.leftovers();
    l.sandboxes = (await this.containerd.cri.listPodSandbox()).map(
      (s) => `${s.namespace}/${s.name} ${s.state}`,
    );
    return l;
  }

  printTimings(): void {
    const by = new Map<string, number[]>();
    for (const t of this.timings) by.set(t.what, [...(by.get(t.what) ?? []), t.ms]);
    const lines = ['', 'CRI call times (ms, wall, through containerd, every CNI call included):'];
    for (const t of this.timings)
      lines.push(
        `  ${t.what.padEnd(17)} ${t.ms.toFixed(0).padStart(6)}  ${t.pod}${t.note ? ` (${t.note})` : ''}`,
      );
    for (const [what, ms] of by) {
      const s = [...ms].sort((a, b) => a - b);
      lines.push(
        `  ${what}: n=${s.length} median ${s[Math.floor(s.length / 2)]?.toFixed(0)} max ${s.at(-1)?.toFixed(0)}`,
      );
    }
    console.log(lines.join('\n'));
  }

  async tearDown(): Promise<void> {
    // first (containerd's tearDown kills every process naming the run's dir, the daemon too);
    // a sandbox a failed test left is then DELed through the shim's one-shot fallback
    const d = await this.stopDaemon();
    if (d.code !== 0) console.error(`manifold daemon exited ${d.code} after SIGTERM: ${d.stderr}`);
    await this.containerd.tearDown();
    await this.api.stop();
  }
}

function noteOf(o: PodOptions): string {
  const parts: string[] = [];
  if (o.networks)
    parts.push(`networks ${typeof o.networks === 'string' ? o.networks : `${o.networks.length} (JSON)`}`);
  if (o.portMappings) parts.push('portMappings');
  if (o.annotations?.['kubernetes.io/ingress-bandwidth']) parts.push('bandwidth');
  return parts.join(', ');
}

/** `ip -j …` inside a netns given by path (a pod's, through containerd's mount namespace). */
export function inNetns<T = unknown>(netns: string, ...args: string[]): T {
  const r = spawnSync('nsenter', [`--net=${netns}`, 'ip', '-j', ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')} in ${netns}: ${r.stderr}`);
  return JSON.parse(r.stdout || '[]') as T;
}

/** Runs `fn` with the API stand-in down, then brings it back on the same port. */
export async function withApiDown<T>(api: FakeApiServer, fn: () => Promise<T>): Promise<T> {
  await api.stop();
  try {
    return await fn();
  } finally {
    await api.start(api.port);
  }
}
