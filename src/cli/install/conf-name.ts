/**
 * Which file name manifold's config takes, so the runtime reads it and not another. containerd
 * loads only the first network file of the conf dir in byte order of the names (`.conf`,
 * `.conflist`, `.json`); CRI-O the first *valid* one (its plugin binary exists). With a
 * primary named `00-cilium.conflist`, `00-manifold.conflist` sorts second and is never read.
 * The rule: the first of CONF_NAMES that sorts before every other
 * network file; when none does, install fails naming the file in the way. Uninstall removes
 * whichever of them is manifold's.
 */
import { basename } from 'node:path';
import { listNetworkFiles } from '../../meta/files.ts';

/** manifold's config names, the usual one first, then lower ones for a dir that needs them. */
export const CONF_NAMES = [
  '00-manifold.conflist',
  '0-manifold.conflist',
  '0-0-manifold.conflist',
  '0-00-manifold.conflist',
] as const;

export const isOurName = (name: string) => (CONF_NAMES as readonly string[]).includes(name);

/** The network file names of `dir` in the runtimes' order (libcni's: byte order). */
export function runtimeOrder(dir: string): string[] {
  return listNetworkFiles(dir).map((p) => basename(p));
}

/** The name manifold's config must take in `dir` (others' files decide), or the file in the way. */
export function chooseConfName(dir: string): { name: string } | { blocker: string } {
  const others = runtimeOrder(dir).filter((n) => !isOurName(n));
  const first = others[0];
  if (first === undefined) return { name: CONF_NAMES[0] };
  const name = CONF_NAMES.find((n) => n < first);
  return name ? { name } : { blocker: first };
}
