/** CNI spec versions manifold speaks, oldest first. VERSION answers with all of them. */
export const SUPPORTED_VERSIONS = ['0.1.0', '0.2.0', '0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] as const;
export type SpecVersion = (typeof SUPPORTED_VERSIONS)[number];
export const CURRENT_VERSION: SpecVersion = '1.1.0';

/** What a config without `cniVersion` means (as the reference library decodes it). */
export const IMPLICIT_VERSION = '0.1.0';

export function isSupported(v: string): v is SpecVersion {
  return (SUPPORTED_VERSIONS as readonly string[]).includes(v);
}

function parts(v: string): [number, number, number] | undefined {
  const m = /^(\d+)\.(\d+)\.(\d+)$/.exec(v);
  if (!m) return undefined;
  return [Number(m[1]), Number(m[2]), Number(m[3])];
}

/** Compares two dotted versions; undefined when either is not `x.y.z`. */
export function compareVersions(a: string, b: string): number | undefined {
  const pa = parts(a);
  const pb = parts(b);
  if (!pa || !pb) return undefined;
  for (let i = 0; i < 3; i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

export function atLeast(v: string, min: string): boolean {
  return (compareVersions(v, min) ?? -1) >= 0;
}

/** 0.3.0, 0.3.1 and 0.4.0 share the pre-1.0 result shape (ips[].version, no interface mtu). */
export function isLegacyResult(v: string): boolean {
  return atLeast(v, '0.3.0') && !atLeast(v, '1.0.0');
}

/** The VERSION answer. */
export function versionInfo(): { cniVersion: string; supportedVersions: string[] } {
  return { cniVersion: CURRENT_VERSION, supportedVersions: [...SUPPORTED_VERSIONS] };
}
