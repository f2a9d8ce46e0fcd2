/**
 * A list+watch cache of one kind of API object, as client-go's reflector keeps one: LIST (in
 * pages) fills the store and gives the collection's resourceVersion; a WATCH from there keeps
 * it current (ADDED/MODIFIED/DELETED; BOOKMARK only moves the resourceVersion). A watch the
 * server ends normally (its timeoutSeconds) is resumed from the last resourceVersion; a 410
 * Gone (as an HTTP status or an ERROR event: the version is older than the server keeps)
 * means list again; any other failure is retried with a capped backoff. The store is
 * "synced" only while it is known to be complete: after a list, and while the watch is
 * connected or resumed without a gap; never after a failure, until the watch or a list is
 * back. Objects are trimmed to what their users read before they are kept.
 */

import { describeError } from '../cni/errors.ts';
import type { JsonObject } from '../cni/host.ts';
import { type Agents, keptAliveAgents, sendOnce } from './client.ts';
import type { TargetSource } from './target.ts';
import { parseWatchLine, resourceVersionOf, streamLines } from './watch.ts';

export interface InformerOptions {
  /** For logs and metrics: `pods`, `network-attachment-definitions`. */
  readonly resource: string;
  /** The collection's path, e.g. `/api/v1/pods`. */
  readonly path: string;
  /** Extra query of both list and watch, e.g. `fieldSelector=spec.nodeName=node1`. */
  readonly selector?: Readonly<Record<string, string>>;
  readonly source: TargetSource;
  /** What is kept of an object. */
  readonly trim: (o: JsonObject) => JsonObject;
  /** The watch's timeoutSeconds (default 300): the server ends it then, and it is resumed. */
  readonly timeoutSeconds?: number;
  /** Capped backoff between failed attempts (default 250 ms doubling to 10 s). */
  readonly backoffMs?: { readonly first: number; readonly max: number };
  /** One line per state change (up, down, relist), never per event. */
  readonly log?: (line: string) => void;
  /** Page size of a list (default 500). */
  readonly pageSize?: number;
}

export type EventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';

/** What the metrics read of an informer. */
export interface InformerStats {
  /** The watch is connected now. */
  readonly up: boolean;
  readonly synced: boolean;
  readonly events: Readonly<Record<EventType, number>>;
  /** Lists made (the first one included). */
  readonly lists: number;
  /** Failed lists and watches (transport, HTTP, malformed lines). */
  readonly errors: number;
  /** performance.now() of the last event or list; 0 before any. */
  readonly lastEventAt: number;
  readonly objects: number;
}

const LIST_TIMEOUT_MS = 60_000;

const keyOf = (o: JsonObject): string => {
  const m = (o.metadata ?? {}) as { namespace?: unknown; name?: unknown };
  return `${typeof m.namespace === 'string' ? m.namespace : ''}/${typeof m.name === 'string' ? m.name : ''}`;
};

class Gone extends Error {}

export class Informer {
  readonly #opts: InformerOptions;
  readonly #store = new Map<string, JsonObject>();
  /** When an object left the store (DELETED, or missing from a relist), by key: for garbage collection. */
  readonly #goneAt = new Map<string, { readonly uid: string; readonly at: number }>();
  readonly #agents: Agents = keptAliveAgents();
  readonly #abort = new AbortController();
  #rv: string | undefined;
  #synced = false;
  #up = false;
  #firstSyncAt = 0;
  #running: Promise<void> | undefined;
  #syncWaiters: (() => void)[] = [];
  #events: Record<EventType, number> = { ADDED: 0, MODIFIED: 0, DELETED: 0, BOOKMARK: 0, ERROR: 0 };
  #lists = 0;
  #errors = 0;
  #lastEventAt = 0;
  /** Told of each object changed by an event (its key), or of a relist (undefined: anything may have). */
  readonly #listeners = new Set<(key: string | undefined) => void>();

  constructor(opts: InformerOptions) {
    this.#opts = opts;
  }

  get resource(): string {
    return this.#opts.resource;
  }

  get synced(): boolean {
    return this.#synced;
  }

  /** performance.now() of the first time the store was synced; 0 before. */
  get firstSyncAt(): number {
    return this.#firstSyncAt;
  }

  /** The last resourceVersion seen (a list's, an event's or a bookmark's). */
  get resourceVersion(): string | undefined {
    return this.#rv;
  }

  get stats(): InformerStats {
    return {
      up: this.#up,
      synced: this.#synced,
      events: { ...this.#events },
      lists: this.#lists,
      errors: this.#errors,
      lastEventAt: this.#lastEventAt,
      objects: this.#store.size,
    };
  }

  /** The object `namespace/name` as last seen (whether or not the store is synced). */
  get(namespace: string, name: string): JsonObject | undefined {
    return this.#store.get(`${namespace}/${name}`);
  }

  /** When `namespace/name` left the store, and which uid it had then. */
  goneAt(namespace: string, name: string): { readonly uid: string; readonly at: number } | undefined {
    return this.#goneAt.get(`${namespace}/${name}`);
  }

  /**
   * Calls `fn` after each ADDED, MODIFIED or DELETED event is in the store (with the object's
   * `namespace/name`) and after each list (with undefined). Returns the unsubscribe.
   */
  listen(fn: (key: string | undefined) => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  #tell(key: string | undefined): void {
    for (const fn of this.#listeners) {
      try {
        fn(key);
      } catch {
        // a listener's failure is its own
      }
    }
  }

  /** Starts listing and watching in the background. */
  start(): void {
    this.#running ??= this.#loop();
  }

  /** Resolves once the store is synced (at once if it is). */
  whenSynced(): Promise<void> {
    if (this.#synced) return Promise.resolve();
    return new Promise((resolve) => this.#syncWaiters.push(resolve));
  }

  async stop(): Promise<void> {
    this.#abort.abort();
    await this.#running;
    this.#agents.http.destroy();
    this.#agents.https.destroy();
  }

  #setSynced(v: boolean): void {
    this.#synced = v;
    if (!v) return;
    if (!this.#firstSyncAt) this.#firstSyncAt = performance.now();
    for (const w of this.#syncWaiters.splice(0)) w();
  }

  async #loop(): Promise<void> {
    const first = this.#opts.backoffMs?.first ?? 250;
    const max = this.#opts.backoffMs?.max ?? 10_000;
    let backoff = first;
    let failing = false;
    const signal = this.#abort.signal;
    while (!signal.aborted) {
      try {
        if (this.#rv === undefined) await this.#list();
        await this.#watch();
        backoff = first;
        if (failing) this.#opts.log?.(`watch of ${this.resource} is back`);
        failing = false;
      } catch (err) {
        this.#up = false;
        this.#setSynced(false);
        if (signal.aborted) break;
        if (err instanceof Gone) {
          this.#rv = undefined;
          this.#opts.log?.(`watch of ${this.resource}: ${err.message}: listing again`);
          continue;
        }
        this.#errors++;
        if (!failing)
          this.#opts.log?.(`watch of ${this.resource} failed: ${describeError(err)}; retrying with backoff`);
        failing = true;
        await sleep(backoff, signal);
        backoff = Math.min(backoff * 2, max);
      }
    }
    this.#up = false;
    this.#setSynced(false);
  }

  #query(extra: Record<string, string>): string {
    const q = new URLSearchParams({ ...(this.#opts.selector ?? {}), ...extra });
    return `${this.#opts.path}?${q.toString()}`;
  }

  /** Lists every object (in pages) into a new store; its resourceVersion is where the watch starts. */
  async #list(): Promise<void> {
    const fresh = new Map<string, JsonObject>();
    let cont = '';
    let rv: string | undefined;
    do {
      const target = await this.#opts.source();
      const extra: Record<string, string> = { limit: String(this.#opts.pageSize ?? 500) };
      if (cont) extra.continue = cont;
      const reply = await sendOnce(
        this.#agents,
        target,
        'GET',
        this.#query(extra),
        undefined,
        'application/json',
        LIST_TIMEOUT_MS,
      );
      if (reply.status === 410) throw new Gone('the list continuation expired (410)');
      if (reply.status !== 200)
        throw new Error(`list ${this.resource}: HTTP ${reply.status}${statusMessage(reply.body)}`);
      const body = reply.body as {
        metadata?: { resourceVersion?: unknown; continue?: unknown };
        items?: unknown;
      };
      if (!Array.isArray(body?.items)) throw new Error(`list ${this.resource}: no items in the answer`);
      for (const item of body.items as unknown[]) {
        if (item && typeof item === 'object') {
          const o = this.#opts.trim(item as JsonObject);
          fresh.set(keyOf(o), o);
        }
      }
      rv = typeof body.metadata?.resourceVersion === 'string' ? body.metadata.resourceVersion : undefined;
      cont = typeof body.metadata?.continue === 'string' ? body.metadata.continue : '';
      // a long list is many turns of the event loop, never one
      await new Promise((r) => setImmediate(r));
    } while (cont);
    if (!rv) throw new Error(`list ${this.resource}: no metadata.resourceVersion in the answer`);
    const now = performance.now();
    for (const [k, o] of this.#store) if (!fresh.has(k)) this.#markGone(k, o, now);
    this.#store.clear();
    for (const [k, o] of fresh) {
      this.#store.set(k, o);
      this.#goneAt.delete(k);
    }
    this.#rv = rv;
    this.#lists++;
    this.#lastEventAt = now;
    this.#setSynced(true);
    this.#tell(undefined);
  }

  #markGone(key: string, o: JsonObject, at: number): void {
    const meta = (o.metadata ?? {}) as { uid?: unknown };
    this.#goneAt.set(key, { uid: typeof meta.uid === 'string' ? meta.uid : '', at });
    // bounded: the oldest go first (a Map keeps insertion order)
    if (this.#goneAt.size > 10_000) {
      const oldest = this.#goneAt.keys().next().value;
      if (oldest !== undefined) this.#goneAt.delete(oldest);
    }
  }

  /** One watch from the last resourceVersion, until the server ends it. */
  async #watch(): Promise<void> {
    const target = await this.#opts.source();
    const timeout = this.#opts.timeoutSeconds ?? 300;
    const path = this.#query({
      watch: '1',
      resourceVersion: this.#rv ?? '',
      allowWatchBookmarks: 'true',
      timeoutSeconds: String(timeout),
    });
    let failure: Error | undefined;
    const end = await streamLines(target, path, {
      signal: this.#abort.signal,
      idleMs: (timeout + 30) * 1000,
      onOpen: () => {
        this.#up = true;
        this.#setSynced(true);
      },
      onLine: (line) => {
        failure = this.#apply(line);
        return failure === undefined;
      },
    });
    if (end.kind === 'refused') {
      if (end.status === 410) throw new Gone(`resourceVersion ${this.#rv} is too old (HTTP 410)`);
      throw new Error(`watch ${this.resource}: HTTP ${end.status}${statusMessage(end.body)}`);
    }
    if (failure) throw failure;
    // ended by the server: resumed from the last resourceVersion, with no gap
  }

  /** Applies one line; returns why the stream must end, or undefined. */
  #apply(line: string): Error | undefined {
    const e = parseWatchLine(line);
    if ('malformed' in e) return new Error(`watch ${this.resource}: malformed event: ${e.malformed}`);
    this.#events[e.type]++;
    this.#lastEventAt = performance.now();
    if (e.type === 'ERROR') {
      if (e.code === 410)
        return new Gone(`the watch says ${e.reason || 'Gone'}: ${e.message || 'too old resource version'}`);
      return new Error(`watch ${this.resource}: ERROR event ${e.code} ${e.reason}: ${e.message}`);
    }
    this.#rv = resourceVersionOf(e.object);
    if (e.type === 'BOOKMARK') return undefined;
    const o = this.#opts.trim(e.object);
    const key = keyOf(o);
    if (e.type === 'DELETED') {
      this.#store.delete(key);
      this.#markGone(key, o, this.#lastEventAt);
    } else {
      this.#store.set(key, o);
      this.#goneAt.delete(key);
    }
    this.#tell(key);
    return undefined;
  }
}

function statusMessage(body: unknown): string {
  const m = (body as { message?: unknown } | undefined)?.message;
  return typeof m === 'string' && m ? `: ${m}` : '';
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done);
  });
}
