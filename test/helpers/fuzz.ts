/**
 * Config fuzzing for the skel: a valid base config, mutated at random paths (a value of the
 * wrong type, an out-of-range number, a deleted key, a new key), fed to a plugin through
 * `runWith`. Whatever comes in, a plugin must answer with a result or with a CNI error JSON
 * whose code is one it means, whose msg is one line, and which — for a config error — starts
 * with the JSON path of a field that is really there (or of the missing field's parent).
 */
import { isAbsolute } from 'node:path';
import fc from 'fast-check';
import { expect } from 'vitest';
import type { Env, PluginLoader } from '../../src/cni/plugin.ts';
import { runWith } from './skel.ts';

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Seg = string | number;

/** Every path in `v` (objects and arrays, leaves included), root excluded. */
export function pathsOf(v: Json, prefix: Seg[] = []): Seg[][] {
  const out: Seg[][] = [];
  if (Array.isArray(v)) {
    v.forEach((x, i) => {
      out.push([...prefix, i], ...pathsOf(x, [...prefix, i]));
    });
  } else if (v !== null && typeof v === 'object') {
    for (const [k, x] of Object.entries(v)) out.push([...prefix, k], ...pathsOf(x, [...prefix, k]));
  }
  return out;
}

/** Values that tend to break parsers: wrong types, edges of ranges, odd strings. */
const tricky: fc.Arbitrary<Json> = fc.constantFrom<Json>(
  null,
  true,
  false,
  0,
  -1,
  1.5,
  65536,
  2 ** 32,
  2 ** 53,
  -(2 ** 31),
  1e308,
  '',
  ' ',
  'x',
  '0',
  'bridge',
  'passthru',
  'eth0',
  'lo',
  '10.1.0.5',
  '10.1.0.5/24',
  '10.1.0.0/24',
  '10.1.0.0/31',
  '10.1.0.0/32',
  '10.1.0.0/8',
  '10.1.0.255',
  '0.0.0.0/0',
  '::/0',
  'fd00::1',
  'fd00::/64',
  'fd00::/127',
  '::ffff:10.1.0.5',
  '256.1.1.1',
  '00:00:00:00:00:00',
  'ff:ff:ff:ff:ff:ff',
  '0a:58:0a:01:00:05',
  '0a-58-0a-01-00-05',
  'a\nb',
  '"quoted"\r\n',
  '\u0000',
  'ü'.repeat(20),
  'x'.repeat(300),
  '../../etc',
  '/',
  '/tmp',
  'relative/path',
  '1.1.0',
  '0.2.0',
  [],
  [[]],
  [{}],
  {},
  { type: 'host-local' },
  { subnet: '10.1.0.0/24' },
);

const value: fc.Arbitrary<Json> = fc.oneof(
  { weight: 3, arbitrary: tricky },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }) as fc.Arbitrary<Json> },
);

type Mutation =
  | { op: 'set'; pick: number; value: Json }
  | { op: 'del'; pick: number }
  | { op: 'add'; pick: number; key: string; value: Json };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ op: fc.constant('set' as const), pick: fc.nat(), value }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('del' as const), pick: fc.nat() }) },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant('add' as const),
      pick: fc.nat(),
      key: fc.oneof(
        fc.constantFrom(
          'mode',
          'mtu',
          'mac',
          'master',
          'ipam',
          'subnet',
          'ranges',
          'gateway',
          'dataDir',
          'type',
          'x',
        ),
        fc.string({ maxLength: 8 }),
      ),
      value,
    }),
  },
);

function parent(root: Json, path: readonly Seg[]): Json | undefined {
  let cur: Json | undefined = root;
  for (const seg of path.slice(0, -1)) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string | number, Json>)[seg];
  }
  return cur;
}

function apply(root: Json, m: Mutation): void {
  const paths = pathsOf(root);
  if (paths.length === 0) return;
  const path = paths[m.pick % paths.length] as Seg[];
  const p = parent(root, path);
  const last = path[path.length - 1] as Seg;
  if (p === null || typeof p !== 'object' || p === undefined) return;
  // values are copied in: the arbitraries hand out shared objects, which later mutations
  // would otherwise change for every run (and could make cyclic)
  if (m.op === 'set') (p as Record<Seg, Json>)[last] = structuredClone(m.value);
  else if (m.op === 'del') {
    if (Array.isArray(p)) p.splice(Number(last), 1);
    else delete (p as Record<string, Json>)[String(last)];
  } else {
    const target = (p as Record<Seg, Json>)[last];
    if (target !== null && typeof target === 'object' && !Array.isArray(target))
      target[m.key] = structuredClone(m.value);
  }
}

/** Mutated copies of `base`: one to five mutations each. */
export function mutatedConfig(base: Record<string, Json>): fc.Arbitrary<Record<string, unknown>> {
  return fc.array(mutation, { minLength: 1, maxLength: 5 }).map((ms) => {
    const c = structuredClone(base) as Json;
    for (const m of ms) apply(c, m);
    return c as Record<string, unknown>;
  });
}

/** Keeps host-local's store inside `dataDir`, whatever the mutations did to `ipam.dataDir`. */
export function confineDataDir(conf: Record<string, unknown>, dataDir: string): Record<string, unknown> {
  const ipam = conf.ipam;
  if (ipam !== null && typeof ipam === 'object' && !Array.isArray(ipam)) {
    const d = (ipam as Record<string, unknown>).dataDir;
    // a missing or empty dataDir means /var/lib/cni/networks; an absolute one is taken as it is
    if (d === undefined || d === '' || (typeof d === 'string' && isAbsolute(d))) {
      (ipam as Record<string, unknown>).dataDir = dataDir;
    }
  }
  return conf;
}

/**
 * The object holding the last segment of a field path like `ipam.ranges[0][1].subnet`. Keys
 * may contain dots themselves (`cni.dev/valid-attachments`): at each level the longest key
 * that matches is taken.
 */
export function parentOf(root: Json, path: string): Json | undefined {
  let cur: Json | undefined = root;
  let rest = path;
  for (;;) {
    if (cur === null || typeof cur !== 'object') return undefined;
    const idx = /^\[(\d+)\]/.exec(rest);
    let key: string | number;
    if (idx) key = Number(idx[1]);
    else {
      const keys = Object.keys(cur).sort((a, b) => b.length - a.length);
      const k = keys.find((x) => rest === x || rest.startsWith(`${x}.`) || rest.startsWith(`${x}[`));
      key = k ?? /^[^.[]+/.exec(rest)?.[0] ?? rest;
    }
    const consumed = idx ? (idx[0] as string).length : String(key).length;
    rest = rest.slice(consumed).replace(/^\./, '');
    if (rest === '') return cur;
    cur = (cur as Record<string | number, Json>)[key];
  }
}

/** Parses `a.b[0].c` into segments. */
export function parsePath(s: string): Seg[] {
  const out: Seg[] = [];
  for (const m of s.matchAll(/([^.[\]]+)|\[(\d+)\]/g))
    out.push(m[2] !== undefined ? Number(m[2]) : (m[1] as string));
  return out;
}

export interface Outcome {
  code: number;
  json: Record<string, unknown> | undefined;
}

/**
 * The checks every fuzzed call must pass. `allowed` is the set of error codes the plugin may
 * answer with; `allow999` says which internal-error messages are legitimate (e.g. an exhausted
 * pool), anything else with code 999 fails.
 */
export function expectCniOutcome(
  out: Outcome,
  conf: unknown,
  allowed: readonly number[],
  allow999: RegExp = /$^/,
): void {
  const j = out.json;
  if (out.code === 0) {
    expect(j?.code).toBeUndefined(); // a result (ADD) or nothing (the other verbs)
    return;
  }
  expect(j, 'stdout must be JSON').toBeDefined();
  expect(out.code).toBe(1);
  const code = j?.code as number;
  const msg = j?.msg as string;
  expect(typeof msg).toBe('string');
  expect(msg.length).toBeGreaterThan(0);
  expect(msg, 'msg must be one line').not.toMatch(/[\r\n]/);
  expect(msg, 'msg must not carry a stack').not.toMatch(/\bat .*\(.*:\d+:\d+\)|node:internal/);
  if (code === 999) {
    expect(msg, `unexpected internal error for ${JSON.stringify(conf)}`).toMatch(allow999);
    return;
  }
  expect(allowed, `code ${code} (${msg}) for ${JSON.stringify(conf)}`).toContain(code);
  if (code === 7 && msg !== 'missing network name') {
    // the meta-plugin lists several failures after a count ("2 of 3 delegates failed DEL: …"),
    // and names a delegate whose error is not about a field of this config
    const first = msg.replace(/^\d+ of \d+ [^:]+: /, '');
    const delegate = /^delegate "[^"]*" \([^)]*\) failed(?: \w+)?: /.exec(first);
    const rest = delegate ? first.slice(delegate[0].length) : first;
    const m = /^(CNI_ARGS \w+|[^\s:]+): /.exec(rest);
    expect(m, `config error without a field path: ${msg}`).not.toBeNull();
    const path = m?.[1] ?? '';
    if (!path.startsWith('CNI_ARGS') && !delegate) {
      const p = parentOf(conf as Json, path);
      expect(
        p !== undefined && p !== null && typeof p === 'object',
        `msg names ${path}, which is not in ${JSON.stringify(conf)}`,
      ).toBe(true);
    }
  }
}

/** CNI_ARGS worth trying: none, well-formed, malformed, random. */
export const cniArgsArb: fc.Arbitrary<string | undefined> = fc.option(
  fc.oneof(
    fc.constantFrom(
      'IgnoreUnknown=1',
      'MAC=0a:58:00:00:00:09',
      'MAC=bad',
      'IP=10.1.0.12',
      'IP=10.1.0.12/24,fd00:1::12/64',
      'IP=x',
      'GATEWAY=10.1.0.1',
      'K8S_POD_NAME=p;MAC=',
      'novalue',
    ),
    fc.string({ maxLength: 20 }),
  ),
  { nil: undefined },
);

export interface FuzzOptions {
  /** The environment of each call (CNI_ARGS is added from the fuzzer). */
  readonly env: () => Env;
  /** CNI_COMMANDs to pick from (default: the env's own). */
  readonly verbs?: readonly string[];
  /** Error codes the plugin may answer with. */
  readonly allowed: readonly number[];
  /** Messages for which code 999 is legitimate. */
  readonly allow999?: RegExp;
  /** Where host-local may keep its store. */
  readonly dataDir: string;
  readonly numRuns?: number;
}

/** Mutated `base` configs (and random CNI_ARGS) through `runWith`, every outcome checked. */
export async function fuzzSkel(
  load: PluginLoader,
  base: Record<string, unknown>,
  o: FuzzOptions,
): Promise<void> {
  await fc.assert(
    fc.asyncProperty(
      mutatedConfig(base as Record<string, Json>),
      cniArgsArb,
      fc.nat(),
      async (conf, args, v) => {
        confineDataDir(conf, o.dataDir);
        const verb = o.verbs?.length ? { CNI_COMMAND: o.verbs[v % o.verbs.length] } : {};
        const env = { ...o.env(), ...verb, ...(args === undefined ? {} : { CNI_ARGS: args }) };
        const out = await runWith(load, env, JSON.stringify(conf));
        expectCniOutcome(out, conf, o.allowed, o.allow999);
      },
    ),
    { numRuns: o.numRuns ?? 300 },
  );
}
