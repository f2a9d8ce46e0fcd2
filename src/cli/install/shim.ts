/**
 * The daemon-mode shim as install writes it (src/shim/shim.c): the executable's asset `shim`,
 * a static C program whose config region — a fixed-size, NUL-padded array that starts with
 * `@@MANIFOLD-SHIM-CONFIG@@` — is patched with `socket=<path>\noneshot=<path>\n` in the copy.
 * Nothing else of the binary changes, and the shim reads no file to learn where its daemon is.
 */
import { resolve } from 'node:path';
import { q } from '../../cni/errors.ts';

/** Must match CONFIG_SIZE and the marker in src/shim/shim.c. */
export const SHIM_CONFIG_SIZE = 4096;
export const SHIM_CONFIG_MARKER = '@@MANIFOLD-SHIM-CONFIG@@';
/** The one-shot executable's name beside the shim, in the bin dir. */
export const ONESHOT_NAME = 'manifold-oneshot';

/** sun_path holds 108 bytes, NUL included. */
const MAX_SOCKET_PATH = 107;

/** A copy of `shim` configured for `socket` and `oneshot` (both made absolute). */
export function patchShim(shim: Uint8Array, socket: string, oneshot: string): Buffer {
  const out = Buffer.from(shim);
  const marker = Buffer.from(SHIM_CONFIG_MARKER);
  const at = out.indexOf(marker);
  if (at < 0 || out.indexOf(marker, at + 1) >= 0 || at + SHIM_CONFIG_SIZE > out.length) {
    throw new Error(`the shim does not hold exactly one config region (${SHIM_CONFIG_MARKER}): rebuild it`);
  }
  const sock = resolve(socket);
  const exe = resolve(oneshot);
  for (const [what, p] of [
    ['--socket', sock],
    ['the one-shot path', exe],
  ] as const) {
    if (/[\n\0]/.test(p)) throw new Error(`${what} ${q(p)} holds a newline or NUL`);
  }
  if (Buffer.byteLength(sock) > MAX_SOCKET_PATH) {
    throw new Error(`--socket ${sock} is longer than a unix socket path can be (${MAX_SOCKET_PATH} bytes)`);
  }
  const text = Buffer.from(`socket=${sock}\noneshot=${exe}\n`);
  const room = SHIM_CONFIG_SIZE - marker.length - 1; // a NUL always ends it
  if (text.length > room)
    throw new Error(`the shim's config (${text.length} bytes) does not fit its ${room}`);
  out.fill(0, at + marker.length, at + SHIM_CONFIG_SIZE);
  text.copy(out, at + marker.length);
  return out;
}

/** The config a shim holds (an installed copy), or undefined when it holds none. */
export function shimConfig(shim: Uint8Array): { socket: string; oneshot: string } | undefined {
  const buf = Buffer.from(shim.buffer, shim.byteOffset, shim.byteLength);
  const at = buf.indexOf(SHIM_CONFIG_MARKER);
  if (at < 0) return undefined;
  const start = at + SHIM_CONFIG_MARKER.length;
  const region = buf.subarray(start, Math.min(buf.length, at + SHIM_CONFIG_SIZE));
  const end = region.indexOf(0);
  const text = region.subarray(0, end < 0 ? region.length : end).toString();
  const socket = /^socket=(.*)$/m.exec(text)?.[1];
  const oneshot = /^oneshot=(.*)$/m.exec(text)?.[1];
  return socket && oneshot ? { socket, oneshot } : undefined;
}
