/**
 * A network looked up by name in a conf dir the way cnitool does it (libcni's LoadConfList):
 * the `*.conflist` files first, in lexical order — the first whose `name` matches — else the
 * `*.conf` and `*.json` files, a single plugin config wrapped into a one-plugin list. A file
 * that does not parse fails the lookup, as it does in libcni. The list's bytes are kept as
 * libcni keeps them (its result cache records them): a conflist's file as read, a wrapped
 * conf re-encoded the way Go encodes a map (keys sorted, <, > and & escaped).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join } from 'node:path';
import { CniError, Code, describeError } from '../../cni/errors.ts';

export interface ConfList {
  readonly file: string;
  readonly name: string;
  readonly cniVersion: string;
  readonly raw: Record<string, unknown>;
  /** What libcni would record as the list's bytes. */
  readonly bytes: Buffer;
}

type Raw = Record<string, unknown>;

function filesOf(dir: string, exts: readonly string[]): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new CniError(Code.IOFailure, `failed to read ${dir}: ${describeError(err)}`);
  }
  return names
    .map((n) => join(dir, n))
    .filter((f) => exts.includes(extname(f)) && !isDir(f))
    .sort();
}

function isDir(f: string): boolean {
  try {
    return statSync(f).isDirectory();
  } catch {
    return false;
  }
}

function readJson(file: string, what: string): { raw: Raw; bytes: Buffer } {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (err) {
    throw new CniError(Code.IOFailure, `error reading ${file}: ${describeError(err)}`);
  }
  let v: unknown;
  try {
    v = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw new CniError(Code.DecodingFailure, `${file}: error parsing ${what}: ${describeError(err)}`);
  }
  if (!v || typeof v !== 'object' || Array.isArray(v))
    throw new CniError(Code.DecodingFailure, `${file}: error parsing ${what}: not a JSON object`);
  return { raw: v as Raw, bytes };
}

function checkList(file: string, raw: Raw): void {
  const bad = (why: string) =>
    new CniError(Code.DecodingFailure, `${file}: error parsing configuration list: ${why}`);
  if (typeof raw.name !== 'string') throw bad(raw.name === undefined ? 'no name' : 'invalid name type');
  if (raw.cniVersion !== undefined && typeof raw.cniVersion !== 'string')
    throw bad('invalid cniVersion type');
  if (!Array.isArray(raw.plugins))
    throw bad(raw.plugins === undefined ? "no 'plugins' key" : "invalid 'plugins' type");
  if (raw.plugins.length === 0) throw bad('no plugins in list');
  raw.plugins.forEach((p, i) => {
    if (!p || typeof p !== 'object' || typeof (p as Raw).type !== 'string' || (p as Raw).type === '')
      throw bad(`failed to parse plugin config ${i}: missing 'type'`);
  });
}

/** JSON as Go's encoding/json writes a map[string]interface{}: keys sorted at every level, HTML characters escaped. */
export function goJson(v: unknown): string {
  const sorted = (x: unknown): unknown => {
    if (Array.isArray(x)) return x.map(sorted);
    if (x && typeof x === 'object')
      return Object.fromEntries(
        Object.keys(x as Raw)
          .sort()
          .map((k) => [k, sorted((x as Raw)[k])]),
      );
    return x;
  };
  return JSON.stringify(sorted(v)).replace(/</g, '\\u003c').replace(/>/g, '\\u003e').replace(/&/g, '\\u0026');
}

export function loadConfList(dir: string, name: string): ConfList {
  const lists = filesOf(dir, ['.conflist']);
  for (const file of lists) {
    const { raw, bytes } = readJson(file, 'configuration list');
    checkList(file, raw);
    if (raw.name === name) return { file, name, cniVersion: String(raw.cniVersion ?? ''), raw, bytes };
  }
  const confs = filesOf(dir, ['.conf', '.json']);
  if (confs.length === 0) {
    throw new CniError(
      Code.InvalidConfig,
      lists.length > 0
        ? `no net configuration with name "${name}" in ${dir}`
        : `no net configurations found in ${dir}`,
    );
  }
  for (const file of confs) {
    const { raw } = readJson(file, 'configuration');
    if (typeof raw.type !== 'string' || raw.type === '')
      throw new CniError(Code.DecodingFailure, `${file}: error parsing configuration: missing 'type'`);
    if (raw.name !== name) continue;
    const cniVersion = typeof raw.cniVersion === 'string' ? raw.cniVersion : '';
    const list = { cniVersion, name, plugins: [raw] };
    return { file, name, cniVersion, raw: list, bytes: Buffer.from(goJson(list)) };
  }
  throw new CniError(Code.InvalidConfig, `no net configuration with name "${name}" in ${dir}`);
}
