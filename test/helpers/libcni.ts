/**
 * The e2e tier's container runtime: test/e2e/go/cnitest, a small CLI on libcni (the Go
 * library containerd and CRI-O use), built offline from Debian's packaged sources. Driving
 * plugins through it means config injection, result parsing, the result cache and prevResult
 * on CHECK/DEL all behave as they do under a real runtime.
 *
 * The binary is spawned from this process's main thread, so it runs in whatever network
 * namespace the test moved into (`isolateHost()` in host.ts), and so do the plugins it execs.
 */
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { viaMode } from './mode.ts';
import { scratchDir } from './scratch.ts';

const GO_DIR = fileURLToPath(new URL('../e2e/go/', import.meta.url));
const SRC_DIR = join(GO_DIR, 'cnitest');
const BIN_DIR = join(GO_DIR, 'bin'); // gitignored
export const CNITEST_BIN = join(BIN_DIR, 'cnitest');

/** Debian's golang-github-appc-cni-dev (libcni 1.1.2); no modules, no network, never `go get`. */
const GOPATH = '/usr/share/gocode';
const LIBCNI_SRC = join(GOPATH, 'src/github.com/containernetworking/cni/libcni');

export type CniVerb = 'add' | 'check' | 'del';

export interface LibcniOptions {
  /** A `.conflist` file, or a single-plugin `.conf` (wrapped into a list as runtimes do). */
  conf: string;
  /** Pod netns path; may be '' for DEL. */
  netns: string;
  ifname: string;
  containerId: string;
  /** Plugin directories, searched in order (CNI_PATH). */
  cniPath: string | readonly string[];
  /** libcni's result cache; required so tests never read or write /var/lib/cni. */
  cacheDir: string;
  /** CNI_ARGS: an object, or already joined as 'K=V;K2=V2'. */
  args?: Record<string, string> | string;
  /** Capability args; libcni passes the ones a plugin declares in `capabilities` as runtimeConfig. */
  capArgs?: Record<string, unknown>;
  timeoutMs?: number;
}

/** The result shapes of spec 0.3.0 – 1.0.0, as printed (fields absent in a version are optional). */
export interface CniResult {
  cniVersion: string;
  interfaces?: { name: string; mac?: string; mtu?: number; sandbox?: string; socketPath?: string }[];
  ips?: { address: string; gateway?: string; interface?: number; version?: '4' | '6' }[];
  routes?: { dst: string; gw?: string }[];
  dns?: { nameservers?: string[]; domain?: string; search?: string[]; options?: string[] };
}

export interface CniErrorBody {
  /** The CNI error code; 0 when the error is libcni's own (not a CNI error from a plugin). */
  code: number;
  msg: string;
  details: string;
  /** libcni's whole error text, including its wrapping (`plugin type="x" failed (add): ...`). */
  text: string;
}

export type LibcniOutcome<T> =
  | { ok: true; result: T; stderr: string }
  | { ok: false; error: CniErrorBody; stderr: string };

let built: Promise<string> | undefined;

/**
 * Builds test/e2e/go/bin/cnitest when missing or older than its sources, at most once per
 * test process. Parallel test files may race to build: each writes its own temp file and
 * renames it into place, so a reader never sees a half-written binary.
 */
export function buildCnitest(): Promise<string> {
  built ??= build();
  return built;
}

async function build(): Promise<string> {
  if (!existsSync(LIBCNI_SRC)) {
    throw new Error(`libcni sources not found at ${LIBCNI_SRC}: apt-get install golang-github-appc-cni-dev`);
  }
  const sources = readdirSync(SRC_DIR).filter((f) => f.endsWith('.go'));
  const newest = Math.max(...sources.map((f) => statSync(join(SRC_DIR, f)).mtimeMs));
  if (existsSync(CNITEST_BIN) && statSync(CNITEST_BIN).mtimeMs >= newest) return CNITEST_BIN;

  const tmp = `${CNITEST_BIN}.${process.pid}.tmp`;
  const env = {
    ...process.env,
    GO111MODULE: 'off', // GOPATH mode: imports resolve from Debian's /usr/share/gocode
    GOPATH,
    GOCACHE: join(BIN_DIR, '.gocache'), // private, and warm across runs
    GOFLAGS: '',
    GOPROXY: 'off', // belt and braces: never reach for the network
  };
  const started = performance.now();
  try {
    await run('go', ['build', '-o', tmp, '.'], { cwd: SRC_DIR, env, timeout: 170_000 });
  } catch (e) {
    rmSync(tmp, { force: true });
    const err = e as NodeJS.ErrnoException & { stderr?: string };
    if (err.code === 'ENOENT') throw new Error('Go not found on PATH: apt-get install golang-go');
    throw new Error(`go build of ${SRC_DIR} failed:\n${err.stderr ?? err.message}`);
  }
  renameSync(tmp, CNITEST_BIN);
  process.stderr.write(`cnitest: built ${CNITEST_BIN} in ${Math.round(performance.now() - started)} ms\n`);
  return CNITEST_BIN;
}

/** Runs one verb through libcni; a CNI failure is `{ ok: false }`, a harness failure throws. */
export async function libcni(verb: 'add', opts: LibcniOptions): Promise<LibcniOutcome<CniResult>>;
export async function libcni(verb: 'check' | 'del', opts: LibcniOptions): Promise<LibcniOutcome<object>>;
export async function libcni(verb: CniVerb, opts: LibcniOptions): Promise<LibcniOutcome<object>> {
  const argv = [
    verb,
    '--conf',
    opts.conf,
    '--netns',
    opts.netns,
    '--ifname',
    opts.ifname,
    '--container-id',
    opts.containerId,
    '--cni-path',
    cniPathOf(opts.cniPath),
    '--cache-dir',
    opts.cacheDir,
  ];
  if (opts.args !== undefined) argv.push('--args', joinArgs(opts.args));
  if (opts.capArgs !== undefined) argv.push('--cap-args', JSON.stringify(opts.capArgs));
  return invoke(argv, opts.timeoutMs);
}

export const cniAdd = (opts: LibcniOptions) => libcni('add', opts);
export const cniCheck = (opts: LibcniOptions) => libcni('check', opts);
export const cniDel = (opts: LibcniOptions) => libcni('del', opts);

/** The spec versions a plugin reports to libcni's VERSION call. */
export async function cniVersionInfo(
  type: string,
  cniPath: string | readonly string[],
): Promise<LibcniOutcome<{ supportedVersions: string[] }>> {
  return invoke(['version', '--type', type, '--cni-path', cniPathOf(cniPath)]);
}

/** CNI_PATH as this mode runs it: in daemon mode, dist/bin is the shim's bin dir (mode.ts). */
function cniPathOf(cniPath: string | readonly string[]): string {
  return (typeof cniPath === 'string' ? cniPath.split(':') : cniPath).map(viaMode).join(':');
}

/**
 * Writes a network config to `<dir>/<name>.conflist` when it has `plugins`, else
 * `<dir>/<name>.conf` (cnitest picks the loader by extension). Without `dir`, a new temp
 * directory is made; removing it is the caller's business.
 */
export function writeConfFile(conf: { name: string } & Record<string, unknown>, dir?: string): string {
  const target = dir ?? scratchDir('manifold-e2e-');
  const file = join(target, `${conf.name}.${'plugins' in conf ? 'conflist' : 'conf'}`);
  writeFileSync(file, `${JSON.stringify(conf, null, 2)}\n`);
  return file;
}

/** One plugin written as a `.conf`, or as a one-plugin `.conflist`: the two forms runtimes load. */
export function writeNetworkFile(
  form: 'conf' | 'conflist',
  head: { cniVersion: string; name: string },
  plugin: object,
  dir?: string,
): string {
  return writeConfFile(form === 'conf' ? { ...head, ...plugin } : { ...head, plugins: [plugin] }, dir);
}

function joinArgs(args: Record<string, string> | string): string {
  return typeof args === 'string'
    ? args
    : Object.entries(args)
        .map(([k, v]) => `${k}=${v}`)
        .join(';');
}

async function invoke<T>(argv: string[], timeoutMs = 30_000): Promise<LibcniOutcome<T>> {
  const bin = await buildCnitest();
  let stdout: string;
  let stderr: string;
  let exitCode: number;
  try {
    ({ stdout, stderr } = await run(bin, argv, { timeout: timeoutMs }));
    exitCode = 0;
  } catch (e) {
    const err = e as Error & { code?: unknown; stdout?: string; stderr?: string };
    if (typeof err.code !== 'number') throw err; // killed by the timeout, or could not spawn
    ({ stdout = '', stderr = '' } = err);
    exitCode = err.code;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(stdout);
  } catch {
    throw new Error(`cnitest ${argv[0]} exited ${exitCode} without JSON on stdout:\n${stdout}\n${stderr}`);
  }
  if (exitCode === 0) return { ok: true, result: parsed as T, stderr };
  const error = (parsed as { error?: CniErrorBody }).error;
  if (exitCode !== 1 || error === undefined) {
    throw new Error(`cnitest ${argv[0]} exited ${exitCode} with unexpected output:\n${stdout}\n${stderr}`);
  }
  return { ok: false, error, stderr };
}

/** execFile as a promise that keeps stdout/stderr on the error when the command fails. */
function run(
  file: string,
  args: string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeout: number },
): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { ...opts, encoding: 'utf8', maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      if (err) reject(Object.assign(err, { stdout, stderr }));
      else resolve({ stdout, stderr });
    });
  });
}
