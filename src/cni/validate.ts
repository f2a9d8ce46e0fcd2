/**
 * Turns zod validation failures into CNI error 7 with the JSON path of the bad field and the
 * value found there: `plugins[1].mode: expected one of "bridge", "private"; got "fast"`.
 */
import type { z } from 'zod';
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
    case 'invalid_union':
      return `${issue.message || 'matches none of the allowed forms'}; got ${show(input)}`;
    default:
      return input === undefined ? issue.message : `${issue.message}; got ${show(input)}`;
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
export function zodToCniError(error: z.ZodError, prefix = ''): CniError {
  const problems = error.issues.map((issue) => ({
    path: formatPath(issue.path, prefix) || prefix || 'config',
    problem: describeIssue(issue),
  }));
  if (problems.length === 0) return new CniError(Code.InvalidConfig, `${prefix || 'config'}: invalid`);
  const more = problems.length > 1 ? `${problems.length - 1} more problem(s) in the config` : '';
  return new ConfigError(problems, more);
}

/** Parses `data` with `schema`; failures become CNI error 7 (paths prefixed with `prefix`). */
export function parseWith<S extends z.ZodType>(schema: S, data: unknown, prefix = ''): z.output<S> {
  let r: z.ZodSafeParseResult<z.output<S>>;
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
