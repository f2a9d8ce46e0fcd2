import { describe, expect, it } from 'vitest';
import { fnv1a32, hash8, hash16 } from './hash.ts';

describe('FNV-1a', () => {
  it('gives the published test vectors, 32 and 64 bits', () => {
    expect(fnv1a32('')).toBe(0x811c9dc5);
    expect(hash8('a')).toBe('e40c292c');
    expect(hash16('')).toBe('cbf29ce484222325');
    expect(hash16('a')).toBe('af63dc4c8601ec8c');
  });
});
