/**
 * manifold's command line, for people and installers (kubelet and libcni never pass
 * arguments, so a CNI call never gets here): a small command table — `install`,
 * `uninstall`, `--help`, `--version` — each command loaded only when run. A wrong command or
 * flag is one line and the usage on stderr (exit 2); a failure is one line (exit 1); never a
 * stack trace. Later commands (validate, explain, inspect, add/del) are rows of this table.
 */
import { describeError } from '../cni/errors.ts';
import { UsageError } from './flags.ts';

export interface CliIO {
  readonly env: Readonly<Record<string, string | undefined>>;
  /** This executable (what `install` copies). */
  readonly execPath: string;
  stdout(s: string): void;
  stderr(s: string): void;
}

export interface Command {
  readonly summary: string;
  /** Flags, for the usage text. */
  readonly usage: string;
  run(args: readonly string[], io: CliIO): Promise<number>;
}

const COMMANDS: Readonly<Record<string, () => Promise<Command>>> = {
  install: async () => (await import(/* webpackMode: "eager" */ './install-command.ts')).installCommand,
  uninstall: async () => (await import(/* webpackMode: "eager" */ './install-command.ts')).uninstallCommand,
};

async function usage(version: string): Promise<string> {
  const lines = [
    `manifold ${version}: a Multus-style meta CNI plugin (run by the container runtime with CNI_COMMAND set).`,
    '',
    'usage: manifold <command> [flags]',
    '',
    'commands:',
  ];
  for (const [name, load] of Object.entries(COMMANDS)) {
    const c = await load();
    lines.push(`  ${name.padEnd(10)} ${c.summary}`, `  ${''.padEnd(10)} ${c.usage}`);
  }
  lines.push('  --help     this text', '  --version  the version', '');
  return lines.join('\n');
}

export async function runCli(args: readonly string[], io: CliIO, version: string): Promise<number> {
  const [name, ...rest] = args;
  if (name === '--help' || name === '-h' || name === 'help') {
    io.stdout(await usage(version));
    return 0;
  }
  if (name === '--version') {
    io.stdout(`manifold ${version}\n`);
    return 0;
  }
  const load = name !== undefined && Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (!load) {
    const what = name?.startsWith('-')
      ? `unknown flag ${JSON.stringify(name)}`
      : `unknown command ${JSON.stringify(name)}`;
    io.stderr(`manifold: ${what}\n\n${await usage(version)}`);
    return 2;
  }
  const command = await load();
  try {
    return await command.run(rest, io);
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr(`manifold ${name}: ${err.message}\nusage: manifold ${name} ${command.usage}\n`);
      return 2;
    }
    io.stderr(`manifold ${name}: ${describeError(err).split('\n')[0]}\n`);
    return 1;
  }
}
