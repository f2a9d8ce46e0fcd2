/**
 * The `install` and `uninstall` rows of the command table: flags to options, the report on
 * stdout. `install --watch` stays in the foreground (the DaemonSet's container) and keeps what
 * it installed fresh — the service-account token copy behind the kubeconfig, the wrapper when
 * the primary config changed — until SIGTERM; it never re-creates a config `uninstall` removed.
 */
import { SERVICE_ACCOUNT_DIR } from '../k8s/incluster.ts';
import type { Command } from './cli.ts';
import { parseFlags } from './flags.ts';
import { install, uninstall } from './install.ts';

const WATCH_INTERVAL_MS = 10_000;

export const installCommand: Command = {
  summary:
    "copy manifold into the CNI bin dir and make it the node's network config, wrapping the primary one",
  usage: '--bin-dir DIR --conf-dir DIR [--kubeconfig FILE] [--watch]',
  async run(args, io) {
    const f = parseFlags(args, {
      'bin-dir': { kind: 'string', required: true },
      'conf-dir': { kind: 'string', required: true },
      kubeconfig: { kind: 'string' },
      watch: { kind: 'boolean' },
    });
    const opts = {
      binDir: String(f['bin-dir']),
      confDir: String(f['conf-dir']),
      kubeconfig: typeof f.kubeconfig === 'string' ? f.kubeconfig : undefined,
      source: io.execPath,
      env: io.env,
      serviceAccountDir: SERVICE_ACCOUNT_DIR,
    };
    for (const line of install(opts)) io.stdout(`${line}\n`);
    if (!f.watch) return 0;
    io.stdout(`watching (every ${WATCH_INTERVAL_MS / 1000} s) until SIGTERM\n`);
    await new Promise<void>((resolve) => {
      const timer = setInterval(() => {
        try {
          for (const line of install({ ...opts, refreshOnly: true }))
            if (line.endsWith('(written)')) io.stdout(`${line}\n`);
        } catch (err) {
          io.stderr(`manifold install: ${err instanceof Error ? err.message : String(err)}\n`);
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
  summary: "remove manifold's network config, so the node uses its primary network config again",
  usage: '--conf-dir DIR',
  async run(args, io) {
    const f = parseFlags(args, { 'conf-dir': { kind: 'string', required: true } });
    for (const line of uninstall(String(f['conf-dir']))) io.stdout(`${line}\n`);
    return 0;
  },
};
