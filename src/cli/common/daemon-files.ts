/**
 * The files daemon mode shares between `install --mode daemon` and `manifold daemon`: the
 * default socket, and the shim the single executable carries (src/shim/shim.c, the asset
 * `shim`), which install writes out as the runtime's `manifold` and the daemon writes out as
 * its launcher `manifold-hostexec` (executed plugins inside the node's root).
 */

/** The daemon's socket when `--socket` is not given, for the daemon and install alike. */
export const DEFAULT_SOCKET = '/run/manifold/manifold.sock';

/** The name that makes the shim the launcher into the node's root (src/shim/shim.c `host_exec`). */
export const HOSTEXEC_NAME = 'manifold-hostexec';

/**
 * The shim the executable carries (the single executable's asset `shim`), or an error saying
 * why there is none: only the single executable (dist/bin/manifold) carries one.
 */
export async function embeddedShim(): Promise<Buffer> {
  const sea = await import('node:sea');
  if (!sea.isSea()) {
    throw new Error(
      'the shim is carried by the single executable (dist/bin/manifold), not the bundle or the source: run that',
    );
  }
  return Buffer.from(sea.getRawAsset('shim') as ArrayBuffer);
}
