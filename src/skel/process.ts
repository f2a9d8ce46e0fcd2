/**
 * The process's real stdin/stdout/stderr for the skel: synchronous writes (the process exits
 * right after), stdin read whole.
 */
import { readFileSync, writeSync } from 'node:fs';
import type { SkelIO } from './skel.ts';

function writeAll(fd: number, s: string): void {
  let buf = Buffer.from(s);
  while (buf.length > 0) {
    try {
      buf = buf.subarray(writeSync(fd, buf));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
    }
  }
}

async function readStdin(): Promise<Buffer> {
  try {
    return readFileSync(0);
  } catch (err) {
    // A non-blocking stdin (some runtimes hand one over) cannot be read synchronously.
    if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  }
}

export function processIO(): SkelIO {
  return {
    env: process.env,
    readStdin,
    stdout: (s) => writeAll(1, s),
    stderr: (s) => {
      try {
        writeAll(2, s);
      } catch {
        // stderr closed: nothing to tell
      }
    },
  };
}
