/**
 * Turns zod validation failures into CNI error 7 with the JSON path of the bad field and the
 * value found there: `plugins[1].mode: expected one of "bridge", "private"; got "fast"`.
 */
import type * as z from 'zod/mini';
import { CniError, Code } from './errors.ts';

type Issue = z.core.$ZodIssue;

export function formatPath(path: readonly PropertyKey[], prefix = ''): string {
  let out = prefix;
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else out += out ? `.${String(seg)}` : String(seg);
  }
  return out;
}

function show(v: unknown): string {
  if (v === undefined) return 'nothing';
  let s: string | undefined;
  try {
    s = JSON.stringify(v);
  } catch {
    return Array.isArray(v) ? '[…]' : '{…}'; // nested too deeply to print
  }
  if (s === undefined) return String(v);
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v;
}

// zod/mini loads no locale (zod's English messages cost startup): every issue without a message
// of ours carries zod's fallback text, so each code is put in words here.
const FALLBACK = 'Invalid input';

/** Our own message (a refine's, a regex's), or undefined when zod left only its fallback. */
function ownMessage(issue: Issue): string | undefined {
  return issue.message && issue.message !== FALLBACK ? issue.message : undefined;
}

function withInput(problem: string, input: unknown): string {
  return input === undefined ? problem : `${problem}; got ${show(input)}`;
}

function describeFormat(issue: z.core.$ZodIssueInvalidStringFormat): string {
  const i = issue as z.core.$ZodIssueInvalidStringFormat & Record<string, unknown>;
  if (issue.format === 'regex' && issue.pattern) return `must match ${issue.pattern}`;
  if (issue.format === 'starts_with') return `must start with ${show(i.prefix)}`;
  if (issue.format === 'ends_with') return `must end with ${show(i.suffix)}`;
  if (issue.format === 'includes') return `must include ${show(i.includes)}`;
  return `must be a valid ${issue.format}`;
}

/** What a union's options wanted, when each failed on the value itself (`"" or string`). */
function unionExpected(errors: readonly (readonly Issue[])[]): string | undefined {
  const wants: string[] = [];
  for (const issues of errors) {
    const first = issues[0];
    if (issues.length !== 1 || !first || first.path.length > 0) return undefined;
    if (first.code === 'invalid_type') wants.push(first.expected);
    else if (first.code === 'invalid_value') wants.push(...first.values.map((v) => show(v)));
    else return undefined;
  }
  return wants.length > 0 ? wants.join(' or ') : undefined;
}

function describeIssue(issue: Issue): string {
  const input = 'input' in issue ? issue.input : undefined;
  switch (issue.code) {
    case 'invalid_type':
      if (input === undefined) return 'is required';
      return `expected ${issue.expected}, got ${typeName(input)} ${show(input)}`;
    case 'invalid_value':
      return `expected one of ${issue.values.map((v) => show(v)).join(', ')}; got ${show(input)}`;
    case 'too_small': {
      const what = issue.origin === 'array' || issue.origin === 'string' ? 'length ' : '';
      return `must have ${what}${issue.inclusive ? '≥' : '>'} ${String(issue.minimum)}; got ${show(input)}`;
    }
    case 'too_big': {
      const what = issue.origin === 'array' || issue.origin === 'string' ? 'length ' : '';
      return `must have ${what}${issue.inclusive ? '≤' : '<'} ${String(issue.maximum)}; got ${show(input)}`;
    }
    case 'invalid_union': {
      const wanted = unionExpected(issue.errors);
      if (wanted) return `expected ${wanted}, got ${typeName(input)} ${show(input)}`;
      return withInput('matches none of the allowed forms', input);
    }
    case 'invalid_format':
      return withInput(ownMessage(issue) ?? describeFormat(issue), input);
    case 'not_multiple_of':
      return withInput(ownMessage(issue) ?? `must be a multiple of ${issue.divisor}`, input);
    case 'unrecognized_keys': {
      const keys = issue.keys.map((k) => show(k)).join(', ');
      return issue.keys.length === 1 ? `unknown key ${keys}` : `unknown keys ${keys}`;
    }
    case 'invalid_key': {
      // the path ends at the key; the inner issue shows the key
      const inner = issue.issues[0];
      return inner ? `invalid key: ${describeIssue(inner)}` : withInput('invalid key', input);
    }
    case 'invalid_element': {
      const inner = issue.issues[0];
      const what = `invalid element at key ${show(issue.key)}`;
      return inner ? `${what}: ${describeIssue(inner)}` : withInput(what, input);
    }
    default:
      return withInput(ownMessage(issue) ?? 'is invalid', input);
  }
}

/** One problem of a config: the JSON path of the field and what is wrong with its value. */
export interface Problem {
  readonly path: string;
  readonly problem: string;
}

/** Code 7 for the first problem, carrying every problem found (`manifold validate` prints them all). */
export class ConfigError extends CniError {
  readonly problems: readonly Problem[];

  constructor(problems: readonly Problem[], details: string) {
    const first = problems[0] ?? { path: 'config', problem: 'invalid' };
    super(Code.InvalidConfig, `${first.path}: ${first.problem}`, details);
    this.problems = problems;
  }
}

/** The first issue as a CNI error 7 (the first is what a person fixes first); all of them on `problems`. */
export function zodToCniError(error: z.core.$ZodError, prefix = ''): CniError {
  const problems = error.issues.map((issue) => ({
    path: formatPath(issue.path, prefix) || prefix || 'config',
    problem: describeIssue(issue),
  }));
  if (problems.length === 0) return new CniError(Code.InvalidConfig, `${prefix || 'config'}: invalid`);
  const more = problems.length > 1 ? `${problems.length - 1} more problem(s) in the config` : '';
  return new ConfigError(problems, more);
}

/** Parses `data` with `schema`; failures become CNI error 7 (paths prefixed with `prefix`). */
export function parseWith<S extends z.ZodMiniType>(schema: S, data: unknown, prefix = ''): z.output<S> {
  let r: z.core.util.SafeParseResult<z.output<S>>;
  try {
    r = schema.safeParse(data, { reportInput: true });
  } catch (err) {
    // JSON nested deeper than the validator can recurse (a crafted config): a config error,
    // not an internal one
    if (err instanceof RangeError) {
      throw new CniError(Code.InvalidConfig, `${prefix || 'config'}: nested too deeply to validate`);
    }
    throw err;
  }
  if (!r.success) throw zodToCniError(r.error, prefix);
  return r.data;
}
