/**
 * `manifold daemon` as a process for the reliability tests (the source, `node src/main.ts
 * daemon`, as the integration tier runs it) and the built shim (dist/shim/manifold-shim)
 * configured for its socket, falling back to the built executable (dist/bin/manifold): what
 * `manifold install --mode daemon` writes, without the install. Every daemon started here is
 * killed by PID after the test file, failed or not.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll } from 'vitest';
import { patchShim } from '../../src/cli/install/shim.ts';
import { httpCall } from './daemon.ts';

const SOURCE_MAIN = fileURLToPath(new URL('../../src/main.ts', import.meta.url));
export const DIST_EXE = fileURLToPath(new URL('../../dist/bin/manifold', import.meta.url));
const DIST_SHIM = fileURLToPath(new URL('../../dist/shim/manifold-shim', import.meta.url));

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Writes the shim for `socket` into `dir` as `dir/manifold`; its fallback is the built executable. */
export function writeShim(dir: string, socket: string): string {
  for (const f of [DIST_EXE, DIST_SHIM]) {
    if (!existsSync(f)) throw new Error(`${f} is missing: run ./build.sh first (the shim and its one-shot)`);
  }
  const shim = join(dir, 'manifold');
  writeFileSync(shim, patchShim(readFileSync(DIST_SHIM), socket, DIST_EXE), { mode: 0o755 });
  return shim;
}

export interface DaemonProc {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stderr: string;
}

const started: ChildProcess[] = [];
afterAll(() => {
  for (const c of started) {
    if (c.exitCode === null && c.signalCode === null && c.pid !== undefined) {
      try {
        process.kill(c.pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
  }
});

/** The daemon from the source (the integration tier's), and as deployed: the built executable. */
export const FROM_SOURCE: readonly string[] = [process.execPath, SOURCE_MAIN];
export const BUILT: readonly string[] = [DIST_EXE];

/** Starts `manifold daemon --socket <socket> ...args`: from the source, or `command`. */
export function spawnDaemon(socket: string, args: string[] = [], command = FROM_SOURCE): DaemonProc {
  const [exe, ...pre] = command as [string, ...string[]];
  const child = spawn(exe, [...pre, 'daemon', '--socket', socket, ...args], {
    env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  started.push(child);
  const d: DaemonProc = {
    child,
    pid: child.pid ?? -1,
    stderr: '',
    exited: new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal }))),
  };
  child.stderr?.on('data', (b: Buffer) => {
    d.stderr += b.toString();
  });
  return d;
}

/** Resolves once `d` answers /healthz on `socket` (and it is `d` that serves, when `mine`). */
export async function serving(socket: string, d: DaemonProc): Promise<void> {
  for (let i = 0; i < 600; i++) {
    if (d.child.exitCode !== null) throw new Error(`daemon exited ${d.child.exitCode}: ${d.stderr}`);
    if (d.stderr.includes('serving')) {
      try {
        if ((await httpCall(socket, 'GET', '/healthz')).http === 200) return;
      } catch {
        // not yet
      }
    }
    await sleep(25);
  }
  throw new Error(`daemon never served ${socket}: ${d.stderr}`);
}

/** SIGKILL by PID; resolves once it is gone. */
export async function killHard(d: DaemonProc): Promise<void> {
  if (d.child.exitCode === null && d.child.signalCode === null) process.kill(d.pid, 'SIGKILL');
  await d.exited;
}

/**
 * The daemon's resident set now (VmRSS), its peak (VmHWM), and the parts of VmRSS that are
 * anonymous memory (the heaps) and mapped files (the executable's pages), in MiB.
 */
export function rssOf(pid: number): { rss: number; hwm: number; anon: number; file: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(status)?.[1]) / 1024;
  return { rss: kb('VmRSS'), hwm: kb('VmHWM'), anon: kb('RssAnon'), file: kb('RssFile') };
}

/** The daemon's metrics text (one value). */
export async function metric(socket: string, name: string): Promise<number | undefined> {
  try {
    const text = (await httpCall(socket, 'GET', '/metrics')).body;
    const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}
