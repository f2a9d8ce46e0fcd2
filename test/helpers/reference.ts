/**
 * Debian's reference CNI plugins (package containernetworking-plugins, 1.1.1 on Debian 12):
 * what the e2e tier runs side by side with manifold, and what proves the libcni harness.
 */
import { accessSync, constants } from 'node:fs';
import { join } from 'node:path';

export const REFERENCE_PLUGIN_DIR = '/usr/lib/cni';

/**
 * Returns REFERENCE_PLUGIN_DIR after checking that each named plugin is an executable there;
 * otherwise throws one error naming every missing plugin and the package to install, so a
 * machine without it fails loudly instead of producing confusing "failed to find plugin" errors.
 */
export function requireReferencePlugins(...types: string[]): string {
  const missing = types.filter((type) => {
    try {
      accessSync(join(REFERENCE_PLUGIN_DIR, type), constants.X_OK);
      return false;
    } catch {
      return true;
    }
  });
  if (missing.length > 0) {
    throw new Error(
      `Debian's reference CNI plugins are missing from ${REFERENCE_PLUGIN_DIR} (${missing.join(', ')}): ` +
        'apt-get install containernetworking-plugins',
    );
  }
  return REFERENCE_PLUGIN_DIR;
}
