/**
 * Flag parsing for manifold's commands: `--name value` and `--name=value` for strings,
 * `--name` for booleans; anything else (an unknown flag, a missing value, a stray argument)
 * is a UsageError whose message is the one line the user sees.
 */

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export interface FlagSpec {
  readonly kind: 'string' | 'boolean';
  readonly required?: boolean;
}

export type Flags = Record<string, string | boolean | undefined>;

export function parseFlags(args: readonly string[], spec: Readonly<Record<string, FlagSpec>>): Flags {
  const out: Flags = {};
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    if (!arg.startsWith('--') || arg === '--')
      throw new UsageError(`unexpected argument ${JSON.stringify(arg)}`);
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq < 0 ? undefined : eq);
    const s = Object.hasOwn(spec, name) ? spec[name] : undefined;
    if (!s) throw new UsageError(`unknown flag --${name}`);
    if (s.kind === 'boolean') {
      if (eq >= 0) throw new UsageError(`--${name} takes no value`);
      out[name] = true;
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
    out[name] = value;
  }
  for (const [name, s] of Object.entries(spec)) {
    if (s.required && out[name] === undefined) throw new UsageError(`--${name} is required`);
  }
  return out;
}
