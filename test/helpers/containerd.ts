/**
 * A real container runtime for the runtime tier: Debian's containerd 1.6 and runc, started by
 * the test itself, kept entirely off the machine (REFERENCE.md, "Running containerd 1.6
 * (Debian) in a test sandbox"):
 *
 * - **Network.** containerd inherits the test's throwaway "host" network namespace
 *   (`isolateHost()`, called by the test file first): every host-side device, iptables and
 *   nftables rule the plugins make lives there, and the API stand-in on 127.0.0.1 is reachable.
 * - **Mounts.** A mount namespace of its own, held by a `sleep` (so it outlives a killed
 *   containerd and its netns bind mounts survive a restart), entered with `nsenter --mount`
 *   (never `ip netns exec`, which remounts /sys and loses the cgroup mounts). In it, /run and
 *   /var/lib are bind mounts of the temp dir's `run/` and `varlib/`: containerd's fixed paths
 *   (/run/containerd, /var/run/netns), libcni's cache (/var/lib/cni/results), host-local's
 *   default store and manifold's default cache all land in the temp dir, readable from outside.
 * - **Files.** Root, state, socket, the CNI conf dir (`etc/cni/net.d`) and bin dir
 *   (`opt/cni/bin`, the node's reference plugins linked in) under one temp dir.
 * - **Sandbox image.** A tiny static pause program (gcc -static) packed as a docker-archive
 *   tarball and imported with `ctr`; no registry.
 * - **Cleanup**, also after a failure: sandboxes stopped and removed through CRI when it still
 *   answers, containerd stopped by PID, its shims (found by our socket in their command line)
 *   and every process of the sandboxes' cgroup parent killed by PID, the mount namespace's
 *   holder ended, the cgroups and the temp dir removed.
 */
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  renameSync,
  rmdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CriClient, type SandboxConfig } from './cri.ts';
import { REFERENCE_PLUGIN_DIR, requireReferencePlugins } from './reference.ts';

export const PAUSE_IMAGE = 'manifold.test/pause:1';

/** build.sh's TEST_PKGS installs gcc-12 (and libc6-dev for libc.a); plain gcc where it is there */
const CC = existsSync('/usr/bin/gcc-12') ? 'gcc-12' : 'gcc';

const PATH_ENV = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

function need(cmd: string, pkg: string): void {
  if (spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status !== 0) {
    throw new Error(`the runtime tier needs ${cmd}: apt-get install ${pkg}`);
  }
}

const PAUSE_C = `#include <signal.h>
#include <unistd.h>
static void quit(int s) { (void)s; _exit(0); }
int main(void) { signal(SIGINT, quit); signal(SIGTERM, quit); for (;;) pause(); }
`;

/** The pause image as a docker-archive tarball (manifest.json, config, one layer). */
function buildPauseImage(dir: string): string {
  const work = join(dir, 'pause-image');
  mkdirSync(join(work, 'rootfs'), { recursive: true });
  mkdirSync(join(work, 'archive'), { recursive: true });
  writeFileSync(join(work, 'pause.c'), PAUSE_C);
  execFileSync(CC, ['-static', '-Os', '-s', '-o', join(work, 'rootfs/pause'), join(work, 'pause.c')], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const layer = join(work, 'archive/layer.tar');
  execFileSync('tar', [
    '-C',
    join(work, 'rootfs'),
    '--owner=0',
    '--group=0',
    '--numeric-owner',
    '-cf',
    layer,
    'pause',
  ]);
  const sha = (f: string | Buffer) => createHash('sha256').update(f).digest('hex');
  const config = JSON.stringify({
    architecture: process.arch === 'x64' ? 'amd64' : process.arch,
    os: 'linux',
    config: { Entrypoint: ['/pause'] },
    rootfs: { type: 'layers', diff_ids: [`sha256:${sha(readFileSync(layer))}`] },
  });
  const configName = `${sha(config)}.json`;
  writeFileSync(join(work, 'archive', configName), config);
  writeFileSync(
    join(work, 'archive/manifest.json'),
    JSON.stringify([{ Config: configName, RepoTags: [PAUSE_IMAGE], Layers: ['layer.tar'] }]),
  );
  const tarball = join(work, 'pause.tar');
  execFileSync('tar', ['-C', join(work, 'archive'), '-cf', tarball, '.']);
  return tarball;
}

export interface ContainerdOptions {
  /** The test's throwaway host netns (from `isolateHost()`); containerd runs in it. */
  readonly hostNetns: { name: string; path: string };
  /** Extra environment for containerd (and so for the CNI plugins it runs). */
  readonly env?: Record<string, string>;
}

export class Containerd {
  readonly dir: string;
  readonly hostNetns: { name: string; path: string };
  /** containerd's CNI conf dir and bin dir (the node's /etc/cni/net.d and /opt/cni/bin). */
  readonly confDir: string;
  readonly binDir: string;
  /** The private /run and /var/lib as seen from outside the mount namespace. */
  readonly run: string;
  readonly varLib: string;
  readonly socket: string;
  readonly cri: CriClient;
  /** linux.cgroup_parent of every sandbox made through `sandbox()`: one cgroup to kill. */
  readonly cgroupParent: string;
  readonly log: string;
  #holder: ChildProcess | undefined;
  #daemon: ChildProcess | undefined;
  #env: Record<string, string>;
  #exited: Promise<void> = Promise.resolve();

  constructor(opts: ContainerdOptions) {
    this.hostNetns = opts.hostNetns;
    this.dir = mkdtempSync(join(tmpdir(), 'mf-cri-'));
    this.confDir = join(this.dir, 'etc/cni/net.d');
    this.binDir = join(this.dir, 'opt/cni/bin');
    this.run = join(this.dir, 'run');
    this.varLib = join(this.dir, 'varlib');
    this.socket = join(this.dir, 'containerd.sock');
    this.log = join(this.dir, 'containerd.log');
    this.cri = new CriClient(this.socket);
    this.cgroupParent = `/${this.dir.split('/').pop()}`;
    this.#env = { PATH: PATH_ENV, ...(opts.env ?? {}) };
  }

  get pid(): number | undefined {
    const d = this.#daemon;
    return d && d.exitCode === null && d.signalCode === null ? d.pid : undefined;
  }

  get holderPid(): number {
    const pid = this.#holder?.pid;
    if (pid === undefined) throw new Error('the mount namespace is not set up');
    return pid;
  }

  /** A path inside the private mount namespace (e.g. a pod's /var/run/netns/cni-… file). */
  inside(path: string): string {
    // /var/run is a symlink to /run, and an absolute symlink under /proc/PID/root resolves
    // against our root, not the namespace's: take the real path
    return `/proc/${this.holderPid}/root${path.replace(/^\/var\/run\//, '/run/')}`;
  }

  /** Sets everything up and starts containerd; the pause image is imported. */
  async setUp(): Promise<void> {
    if (process.getuid?.() !== 0) throw new Error('the runtime tier needs root');
    need('containerd', 'containerd');
    need('runc', 'runc');
    need('ctr', 'containerd');
    need(CC, 'gcc-12 libc6-dev');
    if (!existsSync('/usr/lib/x86_64-linux-gnu/libc.a') && !existsSync('/usr/lib/aarch64-linux-gnu/libc.a'))
      throw new Error('the runtime tier builds a static pause program: apt-get install libc6-dev');
    need('nsenter', 'util-linux');
    need('setpriv', 'util-linux');
    requireReferencePlugins('bridge', 'host-local', 'loopback', 'portmap', 'bandwidth');
    await Containerd.sweepStale();
    for (const d of [this.confDir, this.binDir, this.run, this.varLib, join(this.dir, 'root')])
      mkdirSync(d, { recursive: true });
    // whose run this is: a later run cleans up after one whose test process was killed
    writeFileSync(join(this.dir, 'owner.pid'), String(process.pid));
    writeFileSync(join(this.dir, 'host.netns'), this.hostNetns.name);
    // the node's own plugins, as a package puts them in /opt/cni/bin
    for (const p of readdirSync(REFERENCE_PLUGIN_DIR))
      symlinkSync(join(REFERENCE_PLUGIN_DIR, p), join(this.binDir, p));
    const image = buildPauseImage(this.dir);
    // the mount namespace's holder dies with this process (pdeathsig), whatever happens
    this.#holder = spawn(
      'unshare',
      ['--mount', '--propagation', 'slave', '--', 'setpriv', '--pdeathsig', 'KILL', 'sleep', 'infinity'],
      { stdio: 'ignore' },
    );
    for (let i = 0; i < 100; i++) {
      // unshare has exec'ed sleep once its mount namespace differs from ours
      const mine = readlinkSync('/proc/self/ns/mnt');
      let theirs = mine;
      try {
        theirs = readlinkSync(`/proc/${this.holderPid}/ns/mnt`);
        if (theirs !== mine && readFileSync(`/proc/${this.holderPid}/comm`, 'utf8').trim() === 'sleep') break;
      } catch {
        // not there yet
      }
      await sleep(20);
    }
    // drop the copies of the machine's netns mounts (they would keep other netns alive), then
    // the private /run and /var/lib
    execFileSync(
      'nsenter',
      [
        `--mount=/proc/${this.holderPid}/ns/mnt`,
        '--',
        'sh',
        '-c',
        `umount -R -l /run/netns 2>/dev/null; mount --bind ${this.run} /run && mount --bind ${this.varLib} /var/lib`,
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    writeFileSync(join(this.dir, 'config.toml'), this.#config());
    await this.start();
    execFileSync('ctr', ['--address', this.socket, '-n', 'k8s.io', 'images', 'import', image], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
  }

  #config(): string {
    const d = this.dir;
    return `version = 2
root = "${d}/root"
state = "${d}/state"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs",
  "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]
[grpc]
  address = "${this.socket}"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "${PAUSE_IMAGE}"
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "${this.binDir}"
    conf_dir = "${this.confDir}"
    max_conf_num = 1
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
[plugins."io.containerd.internal.v1.opt"]
  path = "${d}/containerd-opt"
`;
  }

  /** Starts containerd (again) and waits until CRI answers. */
  async start(): Promise<void> {
    if (this.pid !== undefined) throw new Error('containerd is running');
    const out = openSync(this.log, 'a');
    this.#daemon = spawn(
      'nsenter',
      [
        `--mount=/proc/${this.holderPid}/ns/mnt`,
        `--net=${this.hostNetns.path}`,
        '--',
        'setpriv',
        '--pdeathsig',
        'KILL',
        'containerd',
        '--config',
        join(this.dir, 'config.toml'),
      ],
      { stdio: ['ignore', out, out], env: this.#env },
    );
    closeSync(out);
    const daemon = this.#daemon;
    this.#exited = new Promise((resolve) => daemon.once('exit', () => resolve()));
    const deadline = Date.now() + 30_000;
    let last: unknown;
    while (Date.now() < deadline) {
      if (daemon.exitCode !== null) throw new Error(`containerd exited (${daemon.exitCode}): ${this.tail()}`);
      if (existsSync(this.socket)) {
        try {
          this.cri.timeoutMs = 2_000;
          await this.cri.status();
          this.cri.timeoutMs = 120_000;
          return;
        } catch (err) {
          last = err;
        }
      }
      await sleep(50);
    }
    throw new Error(`containerd did not answer CRI within 30 s (${String(last)}): ${this.tail()}`);
  }

  /** SIGKILL (a crash) or SIGTERM, and waits for it to be gone. */
  async stop(signal: 'SIGKILL' | 'SIGTERM' = 'SIGTERM'): Promise<void> {
    const d = this.#daemon;
    if (!d || d.exitCode !== null || d.signalCode !== null) return;
    d.kill(signal);
    const timer = setTimeout(() => d.kill('SIGKILL'), 10_000);
    await this.#exited;
    clearTimeout(timer);
  }

  /** The last lines of containerd's log. */
  tail(lines = 15): string {
    try {
      return readFileSync(this.log, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
    } catch {
      return '(no log)';
    }
  }

  /** Writes a file into the conf dir as a node's tools do: a temp name, then a rename. */
  writeConf(name: string, content: string | object): void {
    const tmp = join(this.confDir, `.${name}.tmp`);
    writeFileSync(tmp, typeof content === 'string' ? content : `${JSON.stringify(content, null, 2)}\n`);
    renameSync(tmp, join(this.confDir, name));
  }

  /** RunPodSandbox with this runtime's cgroup parent (so cleanup can find every process). */
  sandboxConfig(c: SandboxConfig): SandboxConfig {
    return { cgroupParent: this.cgroupParent, ...c };
  }

  /**
   * Runs a command as a node's root would: in containerd's mount namespace (its /run and
   * /var/lib) and this process's network namespace (the node's), with a plain environment.
   */
  exec(
    file: string,
    args: readonly string[],
    env: Record<string, string> = {},
  ): { code: number | null; out: string; err: string } {
    const r = spawnSync('nsenter', [`--mount=/proc/${this.holderPid}/ns/mnt`, '--', file, ...args], {
      encoding: 'utf8',
      env: { PATH: PATH_ENV, ...env },
      timeout: 60_000,
    });
    return { code: r.status, out: r.stdout, err: r.stderr };
  }

  /**
   * `exec`, without blocking this process: for commands that talk to a server this process
   * serves (the API stand-in).
   */
  execAsync(
    file: string,
    args: readonly string[],
    env: Record<string, string> = {},
  ): Promise<{ code: number | null; out: string; err: string }> {
    const child = spawn('nsenter', [`--mount=/proc/${this.holderPid}/ns/mnt`, '--', file, ...args], {
      env: { PATH: PATH_ENV, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 60_000,
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (b: Buffer) => {
      out += b.toString();
    });
    child.stderr.on('data', (b: Buffer) => {
      err += b.toString();
    });
    return new Promise((resolve, reject) => {
      child.once('error', reject);
      child.once('close', (code) => resolve({ code, out, err }));
    });
  }

  /** Starts a long-running command the same way (e.g. `install --watch`); the caller ends it. */
  spawnInside(file: string, args: readonly string[], env: Record<string, string> = {}): ChildProcess {
    return spawn(
      'nsenter',
      [`--mount=/proc/${this.holderPid}/ns/mnt`, '--', 'setpriv', '--pdeathsig', 'KILL', file, ...args],
      { env: { PATH: PATH_ENV, ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
  }

  /** The sandbox's netns path, as reachable from outside the mount namespace. */
  async netnsOf(id: string): Promise<string> {
    const s = await this.cri.podSandboxStatus(id);
    const info = JSON.parse(s.info.info ?? '{}') as {
      runtimeSpec?: { linux?: { namespaces?: { type: string; path?: string }[] } };
    };
    const path = info.runtimeSpec?.linux?.namespaces?.find((n) => n.type === 'network')?.path;
    if (!path) throw new Error(`sandbox ${id} has no netns path in its status`);
    return this.inside(path);
  }

  /** The netns files containerd keeps (/var/run/netns inside its mount namespace). */
  netnsFiles(): string[] {
    try {
      return readdirSync(this.inside('/run/netns')).sort();
    } catch {
      return [];
    }
  }

  /**
   * A run whose test process was killed (SIGKILL: no afterAll) leaves its shims, pause
   * processes and plugins running (containerd and the mount namespace's holder die with it:
   * pdeathsig). Each run's temp dir names its owner; a dir whose owner is gone is cleaned up
   * here, by the PIDs of its processes.
   */
  static async sweepStale(): Promise<void> {
    for (const name of readdirSync(tmpdir())) {
      if (!name.startsWith('mf-cri-')) continue;
      const dir = join(tmpdir(), name);
      let owner = 0;
      try {
        owner = Number(readFileSync(join(dir, 'owner.pid'), 'utf8'));
      } catch {
        continue; // being set up, or not one of ours
      }
      if (owner > 0 && existsSync(`/proc/${owner}`)) continue;
      console.error(`runtime tier: cleaning up after a killed run (${dir}, owner ${owner} gone)`);
      await cleanUpProcesses(dir, `/${name}`);
      // the run's throwaway host netns (isolateHost's afterAll never ran)
      try {
        const ns = readFileSync(join(dir, 'host.netns'), 'utf8').trim();
        if (/^mfh[0-9a-f]+$/.test(ns)) spawnSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
      } catch {
        // none recorded
      }
      rmSync(dir, { recursive: true, force: true });
    }
  }

  /** Everything away, whatever state it is in; never throws. */
  async tearDown(): Promise<void> {
    const step = async (what: string, fn: () => unknown) => {
      try {
        await fn();
      } catch (err) {
        console.error(`containerd sandbox cleanup: ${what}: ${String(err)}`);
      }
    };
    if (this.pid !== undefined) {
      await step('remove sandboxes', async () => {
        this.cri.timeoutMs = 30_000;
        for (const s of await this.cri.listPodSandbox()) {
          await this.cri.stopPodSandbox(s.id).catch(() => undefined);
          await this.cri.removePodSandbox(s.id).catch(() => undefined);
        }
      });
    }
    await step('stop containerd', () => this.stop('SIGTERM'));
    await step('kill shims and sandbox processes', () => cleanUpProcesses(this.dir, this.cgroupParent));
    await step('end the mount namespace', async () => {
      const h = this.#holder;
      if (h && h.exitCode === null && h.signalCode === null) {
        const gone = new Promise((resolve) => h.once('exit', resolve));
        h.kill('SIGKILL');
        await gone;
      }
    });
    // overlay mounts and netns bind mounts lived only in that namespace; nothing is mounted here
    await step('remove the temp dir', () => rmSync(this.dir, { recursive: true, force: true }));
  }
}

/** PIDs of every process whose command line names `dir` (containerd, its shims, plugins). */
function processesNaming(dir: string): number[] {
  const pids: number[] = [];
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p) || Number(p) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(dir)) pids.push(Number(p));
    } catch {
      // gone
    }
  }
  return pids;
}

/** The cgroup dirs of a sandboxes' parent, one per mounted hierarchy (v1, or v2's one). */
function cgroupDirs(parent: string): string[] {
  const out: string[] = [];
  for (const h of readdirSync('/sys/fs/cgroup')) {
    const d = join('/sys/fs/cgroup', h, parent);
    if (existsSync(join(d, 'cgroup.procs'))) out.push(d);
  }
  if (existsSync(join('/sys/fs/cgroup', parent, 'cgroup.procs'))) out.push(join('/sys/fs/cgroup', parent));
  return out;
}

/** SIGKILL by PID: every process naming `dir`, every process in cgroup `parent`; then the cgroups go. */
async function cleanUpProcesses(dir: string, parent: string): Promise<void> {
  const kill = (pid: number) => {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  };
  const walk = (d: string, fn: (d: string) => void): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) if (e.isDirectory()) walk(join(d, e.name), fn);
    fn(d);
  };
  for (const pid of processesNaming(dir)) kill(pid);
  for (const d of cgroupDirs(parent)) {
    walk(d, (c) => {
      for (const pid of readFileSync(join(c, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean))
        kill(Number(pid));
    });
  }
  await sleep(100);
  for (const d of cgroupDirs(parent)) {
    walk(d, (c) => {
      for (let i = 0; i < 20; i++) {
        try {
          rmdirSync(c);
          return;
        } catch {
          spawnSync('sleep', ['0.05']);
        }
      }
    });
  }
}
