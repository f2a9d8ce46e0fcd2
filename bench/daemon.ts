/**
 * Daemon mode inside the bench's world: `manifold install --mode daemon` into a temp bin and
 * conf dir (a dummy primary config), so the shim the runtime executes is the one install
 * writes (patched with the bench's socket, `manifold-oneshot` beside it), then one
 * `manifold daemon --socket <work>/daemon/manifold.sock`, started by the bench's process in the
 * throwaway "host" namespace like every plugin, stopped at the end (`stop`: SIGTERM and its
 * drain; `kill`: SIGKILL, for failures and signals).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import type { World } from './world.ts';

const STATUS_KEYS = ['VmRSS', 'VmHWM'] as const;

export interface Rss {
  readonly rssMiB: number;
  readonly hwmMiB: number;
}

/** Sum and count of the daemon's `manifold_request_duration_seconds` for one verb (all outcomes). */
export interface Handled {
  readonly seconds: number;
  readonly count: number;
}

export class DaemonMode {
  /** The CNI bin dir of daemon mode: the shim as `manifold`, the executable as `manifold-oneshot`. */
  readonly binDir: string;
  readonly socket: string;
  readonly #exe: string;
  readonly #env: Record<string, string>;
  #child: ChildProcess | undefined;
  #stderr = '';

  constructor(world: World, exe: string) {
    this.#exe = exe;
    this.#env = Object.fromEntries(world.env.map((kv) => kv.split(/=(.*)/s) as [string, string]));
    this.binDir = join(world.work, 'daemon-bin');
    const confDir = join(world.work, 'daemon-conf');
    this.socket = join(world.work, 'daemon', 'manifold.sock');
    mkdirSync(this.binDir);
    mkdirSync(confDir);
    // install wraps the node's primary network config: any will do, nothing reads the result
    writeFileSync(
      join(confDir, '10-primary.conf'),
      '{"cniVersion":"1.0.0","name":"primary","type":"bridge"}',
    );
    const args = ['install', '--mode', 'daemon', '--bin-dir', this.binDir, '--conf-dir', confDir];
    execFileSync(exe, [...args, '--socket', this.socket], {
      env: this.#env,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    for (const f of ['manifold', 'manifold-oneshot'])
      if (!existsSync(join(this.binDir, f))) throw new Error(`install --mode daemon wrote no ${f}`);
  }

  /** Whether `exe` has daemon mode (an older build, `--manifold BINDIR`, may not). */
  static supported(exe: string): boolean {
    try {
      execFileSync(exe, ['daemon', '--help'], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  /** Starts the daemon and waits until `/readyz` answers 200 (at most 30 s). */
  async start(): Promise<void> {
    const child = spawn(this.#exe, ['daemon', '--socket', this.socket], {
      env: this.#env,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    this.#child = child;
    child.stderr?.on('data', (d: Buffer) => {
      this.#stderr = (this.#stderr + d.toString()).slice(-4000);
    });
    const t0 = Date.now();
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null)
        throw new Error(
          `manifold daemon exited at start (${child.exitCode ?? child.signalCode}): ${this.#stderr}`,
        );
      const r = await this.get('/readyz').catch(() => undefined);
      if (r?.status === 200) return;
      if (Date.now() - t0 > 30_000)
        throw new Error(`manifold daemon was not ready within 30 s: ${this.#stderr}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /** One GET on the socket (curl --unix-socket, in Node). */
  get(path: string): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      const req = request({ socketPath: this.socket, path, host: 'manifold', timeout: 5000 }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          body += c;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('timeout', () => req.destroy(new Error(`GET ${path}: no answer within 5 s`)));
      req.on('error', reject);
      req.end();
    });
  }

  /** What the daemon's metrics say it spent handling `verb` so far (arrival to answer). */
  async handled(verb: string): Promise<Handled> {
    const { body } = await this.get('/metrics');
    let seconds = 0;
    let count = 0;
    const re = new RegExp(
      `^manifold_request_duration_seconds_(sum|count)\\{verb="${verb}"[^}]*\\} (\\S+)$`,
      'gm',
    );
    for (const m of body.matchAll(re)) {
      if (m[1] === 'sum') seconds += Number(m[2]);
      else count += Number(m[2]);
    }
    return { seconds, count };
  }

  /** The daemon's resident set now and its peak (/proc/<pid>/status). */
  rss(): Rss {
    const status = readFileSync(`/proc/${this.pid}/status`, 'utf8');
    const [rss, hwm] = STATUS_KEYS.map(
      (k) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(status)?.[1]) / 1024,
    );
    return { rssMiB: rss as number, hwmMiB: hwm as number };
  }

  /** Lines of the shim's fallbacks.log (calls it ran one-shot), beside the socket. */
  fallbacks(): number {
    const log = join(this.socket, '..', 'fallbacks.log');
    return existsSync(log) ? readFileSync(log, 'utf8').split('\n').filter(Boolean).length : 0;
  }

  /** SIGTERM and the drain (the socket file stays: a shim then finds it refused, as after a crash). */
  async stop(): Promise<void> {
    const child = this.#child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const done = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 35_000);
    const code = await done;
    clearTimeout(timer);
    if (code !== 0) throw new Error(`manifold daemon exited ${code} after SIGTERM: ${this.#stderr}`);
  }

  /** SIGKILL, if it still runs (failures, signals: nothing may outlive the bench). */
  kill(): void {
    const child = this.#child;
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}
