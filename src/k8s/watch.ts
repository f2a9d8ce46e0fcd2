/**
 * The Kubernetes watch protocol, as the API server speaks it: a GET with `watch=1` answered
 * by a chunked stream of newline-delimited JSON events (`{"type": ADDED|MODIFIED|DELETED|
 * BOOKMARK|ERROR, "object": …}`), each object carrying its `metadata.resourceVersion`; an
 * ERROR event carries a Status (code 410 Gone: the resourceVersion asked for is too old, the
 * client must list again). This file turns the bytes into events and opens one such stream
 * on its own connection; src/k8s/informer.ts keeps a store from it. Nothing here blocks: the
 * stream is read as it arrives and one line is parsed at a time.
 */
import * as http from 'node:http';
import * as https from 'node:https';
import type { JsonObject } from '../cni/host.ts';
import { requestOptions } from './client.ts';
import type { Target } from './target.ts';

/** A line longer than this is refused (an object is a few KiB; this is not a watch stream). */
export const MAX_LINE_BYTES = 16 << 20;

export type WatchEvent =
  | { readonly type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK'; readonly object: JsonObject }
  | { readonly type: 'ERROR'; readonly code: number; readonly reason: string; readonly message: string };

/** A line that is not a watch event, and why. */
export interface Malformed {
  readonly malformed: string;
}

/** Splits a byte stream into lines (a line may come in many chunks, a chunk hold many lines). */
export class LineSplitter {
  #pending: Buffer[] = [];
  #size = 0;

  /** The complete lines in what has arrived so far (empty lines dropped); throws past MAX_LINE_BYTES. */
  push(chunk: Buffer): string[] {
    const lines: string[] = [];
    let start = 0;
    for (let nl = chunk.indexOf(10); nl >= 0; nl = chunk.indexOf(10, start)) {
      const part = chunk.subarray(start, nl);
      const line = this.#pending.length ? Buffer.concat([...this.#pending, part]) : part;
      this.#pending = [];
      this.#size = 0;
      const text = line.toString('utf8').trim();
      if (text) lines.push(text);
      start = nl + 1;
    }
    if (start < chunk.length) {
      this.#size += chunk.length - start;
      if (this.#size > MAX_LINE_BYTES) throw new Error(`a watch event longer than ${MAX_LINE_BYTES} bytes`);
      this.#pending.push(chunk.subarray(start));
    }
    return lines;
  }

  /** Bytes of an unfinished line. */
  get pending(): number {
    return this.#size;
  }
}

const isObject = (v: unknown): v is JsonObject => !!v && typeof v === 'object' && !Array.isArray(v);

/** The object's `metadata.resourceVersion`, when it has one. */
export function resourceVersionOf(o: unknown): string | undefined {
  const meta = isObject(o) ? o.metadata : undefined;
  const rv = isObject(meta) ? meta.resourceVersion : undefined;
  return typeof rv === 'string' && rv !== '' ? rv : undefined;
}

/** One line of a watch stream as an event, or why it is none. */
export function parseWatchLine(line: string): WatchEvent | Malformed {
  let json: unknown;
  try {
    json = JSON.parse(line);
  } catch {
    return { malformed: `not JSON: ${line.slice(0, 80)}` };
  }
  if (!isObject(json)) return { malformed: 'not a JSON object' };
  const { type, object } = json;
  if (!isObject(object)) return { malformed: `event ${String(type)} has no object` };
  if (type === 'ERROR') {
    return {
      type,
      code: typeof object.code === 'number' ? object.code : 0,
      reason: typeof object.reason === 'string' ? object.reason : '',
      message: typeof object.message === 'string' ? object.message : '',
    };
  }
  if (type !== 'ADDED' && type !== 'MODIFIED' && type !== 'DELETED' && type !== 'BOOKMARK')
    return { malformed: `unknown event type ${JSON.stringify(type)}` };
  if (!resourceVersionOf(object)) return { malformed: `${type} event without metadata.resourceVersion` };
  return { type, object };
}

/** How a watch stream ended. */
export type StreamEnd =
  /** The server ended it (its timeoutSeconds): resume from the last resourceVersion. */
  | { readonly kind: 'ended' }
  /** The server did not take the watch: its HTTP status and Status body. */
  | { readonly kind: 'refused'; readonly status: number; readonly body: unknown }
  /** The handler stopped it (an ERROR event, a malformed line), or it was aborted. */
  | { readonly kind: 'stopped' };

export interface StreamOptions {
  readonly signal: AbortSignal;
  /** No byte for this long: the connection is taken for dead. */
  readonly idleMs: number;
  /** The server took the watch (HTTP 200). */
  readonly onOpen?: () => void;
  /** Each line; return false to end the stream. */
  readonly onLine: (line: string) => boolean;
}

/**
 * GETs `path` (a watch) on a connection of its own and hands each line over as it arrives.
 * Rejects on a transport failure (refused, reset, idle past `idleMs`, a line too long).
 */
export function streamLines(target: Target, path: string, opts: StreamOptions): Promise<StreamEnd> {
  const { options, tls } = requestOptions(target, 'GET', path, { accept: 'application/json' }, undefined);
  return new Promise<StreamEnd>((resolve, reject) => {
    let settled = false;
    const finish = (fn: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(idle);
      opts.signal.removeEventListener('abort', onAbort);
      fn();
    };
    let idle: NodeJS.Timeout;
    const req = (tls ? https : http).request(options, (res) => {
      const status = res.statusCode ?? 0;
      if (status !== 200) {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          let body: unknown;
          try {
            body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
          } catch {
            body = undefined;
          }
          finish(() => resolve({ kind: 'refused', status, body }));
        });
        return;
      }
      opts.onOpen?.();
      const lines = new LineSplitter();
      res.on('data', (c: Buffer) => {
        arm();
        let got: string[];
        try {
          got = lines.push(c);
        } catch (err) {
          req.destroy(err as Error);
          return;
        }
        for (const line of got) {
          if (settled) return;
          if (!opts.onLine(line)) {
            finish(() => resolve({ kind: 'stopped' }));
            req.destroy();
            return;
          }
        }
      });
      res.on('end', () => finish(() => resolve({ kind: 'ended' })));
      res.on('error', (err) => finish(() => reject(err)));
    });
    const arm = () => {
      clearTimeout(idle);
      idle = setTimeout(() => {
        const err = new Error(
          `no byte from the watch in ${Math.round(opts.idleMs / 1000)} s`,
        ) as NodeJS.ErrnoException;
        err.code = 'ETIMEDOUT';
        req.destroy(err);
      }, opts.idleMs);
    };
    const onAbort = () => {
      finish(() => resolve({ kind: 'stopped' }));
      req.destroy();
    };
    if (opts.signal.aborted) return onAbort();
    opts.signal.addEventListener('abort', onAbort);
    arm();
    req.on('error', (err) => finish(() => reject(err)));
    req.end();
  });
}
