/**
 * The delegate cache, keyed as libcni keys its result cache: one file per attachment,
 * `<cniDir>/<network>-<containerID>-<ifname>`, recording the manifold network's name, the
 * container, CNI_IFNAME and the netns. Written before any delegate runs and with the results
 * after ADD (right after an executed delegate's, see add.ts), so DEL, CHECK and GC know what
 * was attached even when the config changed since; a
 * container on two manifold networks has two caches, and GC of one network reads only its
 * own. Writes are atomic (temp file + rename, 0600 in a 0700 dir): a crash leaves the old
 * cache (Multus #1087). A file that cannot be read is reported as such, never thrown.
 */
import { readdirSync, readFileSync, statSync, unlinkSync } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import * as z from 'zod/mini';
import { describeError, failed, q } from '../cni/errors.ts';
import { tempsOf, writeFileAtomic } from '../util/atomic.ts';
import { log } from '../util/log.ts';

export const CACHE_KIND = 'manifoldCacheV3';
/** The previous format: V3 without `pod` and `call`; still read. */
const V2_KIND = 'manifoldCacheV2';
/** The first cache format: `<cniDir>/<containerID>`, no network name; read (for DEL) when no V2 cache exists. */
const LEGACY_KIND = 'manifoldCacheV1';

const EntrySchema = z.looseObject({
  source: z.string(),
  ifname: z.string(),
  master: z.boolean(),
  defaultRoute: z.boolean(),
  /** The network config (conf or conflist) as it was run. */
  network: z.looseObject({}),
  /** Its ADD result, in the network's cniVersion, once it succeeded. */
  result: z.optional(z.looseObject({})),
  /** The message its ADD failed with, when it failed. */
  addError: z.optional(z.string()),
  /** Its plugins were executed from the bin dir, never run in-process (`manifold.exec`): DEL too. */
  exec: z.optional(z.boolean()),
});
export type CacheEntry = z.output<typeof EntrySchema>;

const Common = {
  containerId: z.string(),
  ifname: z.string(),
  netns: z.string(),
  cniVersion: z.string(),
  delegates: z.array(EntrySchema),
};
const PodSchema = z.object({ namespace: z.string(), name: z.string(), uid: z.string() });
const CallSchema = z.looseObject({ conf: z.looseObject({}), path: z.string() });
const CacheSchema = z.looseObject({
  kind: z.union([z.literal(CACHE_KIND), z.literal(V2_KIND)]),
  networkName: z.string(),
  ...Common,
  pod: z.optional(PodSchema),
  call: z.optional(CallSchema),
});
const LegacySchema = z.looseObject({ kind: z.literal(LEGACY_KIND), ...Common });

/** A cache as read: `networkName` is undefined only for a legacy (V1) cache. */
export interface CacheFile {
  readonly kind: string;
  readonly networkName: string | undefined;
  readonly containerId: string;
  readonly ifname: string;
  readonly netns: string;
  readonly cniVersion: string;
  readonly delegates: readonly CacheEntry[];
  /** The pod the attachment is for (CNI_ARGS' K8S_POD_*), when the call named one (V3). */
  readonly pod?: CachePod | undefined;
  /** The call as the runtime made it: its config (no prevResult) and CNI_PATH (V3). */
  readonly call?: { readonly conf: Readonly<Record<string, unknown>>; readonly path: string } | undefined;
}

export interface CachePod {
  readonly namespace: string;
  readonly name: string;
  /** K8S_POD_UID; "" when the runtime gave none. */
  readonly uid: string;
}

/** Which attachment a cache belongs to. */
export interface CacheKey {
  readonly network: string;
  readonly containerId: string;
  readonly ifname: string;
}

export type Loaded =
  | { readonly state: 'missing' }
  | { readonly state: 'ok'; readonly cache: CacheFile; readonly file: string }
  | { readonly state: 'unreadable'; readonly file: string; readonly reason: string };

export function cachePath(cniDir: string, key: CacheKey): string {
  return join(cniDir, `${key.network}-${key.containerId}-${key.ifname}`);
}

function parse(text: string): { cache: CacheFile } | { reason: string } {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    return { reason: `not JSON: ${describeError(err)}` };
  }
  const v2 = CacheSchema.safeParse(json);
  if (v2.success) return { cache: v2.data };
  const v1 = LegacySchema.safeParse(json);
  if (v1.success) return { cache: { ...v1.data, networkName: undefined } };
  const kind = (json as { kind?: unknown } | null)?.kind;
  return {
    reason:
      typeof kind === 'string' && kind !== CACHE_KIND && kind !== V2_KIND
        ? `kind ${q(kind)} is not one this version reads (${CACHE_KIND}, ${V2_KIND})`
        : `not a ${CACHE_KIND} cache: ${v2.error.issues[0]?.path.join('.') || 'the file'} is wrong`,
  };
}

function load(file: string): Loaded {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { state: 'missing' };
    return { state: 'unreadable', file, reason: describeError(err) };
  }
  const p = parse(text);
  return 'cache' in p
    ? { state: 'ok', cache: p.cache, file }
    : { state: 'unreadable', file, reason: p.reason };
}

/**
 * The cache of one attachment. A V2 file whose content names another attachment (names that
 * collide in the file name) is not ours: missing. Without a V2 file, a legacy
 * `<cniDir>/<containerID>` of the same CNI_IFNAME is used.
 */
export function readCache(cniDir: string, key: CacheKey): Loaded {
  const file = cachePath(cniDir, key);
  const got = load(file);
  if (got.state === 'ok') {
    const c = got.cache;
    if (c.networkName === key.network && c.containerId === key.containerId && c.ifname === key.ifname)
      return got;
    log.error(`ignoring ${file}: it belongs to ${c.networkName}/${c.containerId}/${c.ifname}`);
    return { state: 'missing' };
  }
  if (got.state === 'unreadable') return got;
  const legacy = load(join(cniDir, key.containerId));
  if (legacy.state === 'ok' && legacy.cache.networkName === undefined && legacy.cache.ifname === key.ifname) {
    return legacy;
  }
  return { state: 'missing' };
}

export function writeCache(cniDir: string, data: CacheFile & { networkName: string }): void {
  const key = { network: data.networkName, containerId: data.containerId, ifname: data.ifname };
  const file = cachePath(cniDir, key);
  try {
    writeFileAtomic(file, JSON.stringify({ ...data, kind: CACHE_KIND }));
  } catch (err) {
    throw failed(`write the delegate cache ${q(file)}`, err);
  }
}

/**
 * Removes a cache and the temp files of its writes that a killed process left behind
 * (`.<name>.<pid>.<random>.tmp`): no other call writes this attachment's cache meanwhile, as
 * a runtime never runs two verbs of one attachment at once.
 */
export function removeCache(file: string): void {
  for (const f of [file, ...tempsOf(file)]) {
    try {
      unlinkSync(f);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
        throw failed(`remove the delegate cache ${q(f)}`, err);
    }
  }
}

export interface Listed {
  readonly caches: { readonly cache: CacheFile; readonly file: string }[];
  readonly unreadable: { readonly file: string; readonly reason: string }[];
}

/** Every cache in cniDir (for GC), the readable ones and the others apart. */
export function listCaches(cniDir: string): Listed {
  const out: Listed = { caches: [], unreadable: [] };
  let names: string[];
  try {
    names = readdirSync(cniDir).sort();
  } catch {
    return out;
  }
  for (const n of names.filter((x) => !x.startsWith('.'))) {
    const got = load(join(cniDir, n));
    if (got.state === 'ok') out.caches.push(got);
    else if (got.state === 'unreadable') out.unreadable.push(got);
  }
  return out;
}

/** Removes temp files a crashed write left (older than `ageMs`: never one being written). */
export function removeStaleTemps(cniDir: string, ageMs = 60_000): void {
  let names: string[];
  try {
    names = readdirSync(cniDir);
  } catch {
    return;
  }
  const cutoff = Date.now() - ageMs;
  for (const n of names.filter((x) => x.startsWith('.') && x.endsWith('.tmp'))) {
    const file = join(cniDir, n);
    try {
      if (statSync(file).mtimeMs < cutoff) unlinkSync(file);
    } catch {
      // gone meanwhile
    }
  }
}

/**
 * Every readable cache in cniDir with the time of its last write, read without blocking the
 * event loop (the daemon's garbage collection reads them while it serves calls).
 */
export async function readCaches(
  cniDir: string,
): Promise<{ readonly cache: CacheFile; readonly file: string; readonly writtenMs: number }[]> {
  let names: string[];
  try {
    names = (await readdir(cniDir)).sort();
  } catch {
    return [];
  }
  const out: { cache: CacheFile; file: string; writtenMs: number }[] = [];
  for (const n of names.filter((x) => !x.startsWith('.'))) {
    const file = join(cniDir, n);
    try {
      const [text, st] = await Promise.all([readFile(file, 'utf8'), stat(file)]);
      const p = parse(text);
      if ('cache' in p) out.push({ cache: p.cache, file, writtenMs: st.mtimeMs });
    } catch {
      // gone meanwhile, or not a file
    }
  }
  return out;
}
