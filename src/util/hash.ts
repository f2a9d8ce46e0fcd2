/**
 * FNV-1a, the one stable short hash for derived names (interfaces, nft chains), without
 * loading node:crypto: 32 bits where a name has room for 8 hex digits, 64 bits for 16.
 */
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

/** FNV-1a, 64 bits, as 16 hex digits. */
export function hash16(s: string): string {
  let h = 0xcbf29ce484222325n;
  for (const byte of Buffer.from(s)) {
    h ^= BigInt(byte);
    h = (h * 0x100000001b3n) & 0xffffffffffffffffn;
  }
  return h.toString(16).padStart(16, '0');
}
