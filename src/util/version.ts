/** manifold's own version (kept equal to package.json's by a unit test). */
export const MANIFOLD_VERSION = '0.1.0';
