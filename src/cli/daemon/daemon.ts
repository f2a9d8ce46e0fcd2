/**
 * `manifold daemon`: the node daemon of daemon mode (docs/daemon.md). It serves CNI calls
 * forwarded by the shim on a root-only unix socket and runs them with the same skel and
 * plugins as one-shot; it runs until SIGTERM (or SIGINT), then drains: unready, DEL still
 * served, the calls it took answered, and exits 0 (1 when the drain ran out of time).
 */

import { renameSync, type Stats, statSync, writeFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { CniError, q } from '../../cni/errors.ts';
import type { HostServices } from '../../cni/host.ts';
import { Collector } from '../../daemon/gc.ts';
import { HotplugController } from '../../daemon/hotplug.ts';
import { daemonCredentials, isMirrorPod, KubeWatches, uidOf } from '../../daemon/kube.ts';
import { callRunner } from '../../daemon/runner.ts';
import { Daemon } from '../../daemon/server.ts';
import { checkSocketPath } from '../../daemon/socket.ts';
import type { HostRoot } from '../../invoke/exec.ts';
import { DEFAULT_CNI_DIR } from '../../meta/config.ts';
import { configureLog, FORMATS, LEVELS, log } from '../../util/log.ts';
import { MANIFOLD_VERSION } from '../../util/version.ts';
import type { CliIO, Command } from '../common/command.ts';
import { DEFAULT_SOCKET, embeddedShim, HOSTEXEC_NAME } from '../common/daemon-files.ts';
import { type FlagSpec, parseFlags, stringFlag, UsageError } from '../common/flags.ts';
import { gcCandidates } from './gc-candidates.ts';
import { knownPods, reconcilePod } from './hotplug-ops.ts';

const FLAGS: Record<string, FlagSpec> = {
  socket: { kind: 'string' },
  kubeconfig: { kind: 'string' },
  'node-name': { kind: 'string' },
  'metrics-port': { kind: 'string' },
  'max-concurrent': { kind: 'string' },
  'queue-budget-ms': { kind: 'string' },
  replace: { kind: 'boolean' },
  'host-root': { kind: 'string' },
  'log-level': { kind: 'string', oneOf: [...LEVELS] },
  'log-format': { kind: 'string', oneOf: [...FORMATS] },
  'gc-grace-seconds': { kind: 'string' },
  'gc-interval-seconds': { kind: 'string' },
  'cni-dir': { kind: 'string' },
  'no-hotplug': { kind: 'boolean' },
};

/** Defaults of garbage collection: how old a cache and a pod's absence must be, and how often it looks. */
const GC_GRACE_S = 120;
const GC_INTERVAL_S = 30;

/** How long a drain may take before the daemon exits anyway. */
const DRAIN_MS = 30_000;

function intFlag(
  flags: ReturnType<typeof parseFlags>,
  name: string,
  min: number,
  max: number,
): number | undefined {
  const v = stringFlag(flags, name);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!/^\d+$/.test(v) || n < min || n > max)
    throw new UsageError(`--${name}: ${q(v)} is not a whole number from ${min} to ${max}`);
  return n;
}

async function run(args: readonly string[], io: CliIO): Promise<number> {
  const flags = parseFlags(args, FLAGS);
  const socket = stringFlag(flags, 'socket') ?? DEFAULT_SOCKET;
  const metricsPort = intFlag(flags, 'metrics-port', 0, 65535);
  const maxConcurrent = intFlag(flags, 'max-concurrent', 1, 4096) ?? 16;
  const queueBudgetMs = intFlag(flags, 'queue-budget-ms', 1, 600_000) ?? 30_000;
  const gcGraceS = intFlag(flags, 'gc-grace-seconds', 1, 86_400) ?? GC_GRACE_S;
  const gcIntervalS = intFlag(flags, 'gc-interval-seconds', 1, 86_400) ?? GC_INTERVAL_S;
  const cniDir = stringFlag(flags, 'cni-dir') ?? DEFAULT_CNI_DIR;
  const nodeName = stringFlag(flags, 'node-name') || io.env.NODE_NAME || '';
  const kubeconfig = stringFlag(flags, 'kubeconfig');
  // the daemon's own lines: one per event on stderr (the container's log), JSON unless
  // --log-format text; a call logs where its config says, as in one-shot
  configureLog(
    {
      logToStderr: true,
      logLevel: stringFlag(flags, 'log-level'),
      logFormat: stringFlag(flags, 'log-format'),
    },
    io.stderr,
    'manifold-daemon',
  );
  const say = (line: string) => log.info(line);
  let credentials: ReturnType<typeof daemonCredentials>;
  try {
    credentials = daemonCredentials(kubeconfig, io.env);
  } catch (err) {
    throw new UsageError(`--kubeconfig: ${err instanceof CniError ? err.message : String(err)}`);
  }
  // the watches start once the socket is served (the log's first line stays "serving")
  const kube = credentials && nodeName ? new KubeWatches({ credentials, nodeName, log: say }) : undefined;
  const host: HostServices | undefined = kube ? { kube } : undefined;
  const b = io.builtins;
  const rootDir = hostRootDir(stringFlag(flags, 'host-root'));
  // the socket's directory first: private (0700), where the launcher is written
  await checkSocketPath(socket, flags.replace === true);
  const root = rootDir === undefined ? undefined : await writeLauncher(rootDir, socket);
  const runCall = callRunner(
    {
      typeFor: b.typeFor,
      load: (t) => b.get(t)?.load,
      invoker: () => b.invoker(root),
      version: MANIFOLD_VERSION,
    },
    {
      path: io.env.PATH,
      stderr: io.stderr,
      observe: (type, verb, ok, seconds) => daemon.metrics.delegate(type, verb, ok, seconds),
      ...(host ? { host } : {}),
    },
  );
  let collector: Collector | undefined;
  let hotplug: HotplugController | undefined;
  const daemon: Daemon = new Daemon({
    socket,
    run: runCall,
    maxConcurrent,
    queueBudgetMs,
    replace: flags.replace === true,
    log: say,
    extraMetrics: () => [
      ...(kube?.metricLines() ?? []),
      ...(collector?.metricLines() ?? []),
      ...(hotplug?.metricLines() ?? []),
    ],
  });
  await daemon.start();
  const port = metricsPort === undefined ? undefined : await daemon.serveMetrics(metricsPort);
  say(
    `serving ${socket} (max ${maxConcurrent} at once, queue budget ${queueBudgetMs} ms` +
      `${port === undefined ? '' : `, metrics on 127.0.0.1:${port}`}` +
      `${kube ? `, watching the pods of node ${nodeName} and the NADs with ${kube.server}, garbage collection of ${cniDir} after ${gcGraceS} s` : ''}` +
      `${root ? `, executed plugins run inside ${root.dir}` : ''})`,
  );
  if (kube) {
    kube.start();
    collector = new Collector({
      candidates: () => gcCandidates([cniDir]),
      pods: kube.pods,
      samePod: (o, uid) => !uid || uidOf(o) === uid || isMirrorPod(o),
      confirmGone: (ns, name, uid) => kube.confirmGone(ns, name, uid),
      run: (req) => daemon.runOwn(req),
      graceMs: gcGraceS * 1000,
      intervalMs: gcIntervalS * 1000,
      log: say,
    });
    collector.start();
    if (flags['no-hotplug'] !== true) {
      const deps = {
        cniDir,
        kube,
        invoker: () => b.invoker(root),
        env: io.env.PATH === undefined ? {} : { PATH: io.env.PATH },
        inTurn: <T>(cid: string, fn: () => Promise<T>) => daemon.runTask(cid, fn),
        log: say,
      };
      hotplug = new HotplugController({
        pods: kube.pods,
        reconcile: (ns, name) => reconcilePod(deps, ns, name),
        known: () => knownPods(cniDir),
        log: say,
      });
      hotplug.start();
    }
  }
  if (!kube) {
    const missing = [
      credentials ? '' : 'no credentials (--kubeconfig, or the in-cluster service account)',
      nodeName ? '' : 'no node name (--node-name or NODE_NAME)',
    ].filter(Boolean);
    say(
      `no Kubernetes watches: ${missing.join(', ')}; each call reads the API server itself, as one-shot, and nothing is garbage-collected`,
    );
  }
  const signal = await new Promise<string>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
  say(`${signal}: draining (DEL, STATUS and VERSION still served, at most ${DRAIN_MS / 1000} s)`);
  await collector?.stop();
  await hotplug?.stop();
  const clean = await daemon.drain(DRAIN_MS);
  await kube?.stop();
  say(
    clean
      ? 'drained: every call taken was answered'
      : 'drain ran out of time: exiting with calls still running',
  );
  return clean ? 0 : 1;
}

/** `--host-root`, checked now so a wrong root fails the start rather than every pod. */
function hostRootDir(dir: string | undefined): string | undefined {
  if (dir === undefined) return undefined;
  if (!isAbsolute(dir)) throw new UsageError(`--host-root: ${q(dir)} is not an absolute path`);
  let st: Stats;
  try {
    st = statSync(dir);
  } catch (err) {
    throw new UsageError(`--host-root: ${q(dir)}: ${(err as Error).message}`);
  }
  if (!st.isDirectory()) throw new UsageError(`--host-root: ${q(dir)} is not a directory`);
  return resolve(dir);
}

/**
 * The launcher into the node's root: the shim this executable carries, written into the
 * socket's private directory as `manifold-hostexec` (the name gives it that role).
 */
async function writeLauncher(dir: string, socket: string): Promise<HostRoot> {
  const launcher = join(dirname(resolve(socket)), HOSTEXEC_NAME);
  const tmp = `${launcher}.${process.pid}.tmp`;
  writeFileSync(tmp, await embeddedShim(), { mode: 0o700 });
  renameSync(tmp, launcher);
  return { dir, launcher };
}

export const daemonCommand: Command = {
  help: `Serves CNI calls for the native shim of daemon mode on a root-only unix socket: the
same skel and plugins as one-shot, in one long-lived process per node (docs/daemon.md).

flags:
  --socket PATH          the unix socket (default ${DEFAULT_SOCKET}); its directory is made 0700,
                         the socket 0600. A stale socket is replaced; a live one only with --replace
  --replace              take over the socket from a daemon still serving it (a rolling upgrade)
  --kubeconfig FILE      the API server's credentials for the watches and every call's
                         requests (default: the in-cluster service account)
  --node-name NAME       this node: its pods are watched (default: $NODE_NAME). Without
                         credentials or a node name the daemon runs without watches
  --cni-dir DIR          the meta-plugin's cache dir garbage collection reads
                         (default ${DEFAULT_CNI_DIR}, the config's cniDir default)
  --gc-grace-seconds N   collect a gone pod's attachment only once its cache and the pod's
                         absence are this old (default ${GC_GRACE_S})
  --gc-interval-seconds N  between garbage-collection passes (default ${GC_INTERVAL_S})
  --no-hotplug           do not act on changes of a running pod's k8s.v1.cni.cncf.io/networks
                         annotation (default: attach and detach them, docs/hotplug.md)
  --host-root DIR        the node's root as mounted in the daemon's container (e.g. /hostroot):
                         executed plugins (CNI_PATH, a wrapped primary) are found and run inside
                         it, chrooted, so they see the node's files as one-shot does. Default:
                         run them in the daemon's own filesystem (a daemon on the node itself)
  --log-level LEVEL      the daemon's own lines on stderr: ${LEVELS.join(', ')} (default info)
  --log-format FORMAT    json (default: one object per line) or text
  --metrics-port N       also serve GET /metrics on 127.0.0.1:N (default: only on the socket)
  --max-concurrent N     calls running at once (default 16); the rest wait in one FIFO
  --queue-budget-ms N    a call that waited this long gets code 11 at once (default 30000;
                         STATUS: 90)

On SIGTERM it drains: /readyz answers 503, new ADD, CHECK and GC get code 11, DEL, STATUS and
VERSION are still served; once every call it took is answered it exits 0 (after 30 s, 1).

examples:
  $ manifold daemon --socket /run/manifold/manifold.sock --metrics-port 9091
  $ curl --unix-socket /run/manifold/manifold.sock http://manifold/readyz
  $ curl --unix-socket /run/manifold/manifold.sock http://manifold/metrics
`,
  run,
};
