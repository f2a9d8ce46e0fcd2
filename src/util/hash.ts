/** FNV-1a, 32 bits: a stable short hash for derived names, without loading node:crypto. */
export function fnv1a32(s: string): number {
  let h = 0x811c9dc5;
  for (const byte of Buffer.from(s)) {
    h ^= byte;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** fnv1a32 as 8 hex digits. */
export function hash8(s: string): string {
  return fnv1a32(s).toString(16).padStart(8, '0');
}
