/**
 * Argument parsing for manifold's commands: `--name value` and `--name=value` for strings,
 * `--name` for booleans, a repeatable `list` flag, and positional arguments (named in the
 * usage). Anything else — an unknown flag, a missing value, a stray or missing argument — is
 * a UsageError whose message is the one line the user sees.
 */

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export interface FlagSpec {
  readonly kind: 'string' | 'boolean' | 'list';
  readonly required?: boolean;
  /** The allowed values of a string flag. */
  readonly oneOf?: readonly string[];
}

export type Flags = Record<string, string | boolean | string[] | undefined>;

export interface Parsed {
  readonly flags: Flags;
  readonly positional: string[];
}

export interface Positionals {
  /** Names, for errors: `NETWORK`, `NETNS`. The last one ending in `...` takes the rest. */
  readonly names: readonly string[];
  /** How many are required (default: all). */
  readonly min?: number;
}

const show = (s: string) => JSON.stringify(s.length > 60 ? `${s.slice(0, 57)}...` : s);

export function parseArgs(
  args: readonly string[],
  spec: Readonly<Record<string, FlagSpec>>,
  positionals: Positionals = { names: [] },
): Parsed {
  const flags: Flags = {};
  const positional: string[] = [];
  let onlyPositional = false;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    if (onlyPositional || !arg.startsWith('-') || arg === '-') {
      positional.push(arg);
      continue;
    }
    if (arg === '--') {
      onlyPositional = true;
      continue;
    }
    if (!arg.startsWith('--')) throw new UsageError(`unknown flag ${show(arg)}`);
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq < 0 ? undefined : eq);
    const s = Object.hasOwn(spec, name) ? spec[name] : undefined;
    if (!s) throw new UsageError(`unknown flag --${name.length > 40 ? `${name.slice(0, 37)}...` : name}`);
    if (s.kind === 'boolean') {
      if (eq >= 0) throw new UsageError(`--${name} takes no value`);
      flags[name] = true;
      continue;
    }
    let value: string | undefined;
    if (eq >= 0) value = arg.slice(eq + 1);
    else {
      value = args[i + 1];
      if (value === undefined || value.startsWith('--')) throw new UsageError(`--${name} needs a value`);
      i++;
    }
    if (value === '') throw new UsageError(`--${name} needs a value`);
    if (s.oneOf && !s.oneOf.includes(value))
      throw new UsageError(`--${name}: ${show(value)} is not one of ${s.oneOf.join('|')}`);
    if (s.kind === 'list') {
      const list = flags[name];
      flags[name] = Array.isArray(list) ? [...list, value] : [value];
    } else if (flags[name] !== undefined) {
      throw new UsageError(`--${name} given twice`);
    } else flags[name] = value;
  }
  const names = positionals.names;
  const rest = names.at(-1)?.endsWith('...') === true;
  const min = positionals.min ?? names.length;
  if (positional.length < min) throw new UsageError(`missing ${names[positional.length] ?? 'argument'}`);
  if (!rest && positional.length > names.length)
    throw new UsageError(`unexpected argument ${show(positional[names.length] as string)}`);
  for (const [name, s] of Object.entries(spec)) {
    if (s.required && flags[name] === undefined) throw new UsageError(`--${name} is required`);
  }
  return { flags, positional };
}

/** Flags only (no positional arguments). */
export function parseFlags(args: readonly string[], spec: Readonly<Record<string, FlagSpec>>): Flags {
  return parseArgs(args, spec).flags;
}

export function stringFlag(f: Flags, name: string): string | undefined {
  const v = f[name];
  return typeof v === 'string' ? v : undefined;
}

export function listFlag(f: Flags, name: string): string[] {
  const v = f[name];
  return Array.isArray(v) ? v : [];
}
