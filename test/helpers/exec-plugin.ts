/**
 * A minimal CNI runtime for what libcni cannot drive: spawn a plugin executable with the CNI
 * environment and the config on stdin, and read back its exit status and stdout (the result
 * or the CNI error). Independent of manifold's own exec code (src/invoke/exec.ts), so it can
 * be used to test it, and to drive the 1.1.0 verbs (STATUS, GC) that Debian's libcni 1.1.2
 * does not know.
 *
 * The child starts in this process's network namespace (the test's isolated "host").
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { viaMode } from './mode.ts';

export interface PluginCall {
  readonly command: 'ADD' | 'DEL' | 'CHECK' | 'STATUS' | 'GC' | 'VERSION';
  readonly containerId?: string;
  readonly netns?: string;
  readonly ifname?: string;
  readonly args?: string;
  /** CNI_PATH entries. */
  readonly path?: readonly string[];
  /** Extra environment (e.g. MANIFOLD_NATIVE_DIR); nothing else of this process leaks in. */
  readonly env?: Readonly<Record<string, string>>;
  readonly timeoutMs?: number;
}

export interface PluginOutcome {
  /** Exit status (null when killed). */
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
  /** stdout as JSON, undefined when empty or not JSON. */
  readonly json: Record<string, unknown> | undefined;
  /** Wall time of the call, spawn to exit, in ms. */
  readonly ms: number;
}

/** The source entry point: `node src/main.ts` run as a plugin (argv0 picks the type), no build needed. */
const SOURCE_MAIN = fileURLToPath(new URL('../../src/main.ts', import.meta.url));

/**
 * Runs built-in `type` once as a runtime would, as a real process made from the source
 * (`node src/main.ts`, invoked under the name `type`): for the integration tier, which has no
 * build, when an in-process call cannot show the behaviour (a hang, a crash, concurrency).
 */
export function execSource(type: string, call: PluginCall, stdin: string | object): Promise<PluginOutcome> {
  return execCni(process.execPath, call, stdin, { argv0: type, args: [SOURCE_MAIN] });
}

/** Runs `file` once as a runtime would (in daemon mode, dist/bin/<name> is the shim's link: mode.ts). */
export function execCni(
  file: string,
  call: PluginCall,
  stdin: string | object,
  how: { argv0?: string; args?: string[] } = {},
): Promise<PluginOutcome> {
  const env: Record<string, string> = {
    CNI_COMMAND: call.command,
    PATH: '/usr/sbin:/usr/bin:/sbin:/bin',
    ...(call.env ?? {}),
  };
  if (call.containerId !== undefined) env.CNI_CONTAINERID = call.containerId;
  if (call.netns !== undefined) env.CNI_NETNS = call.netns;
  if (call.ifname !== undefined) env.CNI_IFNAME = call.ifname;
  if (call.args !== undefined) env.CNI_ARGS = call.args;
  if (call.path !== undefined) env.CNI_PATH = call.path.map(viaMode).join(':');
  const input = typeof stdin === 'string' ? stdin : JSON.stringify(stdin);
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(viaMode(file), how.args ?? [], {
      env,
      stdio: ['pipe', 'pipe', 'pipe'],
      ...(how.argv0 ? { argv0: how.argv0 } : {}),
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const timer = setTimeout(() => child.kill('SIGKILL'), call.timeoutMs ?? 30_000);
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (status) => {
      clearTimeout(timer);
      const ms = performance.now() - started;
      const stdout = Buffer.concat(out).toString('utf8');
      let json: Record<string, unknown> | undefined;
      try {
        json = stdout.trim() ? (JSON.parse(stdout) as Record<string, unknown>) : undefined;
      } catch {
        json = undefined;
      }
      resolve({ status, stdout, stderr: Buffer.concat(err).toString('utf8'), json, ms });
    });
    child.stdin.on('error', () => undefined); // a plugin may exit without reading stdin
    child.stdin.end(input);
  });
}
