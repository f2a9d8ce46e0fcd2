/**
 * Random hex for temporary names (interfaces, temp files). Not secret, only unlikely to
 * collide; Math.random avoids loading node:crypto, which costs a CNI call milliseconds.
 */
export function randomHex(bytes: number): string {
  let out = '';
  for (let i = 0; i < bytes; i++)
    out += Math.floor(Math.random() * 256)
      .toString(16)
      .padStart(2, '0');
  return out;
}
