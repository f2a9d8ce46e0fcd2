/**
 * One CNI call in the daemon: the very skel and plugin one-shot runs (picked from the
 * invocation name as src/main.ts picks them), with the call's environment and stdin as
 * arguments and stdout kept in memory, so the answer is byte for byte what one-shot prints.
 * Each call is its own call scope (src/util/call.ts): its sockets, removals and log state
 * are its own, released when it ends; nothing here exits the process.
 */
import { Code, describeError, q } from '../cni/errors.ts';
import type { HostServices } from '../cni/host.ts';
import type { InvokeRequest, Invoker, PluginLoader } from '../cni/plugin.ts';
import { runSkel } from '../skel/skel.ts';
import type { CniRequest, CniResponse } from './protocol.ts';
import { cniVersionOf, errorResponse } from './protocol.ts';

/** What the composition root hands the daemon: how one-shot picks and runs a plugin. */
export interface Plugins {
  /** The type an invocation name runs as (a built-in's own name, else the meta-plugin). */
  typeFor(name: string): string;
  load(type: string): PluginLoader | undefined;
  /** The invoker a call gets (one per call, as one-shot makes one per process). */
  invoker(): Invoker;
  readonly version: string;
}

export type RunCall = (req: CniRequest) => Promise<CniResponse>;

/** Told of each delegate a call ran: its type, verb, outcome and duration. */
export type DelegateObserver = (type: string, verb: string, ok: boolean, seconds: number) => void;

/**
 * The invoker with each `invoke` timed: the plugins a call runs itself (the meta-plugin's
 * delegates, a link plugin's executed IPAM); in-process nested calls below them get their own
 * invoker and are part of their parent's time.
 */
function timed(inner: Invoker, observe: DelegateObserver): Invoker {
  return {
    async invoke(req: InvokeRequest): Promise<unknown> {
      const t0 = performance.now();
      try {
        const out = await inner.invoke(req);
        observe(req.type, req.command, true, (performance.now() - t0) / 1000);
        return out;
      } catch (err) {
        observe(req.type, req.command, false, (performance.now() - t0) / 1000);
        throw err;
      }
    },
    ipam: (type) => inner.ipam(type),
    inProcess: (type) => inner.inProcess(type),
  };
}

export interface RunnerOptions {
  /** The daemon's own PATH, the one variable a call gets beyond what the shim forwarded. */
  readonly path: string | undefined;
  /** Takes a call's log lines when its config logs to stderr. */
  readonly stderr: (s: string) => void;
  /** Told of each delegate a call runs (the per-type metrics). */
  readonly observe?: DelegateObserver;
  /** What the daemon lends every call (its Kubernetes watches). */
  readonly host?: HostServices;
}

/** The daemon's call runner. */
export function callRunner(plugins: Plugins, opts: RunnerOptions): RunCall {
  const { path, stderr, observe, host } = opts;
  return async (req) => {
    const type = plugins.typeFor(req.name);
    const load = plugins.load(type);
    if (!load) return errorResponse(Code.Internal, `no plugin for ${q(req.name)}`);
    const env: Record<string, string> = { ...req.env };
    if (path !== undefined) env.PATH = path;
    let stdout = '';
    const io = {
      env,
      readStdin: async () => req.stdin,
      stdout: (s: string) => {
        stdout += s;
      },
      stderr,
    };
    try {
      const status = await runSkel(
        {
          name: type,
          version: plugins.version,
          load,
          invoker: observe ? timed(plugins.invoker(), observe) : plugins.invoker(),
          ...(host ? { host } : {}),
        },
        io,
      );
      return { status, stdout };
    } catch (err) {
      // the skel answers every failure itself; this is the daemon's last line of defence
      return errorResponse(Code.Internal, describeError(err), cniVersionOf(req.stdin));
    }
  };
}
