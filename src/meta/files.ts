/**
 * Network configs on disk, found the way libcni finds them: `*.conf`, `*.conflist` and
 * `*.json` in a directory, in lexical order; a network is picked by its `name`.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { CniError, Code, describeError, q } from '../cni/errors.ts';

const EXTENSIONS = ['.conf', '.conflist', '.json'];

export interface NetworkFile {
  readonly path: string;
  readonly raw: Record<string, unknown>;
}

export function readNetworkFile(path: string): NetworkFile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new CniError(Code.IOFailure, `failed to read network config ${q(path)}: ${describeError(err)}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new CniError(
      Code.DecodingFailure,
      `failed to decode network config ${q(path)}: ${describeError(err)}`,
    );
  }
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new CniError(Code.DecodingFailure, `network config ${q(path)} is not a JSON object`);
  }
  return { path, raw: raw as Record<string, unknown> };
}

/** The network config files of a directory, in the order libcni reads them. */
export function listNetworkFiles(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new CniError(Code.IOFailure, `failed to list ${q(dir)}: ${describeError(err)}`);
  }
  return names
    .filter((n) => EXTENSIONS.some((e) => n.endsWith(e)))
    .sort()
    .map((n) => join(dir, n));
}

/** The file in `dir` whose network is called `name` (unreadable files are skipped). */
export function findNetworkByName(dir: string, name: string): NetworkFile | undefined {
  for (const path of listNetworkFiles(dir)) {
    let f: NetworkFile;
    try {
      f = readNetworkFile(path);
    } catch {
      continue;
    }
    if (f.raw.name === name) return f;
  }
  return undefined;
}

/** A path given instead of a name: the file itself, or the first network file of a directory. */
export function readNetworkPath(path: string): NetworkFile {
  let isDir = false;
  try {
    isDir = statSync(path).isDirectory();
  } catch (err) {
    throw new CniError(Code.IOFailure, `failed to read network config ${q(path)}: ${describeError(err)}`);
  }
  if (!isDir) return readNetworkFile(path);
  const first = listNetworkFiles(path)[0];
  if (!first)
    throw new CniError(Code.IOFailure, `no network config (*.conf, *.conflist, *.json) in ${q(path)}`);
  return readNetworkFile(first);
}
