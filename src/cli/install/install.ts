/**
 * The `install` and `uninstall` rows of the command table: flags to options, the report on
 * stdout. `install --watch` stays in the foreground (the DaemonSet's container) and keeps what
 * it installed fresh — the service-account token copy behind the kubeconfig, the wrapper when
 * the primary config changed — until SIGTERM; it never re-creates a config `uninstall` removed.
 */
import { SERVICE_ACCOUNT_DIR } from '../../k8s/incluster.ts';
import type { Command } from '../common/command.ts';
import { DEFAULT_SOCKET, embeddedShim } from '../common/daemon-files.ts';
import { parseFlags, UsageError } from '../common/flags.ts';
import { install, uninstall } from './setup.ts';

const WATCH_INTERVAL_MS = 10_000;

export const installCommand: Command = {
  help: `Copies this executable to DIR/manifold (by rename: a running copy keeps its inode) and writes
--conf-dir's 00-manifold.conflist wrapping the node's primary network config (the first
*.conf, *.conflist or *.json that is not manifold's; for a Multus config, its master) as the
master, run by its own plugin binaries. When another file sorts before 00-manifold.conflist,
a lower name is taken (0-manifold.conflist, …) so the runtime reads manifold's first. With --kubeconfig FILE
inside a pod, FILE is written from the pod's service account. Idempotent: "(unchanged)".
--watch stays in the foreground, refreshing the token copy and the wrapper, until SIGTERM.
--mode daemon installs the shim as DIR/manifold instead (a small static program that forwards
each call to \`manifold daemon\` on --socket) and this executable as DIR/manifold-oneshot, which
the shim runs itself when the daemon is not there. --mode oneshot (the default) puts this
executable back as DIR/manifold and removes DIR/manifold-oneshot.

flags:
  --bin-dir DIR      where the executable goes (the node's CNI_PATH, e.g. /opt/cni/bin)
  --conf-dir DIR     the runtime's config dir (e.g. /etc/cni/net.d)
  --kubeconfig FILE  the kubeconfig the config names
  --watch            keep it fresh until SIGTERM (the DaemonSet's container)
  --mode MODE        oneshot (default: a process per CNI call) or daemon (the shim)
  --socket PATH      daemon mode: the daemon's socket (default ${DEFAULT_SOCKET})

example (on a node, as root):
  $ manifold install --bin-dir /opt/cni/bin --conf-dir /etc/cni/net.d
`,
  async run(args, io) {
    const f = parseFlags(args, {
      'bin-dir': { kind: 'string', required: true },
      'conf-dir': { kind: 'string', required: true },
      kubeconfig: { kind: 'string' },
      watch: { kind: 'boolean' },
      mode: { kind: 'string', oneOf: ['oneshot', 'daemon'] },
      socket: { kind: 'string' },
    });
    const daemon = f.mode === 'daemon';
    if (typeof f.socket === 'string' && !daemon) throw new UsageError('--socket needs --mode daemon');
    const opts = {
      binDir: String(f['bin-dir']),
      confDir: String(f['conf-dir']),
      kubeconfig: typeof f.kubeconfig === 'string' ? f.kubeconfig : undefined,
      source: io.execPath,
      env: io.env,
      serviceAccountDir: SERVICE_ACCOUNT_DIR,
      daemon: daemon
        ? { socket: typeof f.socket === 'string' ? f.socket : DEFAULT_SOCKET, shim: embeddedShim }
        : undefined,
    };
    for (const line of await install(opts)) io.stdout(`${line}\n`);
    if (!f.watch) return 0;
    io.stdout(`watching (every ${WATCH_INTERVAL_MS / 1000} s) until SIGTERM\n`);
    await new Promise<void>((resolve) => {
      let busy = false;
      const timer = setInterval(async () => {
        if (busy) return; // one refresh at a time
        busy = true;
        try {
          for (const line of await install({ ...opts, refreshOnly: true }))
            if (line.endsWith('(written)')) io.stdout(`${line}\n`);
        } catch (err) {
          io.stderr(`manifold install: ${err instanceof Error ? err.message : String(err)}\n`);
        } finally {
          busy = false;
        }
      }, WATCH_INTERVAL_MS);
      const stop = () => {
        clearInterval(timer);
        resolve();
      };
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
    });
    return 0;
  },
};

export const uninstallCommand: Command = {
  help: `Removes --conf-dir's manifold config (00-manifold.conflist, or the lower name install chose; only
if it is manifold's), so the runtime goes back to the node's primary network config. The
executable and the kubeconfig stay.

flags:
  --conf-dir DIR            the runtime's config dir (e.g. /etc/cni/net.d)
  --if-daemonset-deleted    only when the DaemonSet MANIFOLD_DAEMONSET_NAMESPACE/MANIFOLD_DAEMONSET_NAME
                            is gone or being deleted (a restart or rolling update keeps the config)
  --kubeconfig FILE         the API server to ask (default: the in-cluster config)

example (on a node, as root):
  $ manifold uninstall --conf-dir /etc/cni/net.d
`,
  async run(args, io) {
    const f = parseFlags(args, {
      'conf-dir': { kind: 'string', required: true },
      'if-daemonset-deleted': { kind: 'boolean' },
      kubeconfig: { kind: 'string' },
    });
    if (f['if-daemonset-deleted']) {
      const { shouldUninstall } = await import(/* webpackMode: "eager" */ './uninstall-decision.ts');
      const d = await shouldUninstall(io.env, typeof f.kubeconfig === 'string' ? f.kubeconfig : undefined);
      io.stdout(`${d.why}\n`);
      if (!d.uninstall) return 0;
    }
    for (const line of await uninstall(String(f['conf-dir']))) io.stdout(`${line}\n`);
    return 0;
  },
};
