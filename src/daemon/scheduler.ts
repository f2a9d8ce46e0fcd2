/**
 * Who runs when. Calls for one container run one after another, in arrival order (a runtime
 * may send a DEL while its ADD is still running); calls for different containers run at
 * once, at most `limit` together, the others waiting in one FIFO. A call that has waited
 * `budget` ms is refused at once (the caller answers code 11, so kubelet retries later)
 * instead of piling up until the daemon is OOM-killed; so is one that finds `maxWaiting`
 * calls already waiting, or whose request would take the bytes held by waiting calls past
 * `maxWaitingBytes` (a waiting call holds its request body: 1024 bodies of 4 MiB would be 4 GiB).
 *
 * A nested call (one a running call started: an executed plugin whose IPAM is the shim comes
 * back into the daemon with the same container id) is let through at once with `nested()`:
 * queued behind its own parent, it would wait until its budget ran out.
 */

export type Admission =
  /** It may run now; call `done` when it ends (on failure too). */
  | { readonly ok: true; readonly waitedMs: number; readonly done: () => void }
  /** It was refused: it waited past its budget, or the queue was full. */
  | { readonly ok: false; readonly waitedMs: number; readonly why: 'budget' | 'full' };

interface Waiter {
  readonly key: string | undefined;
  readonly bytes: number;
  readonly since: number;
  readonly resolve: (a: Admission) => void;
  timer: NodeJS.Timeout | undefined;
}

export class Scheduler {
  #running = 0;
  readonly #busy = new Set<string>();
  #waiting: Waiter[] = [];
  #waitingBytes = 0;

  readonly limit: number;
  readonly maxWaiting: number;
  readonly maxWaitingBytes: number;

  constructor(limit: number, maxWaiting = 1024, maxWaitingBytes = 32 << 20) {
    this.limit = limit;
    this.maxWaiting = maxWaiting;
    this.maxWaitingBytes = maxWaitingBytes;
  }

  /** The request bytes the waiting calls hold. */
  get waitingBytes(): number {
    return this.#waitingBytes;
  }

  /** Calls running now. */
  get running(): number {
    return this.#running;
  }

  /** Calls waiting (for their container or for a slot). */
  get waiting(): number {
    return this.#waiting.length;
  }

  /**
   * Waits for a slot (and, with `key`, for the calls of that container that came before);
   * refused once `budgetMs` have passed. `bytes`: the size of the request it holds meanwhile.
   */
  admit(key: string | undefined, budgetMs: number, bytes = 0): Promise<Admission> {
    const since = performance.now();
    return new Promise((resolve) => {
      if (this.#waiting.length === 0 && this.#free(key)) {
        resolve(this.#start(key, since));
        return;
      }
      if (this.#waiting.length >= this.maxWaiting || this.#waitingBytes + bytes > this.maxWaitingBytes) {
        resolve({ ok: false, waitedMs: 0, why: 'full' });
        return;
      }
      const w: Waiter = { key, bytes, since, resolve, timer: undefined };
      this.#waitingBytes += bytes;
      w.timer = setTimeout(() => {
        const i = this.#waiting.indexOf(w);
        if (i < 0) return;
        this.#waiting.splice(i, 1);
        this.#waitingBytes -= w.bytes;
        resolve({ ok: false, waitedMs: performance.now() - since, why: 'budget' });
        this.#pump();
      }, budgetMs);
      this.#waiting.push(w);
      this.#pump();
    });
  }

  /**
   * A call made by a running call (its parent holds the container's turn and a slot): it runs
   * now, beside its parent, whatever the limit; it counts as running until `done`.
   */
  nested(): Admission {
    this.#running++;
    let ended = false;
    const done = () => {
      if (ended) return;
      ended = true;
      this.#running--;
      this.#pump();
    };
    return { ok: true, waitedMs: 0, done };
  }

  #free(key: string | undefined): boolean {
    return this.#running < this.limit && (key === undefined || !this.#busy.has(key));
  }

  #start(key: string | undefined, since: number): Admission {
    this.#running++;
    if (key !== undefined) this.#busy.add(key);
    let ended = false;
    const done = () => {
      if (ended) return;
      ended = true;
      this.#running--;
      if (key !== undefined) this.#busy.delete(key);
      this.#pump();
    };
    return { ok: true, waitedMs: performance.now() - since, done };
  }

  /** Starts every waiting call that may run, in arrival order; a container's later calls stay behind its first. */
  #pump(): void {
    if (this.#running >= this.limit) return;
    const passed = new Set<string>();
    const still: Waiter[] = [];
    for (const w of this.#waiting) {
      const behind = w.key !== undefined && passed.has(w.key);
      if (!behind && this.#free(w.key)) {
        clearTimeout(w.timer);
        this.#waitingBytes -= w.bytes;
        w.resolve(this.#start(w.key, w.since));
      } else {
        still.push(w);
        if (w.key !== undefined) passed.add(w.key);
      }
    }
    this.#waiting = still;
  }
}
