/**
 * The daemon's unix socket: root only (the socket 0600 in a 0700 directory), and taken over
 * atomically. The server binds a temporary name beside the final one, is made 0600, then
 * renamed over the final name: a client sees the old socket or the new one, never none, so a
 * new daemon can take over from one that is still finishing its calls (a rolling upgrade).
 * Binding a temporary name also keeps libuv, which unlinks a unix socket's bound path when
 * it is closed, from ever unlinking the socket of the daemon that replaced this one.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, lstatSync, renameSync, statSync, unlinkSync } from 'node:fs';
import type { Server } from 'node:http';
import { connect } from 'node:net';
import { dirname, join } from 'node:path';
import { ensureDir } from '../util/dirs.ts';

/** Where the shim appends a line per call it ran one-shot instead (`<unix time> <verb> <reason>`). */
export function fallbacksLog(socketPath: string): string {
  return join(dirname(socketPath), 'fallbacks.log');
}

/** Whether a daemon answers on `path`: a connect that succeeds. */
export function isLive(path: string, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    const end = (live: boolean) => {
      clearTimeout(timer);
      s.destroy();
      resolve(live);
    };
    const timer = setTimeout(() => end(false), timeoutMs);
    s.once('connect', () => end(true));
    s.once('error', () => end(false));
  });
}

/**
 * Checks that `path` may be served: its directory is made 0700 (an existing one must already
 * be private: it is never loosened or tightened behind its owner's back), and a socket already
 * there is stale (nothing answers) or, with `replace`, may be taken over.
 */
export async function checkSocketPath(path: string, replace: boolean): Promise<void> {
  const dir = dirname(path);
  ensureDir(dir, 0o700);
  const d = statSync(dir);
  if ((d.mode & 0o077) !== 0 || d.uid !== process.getuid?.()) {
    throw new Error(
      `socket directory ${dir} must be owned by this user and private (0700), it is ${(d.mode & 0o777).toString(8)} owned by uid ${d.uid}`,
    );
  }
  const st = lstatSync(path, { throwIfNoEntry: false });
  if (!st) return;
  if (!st.isSocket()) throw new Error(`${path} exists and is not a socket`);
  if (!replace && (await isLive(path))) {
    throw new Error(`a daemon already serves ${path} (--replace takes over from it)`);
  }
}

/** Serves `server` on `path`: bound under a temporary name, made 0600, renamed into place. */
export async function listenOn(server: Server, path: string): Promise<void> {
  const temp = join(dirname(path), `.manifold.${process.pid}.${randomBytes(4).toString('hex')}.sock`);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(temp, () => {
      server.off('error', reject);
      resolve();
    });
  });
  try {
    chmodSync(temp, 0o600);
    renameSync(temp, path);
  } catch (err) {
    server.close();
    try {
      unlinkSync(temp);
    } catch {
      // already gone
    }
    throw err;
  }
}
