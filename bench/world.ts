/**
 * The bench's throwaway world: a "host" network namespace holding a veth pair (the macvlan
 * master, with carrier) that this process moves into — so every runtime and plugin it spawns
 * starts there and nothing touches the machine's own interfaces — pod namespaces to attach
 * to, the network config files of both implementations, and the libcni driver
 * (bench/go/cnibench, built offline from Debian's libcni sources). All of it goes in `close`.
 */
import { execFile, execFileSync } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const ROOT = new URL('..', import.meta.url).pathname;
/** manifold's bin directory: dist/bin, or another build's (`--manifold DIR`, to compare builds). */
export const MF_BIN = ((i) => (i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : join(ROOT, 'dist/bin')))(
  process.argv.indexOf('--manifold'),
) as string;
export const REF_BIN = '/usr/lib/cni';
export const NODE = join(ROOT, 'node_modules/.bin/node');
const ADDON = join(ROOT, 'src/native/build/Release/manifold_native.node');
const GO_SRC = join(ROOT, 'bench/go/cnibench');
const GO_BIN = join(ROOT, 'bench/go/bin');
export const CNIBENCH = join(GO_BIN, 'cnibench');
const GOPATH = '/usr/share/gocode';
const CLONE_NEWNET = 0x40000000;
const MASTER = 'bm0';

/** manifold one-shot, manifold through daemon mode's shim, the Go reference plugins. */
export type Impl = 'manifold' | 'daemon' | 'reference';
/** Each implementation's own network names and /16s (10.100+i, 10.180+i, 10.140+i). */
const NETS: Readonly<Record<Impl, { tag: string; octet: number }>> = {
  manifold: { tag: 'mf', octet: 100 },
  daemon: { tag: 'dm', octet: 180 },
  reference: { tag: 'ref', octet: 140 },
};

export function die(msg: string): never {
  process.stderr.write(`bench: ${msg}\n`);
  process.exit(2);
}

/** Says what is missing, if anything. */
export function preconditions(): void {
  if (process.getuid?.() !== 0) die('needs root (it makes network namespaces)');
  if (!existsSync(join(MF_BIN, 'manifold'))) die(`${MF_BIN}/manifold is missing: run ./build.sh first`);
  for (const f of ['macvlan', 'host-local'])
    if (!existsSync(join(REF_BIN, f)))
      die(`${REF_BIN}/${f} is missing: apt-get install containernetworking-plugins`);
  if (!existsSync(join(GOPATH, 'src/github.com/containernetworking/cni/libcni')))
    die('Debian libcni sources are missing: apt-get install golang-go golang-github-appc-cni-dev');
  if (!existsSync(ADDON)) die(`${ADDON} is missing: run npm run native:ensure`);
  if (!existsSync(NODE)) die(`${NODE} is missing: run npm ci`);
}

/** Builds bench/go/bin/cnibench when missing or older than its source (GOPATH mode, no network). */
export function buildDriver(): Promise<void> {
  const src = join(GO_SRC, 'main.go');
  if (existsSync(CNIBENCH) && statSync(CNIBENCH).mtimeMs >= statSync(src).mtimeMs) return Promise.resolve();
  mkdirSync(GO_BIN, { recursive: true });
  const env = {
    ...process.env,
    GO111MODULE: 'off',
    GOPATH,
    GOCACHE: join(GO_BIN, '.gocache'),
    GOFLAGS: '',
    GOPROXY: 'off',
  };
  return new Promise((resolve, reject) => {
    execFile('go', ['build', '-o', CNIBENCH, '.'], { cwd: GO_SRC, env }, (err, _out, stderr) =>
      err ? reject(new Error(`go build of ${GO_SRC} failed: ${stderr || err.message}`)) : resolve(),
    );
  });
}

const ip = (...a: string[]) => execFileSync('ip', a, { stdio: ['ignore', 'pipe', 'pipe'] });

export class World {
  readonly work = mkdtempSync(join(tmpdir(), 'manifold-bench-'));
  readonly suffix = Math.random().toString(16).slice(2, 8);
  readonly hostNs = `mfbh${this.suffix}`;
  readonly podNs = `mfbp${this.suffix}`;
  readonly concurrentNs: string[];
  readonly #addon = createRequire(import.meta.url)(ADDON) as { setns(fd: number, nstype: number): void };
  readonly #home = openSync('/proc/thread-self/ns/net', 'r');

  constructor(concurrentPods: number) {
    this.concurrentNs = Array.from({ length: concurrentPods }, (_, i) => `mfbc${this.suffix}-${i}`);
    for (const ns of [this.hostNs, this.podNs, ...this.concurrentNs]) ip('netns', 'add', ns);
    const fd = openSync(`/run/netns/${this.hostNs}`, 'r');
    this.#addon.setns(fd, CLONE_NEWNET);
    closeSync(fd);
    ip('link', 'set', 'lo', 'up');
    ip('link', 'add', MASTER, 'type', 'veth', 'peer', 'name', `${MASTER}p`);
    ip('link', 'set', MASTER, 'up');
    ip('link', 'set', `${MASTER}p`, 'up');
    for (const d of ['confs', 'ipam', 'mfcache', 'libcni', 'native']) mkdirSync(join(this.work, d));
  }

  /** The i-th macvlan + host-local network of an implementation (each its own name and /16). */
  network(impl: Impl, i: number): Record<string, unknown> {
    return {
      cniVersion: '1.0.0',
      name: `bench-${NETS[impl].tag}-${i}`,
      type: 'macvlan',
      master: MASTER,
      mode: 'bridge',
      ipam: {
        type: 'host-local',
        dataDir: join(this.work, 'ipam'),
        ranges: [[{ subnet: `10.${NETS[impl].octet + i}.0.0/16` }]],
        ...(i === 0 ? { routes: [{ dst: '0.0.0.0/0' }] } : {}),
      },
    };
  }

  /**
   * The config files a runtime is given for a pod on `n` networks: manifold, one meta-plugin
   * network whose delegates are the n networks (one-shot and daemon mode alike, each its
   * own networks); the reference, the n networks themselves.
   */
  confs(impl: Impl, n: number): string[] {
    const dir = join(this.work, 'confs');
    if (impl === 'reference') {
      return Array.from({ length: n }, (_, i) => {
        const file = join(dir, `ref-${i}.conf`);
        if (!existsSync(file)) writeFileSync(file, JSON.stringify(this.network(impl, i)));
        return file;
      });
    }
    const file = join(dir, `${NETS[impl].tag}-${n}.conf`);
    if (!existsSync(file)) {
      const conf = {
        cniVersion: '1.0.0',
        name: `bench-${NETS[impl].tag}-pod${n}`,
        type: 'manifold',
        cniDir: join(this.work, 'mfcache'),
        delegates: Array.from({ length: n }, (_, i) => this.network(impl, i)),
      };
      writeFileSync(file, JSON.stringify(conf));
    }
    return [file];
  }

  /** A 1.1.0 meta config with one delegate, for STATUS (the CNI verb is 1.1.0's). */
  statusConf(impl: Impl): string {
    return JSON.stringify({
      cniVersion: '1.1.0',
      name: `bench-${NETS[impl].tag}-status`,
      type: 'manifold',
      cniDir: join(this.work, 'mfcache'),
      delegates: [{ ...this.network(impl, 0), cniVersion: '1.1.0' }],
    });
  }

  /** The environment a plugin is spawned with by a runtime (CNI_* are libcni's). */
  get env(): string[] {
    return ['PATH=/usr/sbin:/usr/bin:/sbin:/bin', `MANIFOLD_NATIVE_DIR=${join(this.work, 'native')}`];
  }

  /** IP reservations left in host-local's stores (0 after every DEL, or something leaked). */
  reservationsLeft(): number {
    const dir = join(this.work, 'ipam');
    return readdirSync(dir).reduce(
      (n, net) => n + readdirSync(join(dir, net)).filter((f) => /^\d+\.\d+\.\d+\.\d+$/.test(f)).length,
      0,
    );
  }

  close(): void {
    try {
      this.#addon.setns(this.#home, CLONE_NEWNET);
    } catch {
      // already home
    }
    for (const ns of [this.podNs, ...this.concurrentNs, this.hostNs]) {
      try {
        ip('netns', 'del', ns);
      } catch {
        // gone
      }
    }
    rmSync(this.work, { recursive: true, force: true });
  }
}
