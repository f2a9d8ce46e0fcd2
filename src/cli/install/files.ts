/**
 * File writes for install/uninstall: atomic (a temp name in the same directory, then rename,
 * so a reader — containerd watching the config dir, kubelet exec'ing the plugin — sees the
 * old file or the new one, never half of one) and idempotent (unchanged content is not
 * rewritten). Temp names end in `.tmp`, which libcni never loads as a network config.
 */
import { chmodSync, copyFileSync, readFileSync } from 'node:fs';
import { writeFileAtomic } from '../../util/atomic.ts';
import { sameFile } from './same-file.ts';

function sameContent(path: string, data: Buffer): boolean {
  try {
    return readFileSync(path).equals(data);
  } catch {
    return false;
  }
}

/**
 * Writes `data` to `path` unless it already holds it; true when written. `durable` fsyncs the
 * temp file before the rename (the shim: a host crash right after install must not leave an
 * empty `manifold` for the runtime to execute).
 */
export function writeAtomic(path: string, data: string | Buffer, mode: number, durable = false): boolean {
  const buf = typeof data === 'string' ? Buffer.from(data) : data;
  if (sameContent(path, buf)) {
    chmodSync(path, mode);
    return false;
  }
  writeFileAtomic(path, buf, { mode, dirMode: 0o755, durable });
  return true;
}

/**
 * Copies an executable: a new file renamed over the old one, never written in place, so a
 * copy that is running (a CNI call in progress) keeps its own inode and nobody gets "text
 * file busy" (Multus #1221). True when copied, false when the target is already the same.
 * Neither step holds the file in memory: the comparison reads 256 KiB chunks (same-file.ts) and
 * copyFileSync copies in the kernel (FICLONE, else sendfile), never through a JS buffer.
 */
export function copyExecutable(source: string, target: string): boolean {
  if (sameFile(source, target)) return false;
  writeFileAtomic(target, (tmp) => copyFileSync(source, tmp), { mode: 0o755, dirMode: 0o755 });
  return true;
}
