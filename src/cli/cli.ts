/**
 * manifold's command line, for people and installers (kubelet and libcni never pass
 * arguments, so a CNI call never gets here): a table of commands, each loaded only when it
 * runs (or its --help is asked for). A wrong command or flag is one line and the usage on
 * stderr (exit 2); a failure is one line (exit 1); never a stack trace, whatever the input.
 * Each command lives in its folder, `<command>/<command>.ts` as a plugin does (uninstall in
 * install/, add/check/del/gc/status in cnitool/); what several share is in shared/, with the
 * Command contract (shared/command.ts), so no command imports this table or another command.
 */
import { describeError } from '../cni/errors.ts';
import type { CliIO, Command } from './common/command.ts';
import { UsageError } from './common/flags.ts';

export interface CommandEntry {
  readonly summary: string;
  /** Arguments and flags, for the usage text. */
  readonly usage: string;
  readonly load: () => Promise<Command>;
}

export const COMMANDS: Readonly<Record<string, CommandEntry>> = {
  validate: {
    summary: 'check configs, conflists and NetworkAttachmentDefinitions; warn about risky ones',
    usage: 'FILE... [--conf-dir DIR] [--json]',
    load: async () => (await import(/* webpackMode: "eager" */ './validate/validate.ts')).validateCommand,
  },
  explain: {
    summary: 'dry run: what ADD would attach, name, run and address (creates and reserves nothing)',
    usage:
      'FILE [--ifname NAME] [--netns PATH] [--container-id ID] [--conf-dir DIR] [--networks VALUE --nad FILE... [--namespace NS]] [--json]',
    load: async () => (await import(/* webpackMode: "eager" */ './explain/explain.ts')).explainCommand,
  },
  inspect: {
    summary: 'what this node holds: attachments, leaked addresses, caches of pods that are gone',
    usage: '[--cni-dir DIR] [--conf-dir DIR]... [--cache-dir DIR] [--json]',
    load: async () => (await import(/* webpackMode: "eager" */ './inspect/inspect.ts')).inspectCommand,
  },
  attach: {
    summary: 'hot-plug: add a network to a running pod (its networks annotation; the daemon acts on it)',
    usage: 'POD NETWORK [--interface NAME] [--namespace NS] [--kubeconfig FILE] [--wait-seconds N]',
    load: async () => (await import(/* webpackMode: "eager" */ './attach/attach.ts')).attachCommand,
  },
  detach: {
    summary: 'hot-plug: remove a network from a running pod by its interface name',
    usage: 'POD INTERFACE [--namespace NS] [--kubeconfig FILE] [--wait-seconds N]',
    load: async () => (await import(/* webpackMode: "eager" */ './detach/detach.ts')).detachCommand,
  },
  add: {
    summary: 'attach NETNS to NETWORK by hand, as cnitool does (NETCONFPATH, CNI_PATH, CNI_ARGS…)',
    usage: 'NETWORK NETNS [--ifname NAME] [--cache-dir DIR] [--log-format json|text] [--log-level LEVEL]',
    load: async () => (await import(/* webpackMode: "eager" */ './cnitool/cnitool.ts')).addCommand,
  },
  check: {
    summary: 'CHECK an attachment made by add (or by the runtime), as cnitool does',
    usage: 'NETWORK NETNS [--ifname NAME] [--cache-dir DIR] [--log-format json|text] [--log-level LEVEL]',
    load: async () => (await import(/* webpackMode: "eager" */ './cnitool/cnitool.ts')).checkCommand,
  },
  del: {
    summary: 'detach NETNS from NETWORK, as cnitool does',
    usage: 'NETWORK NETNS [--ifname NAME] [--cache-dir DIR] [--log-format json|text] [--log-level LEVEL]',
    load: async () => (await import(/* webpackMode: "eager" */ './cnitool/cnitool.ts')).delCommand,
  },
  gc: {
    summary: "GC NETWORK as cnitool does: every cached attachment of it is deleted, then the plugins' GC",
    usage: 'NETWORK [NETNS] [--cache-dir DIR] [--log-format json|text] [--log-level LEVEL]',
    load: async () => (await import(/* webpackMode: "eager" */ './cnitool/cnitool.ts')).gcCommand,
  },
  status: {
    summary: "ask NETWORK's plugins whether they can serve ADD (STATUS), as cnitool does",
    usage: 'NETWORK [NETNS] [--log-format json|text] [--log-level LEVEL]',
    load: async () => (await import(/* webpackMode: "eager" */ './cnitool/cnitool.ts')).statusCommand,
  },
  daemon: {
    summary: 'the node daemon of daemon mode: serves CNI calls from the shim on a root-only unix socket',
    usage:
      '[--socket PATH] [--kubeconfig FILE] [--node-name NAME] [--metrics-port N] [--max-concurrent N] [--queue-budget-ms N] [--replace]',
    load: async () => (await import(/* webpackMode: "eager" */ './daemon/daemon.ts')).daemonCommand,
  },
  install: {
    summary:
      "copy manifold into the CNI bin dir and make it the node's network config, wrapping the primary one",
    usage: '--bin-dir DIR --conf-dir DIR [--kubeconfig FILE] [--watch]',
    load: async () => (await import(/* webpackMode: "eager" */ './install/install.ts')).installCommand,
  },
  uninstall: {
    summary: "remove manifold's network config, so the node uses its primary network config again",
    usage: '--conf-dir DIR [--if-daemonset-deleted] [--kubeconfig FILE]',
    load: async () => (await import(/* webpackMode: "eager" */ './install/install.ts')).uninstallCommand,
  },
};

function usage(version: string): string {
  const lines = [
    `manifold ${version}: a Multus-style meta CNI plugin (run by the container runtime with CNI_COMMAND set).`,
    '',
    'usage: manifold <command> [arguments] [flags]',
    '',
    'commands:',
  ];
  for (const [name, c] of Object.entries(COMMANDS)) {
    lines.push(`  ${name.padEnd(10)} ${c.summary}`, `  ${''.padEnd(10)} ${name} ${c.usage}`);
  }
  lines.push(
    '  --help     this text; `manifold <command> --help` tells more, with examples',
    '  --version  the version',
    '',
  );
  return lines.join('\n');
}

const isHelp = (a: string) => a === '--help' || a === '-h';

export async function runCli(args: readonly string[], io: CliIO, version: string): Promise<number> {
  const [name, ...rest] = args;
  if (name === undefined || isHelp(name) || name === 'help') {
    const about = name === 'help' && rest[0] !== undefined ? rest[0] : undefined;
    if (about === undefined) {
      io.stdout(usage(version));
      return 0;
    }
    return runCli([about, '--help'], io, version);
  }
  if (name === '--version') {
    io.stdout(`manifold ${version}\n`);
    return 0;
  }
  const entry = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (!entry) {
    const shown = JSON.stringify(name.length > 60 ? `${name.slice(0, 57)}...` : name);
    const what = name.startsWith('-') ? `unknown flag ${shown}` : `unknown command ${shown}`;
    io.stderr(`manifold: ${what}\n\n${usage(version)}`);
    return 2;
  }
  try {
    const command = await entry.load();
    if (rest.some(isHelp)) {
      io.stdout(`usage: manifold ${name} ${entry.usage}\n\n${command.help}`);
      return 0;
    }
    return await command.run(rest, io);
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr(
        `manifold ${name}: ${err.message}\nusage: manifold ${name} ${entry.usage}\n(manifold ${name} --help for more)\n`,
      );
      return 2;
    }
    io.stderr(`manifold ${name}: ${describeError(err).split('\n')[0]}\n`);
    return 1;
  }
}
