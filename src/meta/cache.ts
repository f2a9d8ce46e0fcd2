/**
 * The delegate cache: `<cniDir>/<containerID>`, written before any delegate runs and updated
 * after each one's ADD, so DEL (and CHECK) know what was attached even when the config or
 * the cluster changed since. Every write is atomic (temp file + rename, 0600): a crash never
 * leaves a truncated cache (Multus #1087).
 */
import { mkdirSync, readdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { describeError, failed } from '../cni/errors.ts';
import { log } from '../util/log.ts';
import { randomHex } from '../util/random.ts';

export const CACHE_KIND = 'manifoldCacheV1';

const EntrySchema = z.looseObject({
  source: z.string(),
  ifname: z.string(),
  master: z.boolean(),
  defaultRoute: z.boolean(),
  /** The network config (conf or conflist) as it was run. */
  network: z.looseObject({}),
  /** Its ADD result, in the network's cniVersion, once it succeeded. */
  result: z.looseObject({}).optional(),
});
export type CacheEntry = z.output<typeof EntrySchema>;

const CacheSchema = z.looseObject({
  kind: z.literal(CACHE_KIND),
  containerId: z.string(),
  ifname: z.string(),
  netns: z.string(),
  cniVersion: z.string(),
  delegates: z.array(EntrySchema),
});
export type CacheFile = z.output<typeof CacheSchema>;

function path(cniDir: string, containerId: string): string {
  return join(cniDir, containerId);
}

export function writeCache(cniDir: string, data: CacheFile): void {
  const file = path(cniDir, data.containerId);
  const tmp = join(cniDir, `.${data.containerId}.${process.pid}.${randomHex(4)}.tmp`);
  try {
    mkdirSync(cniDir, { recursive: true, mode: 0o700 });
    writeFileSync(tmp, JSON.stringify(data), { mode: 0o600 });
    renameSync(tmp, file);
  } catch (err) {
    try {
      unlinkSync(tmp);
    } catch {
      // nothing written
    }
    throw failed(`write the delegate cache ${JSON.stringify(file)}`, err);
  }
}

/** The cache of a container; undefined when there is none or it cannot be read (logged). */
export function readCache(cniDir: string, containerId: string): CacheFile | undefined {
  const file = path(cniDir, containerId);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
      log.error(`cannot read ${file}: ${describeError(err)}`);
    return undefined;
  }
  try {
    const r = CacheSchema.safeParse(JSON.parse(text));
    if (r.success) return r.data;
    log.error(`ignoring ${file}: not a ${CACHE_KIND} cache`);
  } catch (err) {
    log.error(`ignoring ${file}: ${describeError(err)}`);
  }
  return undefined;
}

export function removeCache(cniDir: string, containerId: string): void {
  try {
    unlinkSync(path(cniDir, containerId));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
      throw failed(`remove the delegate cache of ${containerId}`, err);
  }
}

/** Every readable cache in cniDir (for GC). */
export function listCaches(cniDir: string): CacheFile[] {
  let names: string[];
  try {
    names = readdirSync(cniDir);
  } catch {
    return [];
  }
  return names
    .filter((n) => !n.startsWith('.'))
    .map((n) => readCache(cniDir, n))
    .filter((c): c is CacheFile => c !== undefined);
}
