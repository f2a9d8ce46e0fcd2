/**
 * The examples in `manifold <command> --help`: every line `  $ ...` is a command a person can
 * paste; tests run them. Parsed as a shell would these simple lines: leading VAR=value words
 * are the environment, then the program and its arguments (no quoting is used in them).
 */
import { COMMANDS } from '../../src/cli/cli.ts';

export interface Example {
  readonly command: string;
  readonly line: string;
  readonly env: Record<string, string>;
  /** `manifold` (its arguments follow) or another program (`ip`). */
  readonly program: string;
  readonly args: string[];
}

export async function examplesOf(command: string): Promise<Example[]> {
  const entry = COMMANDS[command];
  if (!entry) throw new Error(`no command ${command}`);
  const help = (await entry.load()).help;
  const out: Example[] = [];
  for (const m of help.matchAll(/^ {2}\$ (.+)$/gm)) {
    const line = m[1] as string;
    const words = line.trim().split(/\s+/);
    const env: Record<string, string> = {};
    while (words[0] && /^[A-Z_][A-Z0-9_]*=/.test(words[0])) {
      const w = words.shift() as string;
      env[w.slice(0, w.indexOf('='))] = w.slice(w.indexOf('=') + 1);
    }
    const [program = '', ...args] = words;
    out.push({ command, line, env, program, args });
  }
  return out;
}

export const COMMAND_NAMES = Object.keys(COMMANDS);
