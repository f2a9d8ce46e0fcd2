/**
 * What a command is and what it gets: the contract between the command table (../cli.ts) and
 * every command folder. The commands import this file, never the table, so the table loads
 * them and nothing loads the table back.
 */
import type { CliBuiltins } from './builtins.ts';

export interface CliIO {
  readonly env: Readonly<Record<string, string | undefined>>;
  /** This executable (what `install` copies, what a plugin found in CNI_PATH may be). */
  readonly execPath: string;
  /** The directory relative paths are taken from. */
  readonly cwd: string;
  /** The built-in plugins (from the registry). */
  readonly builtins: CliBuiltins;
  stdout(s: string): void;
  stderr(s: string): void;
}

export interface Command {
  /** The full `manifold <command> --help` text: what it does, its flags, examples that run. */
  readonly help: string;
  run(args: readonly string[], io: CliIO): Promise<number>;
}
