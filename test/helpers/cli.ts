/**
 * The command line driven without a process: runCli with the registry's built-ins, an
 * environment and working directory of the test's choosing, stdout and stderr captured.
 */
import { basename, resolve } from 'node:path';
import { runCli } from '../../src/cli/cli.ts';
import type { CliIO } from '../../src/cli/common/command.ts';
import { builtin, invoker, META_TYPE } from '../../src/registry.ts';

/** src/main.ts's pluginTypeFor (main.ts runs itself when imported). */
const typeFor = (name: string) => (builtin(basename(name)) ? basename(name) : META_TYPE);

export const REPO = resolve(import.meta.dirname, '../..');

export interface CliRun {
  readonly code: number;
  readonly out: string;
  readonly err: string;
}

export function cliIO(over: Partial<CliIO> = {}): CliIO & { out: () => string; err: () => string } {
  let out = '';
  let err = '';
  return {
    env: {},
    execPath: '/nonexistent/manifold',
    cwd: REPO,
    builtins: { get: builtin, typeFor, invoker },
    stdout: (s) => {
      out += s;
    },
    stderr: (s) => {
      err += s;
    },
    ...over,
    out: () => out,
    err: () => err,
  };
}

export async function cli(
  args: readonly string[],
  over: Partial<CliIO> = {},
  version = '9.9.9',
): Promise<CliRun> {
  const io = cliIO(over);
  const code = await runCli(args, io, version);
  return { code, out: io.out(), err: io.err() };
}
