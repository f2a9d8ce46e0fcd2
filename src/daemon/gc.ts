/**
 * The daemon's own garbage collection. containerd never calls CNI GC, and of its two DELs per
 * pod the second has no netns; a DEL lost to a crash or a timeout leaves an attachment (its
 * links, its addresses, its cache) for good. So the daemon collects, on its own, the
 * attachments of pods that no longer exist on this node: it reads the meta-plugin's cache
 * files (each records its pod and the call as the runtime made it) and its synced pod watch,
 * and sends the very DEL a runtime would, through its own call path (so it waits behind any
 * call for that container). Never while the pod watch is not synced; never for an attachment
 * that is not a pod's; only once both the cache file and the pod's absence are older than the
 * grace period (a sandbox still starting is never touched); and only when the API server, asked
 * once, confirms the pod is gone (a wrong watch never costs a live pod its networks). Each one
 * freed is logged and counted.
 */
import type { JsonObject } from '../cni/host.ts';
import type { CniRequest, CniResponse } from './protocol.ts';

/** One attachment a cache file records, as garbage collection needs it. */
export interface GcCandidate {
  readonly file: string;
  /** Date.now() time of the cache file's last write. */
  readonly writtenMs: number;
  readonly containerId: string;
  readonly ifname: string;
  readonly pod: { readonly namespace: string; readonly name: string; readonly uid: string };
  /** The DEL a runtime would send for it. */
  readonly del: CniRequest;
}

/** What garbage collection reads of the pod watch. */
export interface PodView {
  readonly synced: boolean;
  /** performance.now() of the watch's first sync. */
  readonly firstSyncAt: number;
  get(namespace: string, name: string): JsonObject | undefined;
  goneAt(namespace: string, name: string): { readonly uid: string; readonly at: number } | undefined;
}

export interface CollectorOptions {
  /** Every attachment cache of a pod (read without blocking). */
  readonly candidates: () => Promise<readonly GcCandidate[]>;
  readonly pods: PodView;
  /** Whether the watch's object is the pod of this uid ("" matches any; a mirror pod matches by name). */
  readonly samePod: (o: JsonObject, uid: string) => boolean;
  /** Whether the API server confirms the pod is gone (asked before any DEL; false: it cannot say, or it exists). */
  readonly confirmGone: (namespace: string, name: string, uid: string) => Promise<boolean>;
  /** Runs the DEL through the daemon (undefined: not run, e.g. draining). */
  readonly run: (req: CniRequest) => Promise<CniResponse | undefined>;
  readonly graceMs: number;
  /** Between sweeps. */
  readonly intervalMs: number;
  readonly log: (line: string) => void;
}

export class Collector {
  readonly #opts: CollectorOptions;
  #timer: NodeJS.Timeout | undefined;
  #sweeping: Promise<number> | undefined;
  #stopped = false;
  /** Attachments freed, DELs that failed, sweeps skipped because the watch was not synced. */
  freed = 0;
  failed = 0;
  skippedUnsynced = 0;
  /** Candidates the API server did not confirm gone (kept). */
  unconfirmed = 0;
  readonly #warned = new Set<string>();

  constructor(opts: CollectorOptions) {
    this.#opts = opts;
  }

  start(): void {
    const tick = () => {
      this.#timer = setTimeout(async () => {
        await this.sweep();
        if (!this.#stopped) tick();
      }, this.#opts.intervalMs);
      this.#timer.unref();
    };
    tick();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#sweeping;
  }

  /** One pass; resolves with how many attachments it freed (one pass at a time). */
  sweep(): Promise<number> {
    this.#sweeping ??= this.#sweep().finally(() => {
      this.#sweeping = undefined;
    });
    return this.#sweeping;
  }

  async #sweep(): Promise<number> {
    const { pods, graceMs } = this.#opts;
    if (!pods.synced) {
      this.skippedUnsynced++;
      return 0;
    }
    let freed = 0;
    for (const c of await this.#opts.candidates()) {
      if (this.#stopped || !pods.synced) break;
      const { namespace, name, uid } = c.pod;
      const o = pods.get(namespace, name);
      if (o && this.#opts.samePod(o, uid)) continue;
      const gone = pods.goneAt(namespace, name);
      const absentSince = gone && (!uid || gone.uid === uid) ? gone.at : pods.firstSyncAt;
      if (performance.now() - absentSince < graceMs) continue;
      if (Date.now() - c.writtenMs < graceMs) continue;
      const ref = `pod ${namespace}/${name}${uid ? ` (uid ${uid})` : ''}`;
      if (!(await this.#opts.confirmGone(namespace, name, uid))) {
        this.unconfirmed++;
        if (!this.#warned.has(c.file)) {
          this.#warned.add(c.file);
          this.#opts.log(
            `garbage collection: ${ref} is not in this node's pod watch, but the API server does not confirm it is gone: ${c.containerId}/${c.ifname} kept (is --node-name this node's?)`,
          );
        }
        continue;
      }
      const answer = await this.#opts.run(c.del);
      if (!answer) continue;
      if (answer.status === 0) {
        freed++;
        this.freed++;
        this.#opts.log(
          `garbage collection: ${ref} no longer exists on this node: deleted its attachment ${c.containerId}/${c.ifname} (${c.file})`,
        );
      } else {
        this.failed++;
        this.#opts.log(
          `garbage collection: DEL of ${c.containerId}/${c.ifname} for ${ref} failed (tried again next pass): ${answer.stdout.trim()}`,
        );
      }
    }
    return freed;
  }

  metricLines(): string[] {
    return [
      '# HELP manifold_gc_freed_total Attachments of pods gone from this node that the daemon deleted itself.',
      '# TYPE manifold_gc_freed_total counter',
      `manifold_gc_freed_total ${this.freed}`,
      '# HELP manifold_gc_failed_total Garbage-collection DELs that failed (tried again next pass).',
      '# TYPE manifold_gc_failed_total counter',
      `manifold_gc_failed_total ${this.failed}`,
      '# HELP manifold_gc_skipped_unsynced_total Garbage-collection passes skipped because the pod watch was not synced.',
      '# TYPE manifold_gc_skipped_unsynced_total counter',
      `manifold_gc_skipped_unsynced_total ${this.skippedUnsynced}`,
      '# HELP manifold_gc_unconfirmed_total Attachments kept because the API server did not confirm their pod gone.',
      '# TYPE manifold_gc_unconfirmed_total counter',
      `manifold_gc_unconfirmed_total ${this.unconfirmed}`,
    ];
  }
}
