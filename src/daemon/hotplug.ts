/**
 * Hot-plug's trigger (docs/hotplug.md): the daemon's pod watch tells it when a pod of this
 * node changes; when the pod's `k8s.v1.cni.cncf.io/networks` annotation is not the one last
 * acted on, the pod is reconciled — its attachments compared with the annotation, new ones
 * attached, gone ones detached — by the `reconcile` the command hands in (src/cli/daemon/
 * hotplug-ops.ts, which knows the meta-plugin's caches; this file knows none of it). One
 * reconcile per pod at a time; a change that arrives meanwhile runs once more after it.
 * Transient failures (the API, a lock, a turn not given) are retried with a capped,
 * doubling backoff, never in a tight loop; permanent ones (a NAD that does not exist, an
 * address in use) wait for the next change of the annotation. After a start, once the watch
 * is synced, every pod the caches know is reconciled once: what a restart missed is done,
 * what should stay is matched and left alone. Counted and timed for /metrics.
 */
import type { JsonObject } from '../cni/host.ts';

export const NETWORKS_ANNOTATION = 'k8s.v1.cni.cncf.io/networks';

/** What one reconcile of a pod did. */
export interface ReconcileOutcome {
  /** The annotation value it acted on; undefined when the pod had nothing to reconcile (no attachment of ours, being deleted). */
  readonly acted?: string | undefined;
  readonly attached: number;
  readonly detached: number;
  /** Failures of single attachments; `transient` says whether a retry may help. */
  readonly failures: readonly { readonly transient: boolean; readonly message: string }[];
}

/** What the controller reads of the pod watch. */
export interface PodSource {
  readonly synced: boolean;
  get(namespace: string, name: string): JsonObject | undefined;
  listen(fn: (key: string | undefined) => void): () => void;
  whenSynced(): Promise<void>;
}

export interface HotplugOptions {
  readonly pods: PodSource;
  /** Reconciles one pod (through the daemon's per-container turn). */
  readonly reconcile: (namespace: string, name: string) => Promise<ReconcileOutcome>;
  /** The pods that have attachments of ours (from the caches): reconciled once after a start. */
  readonly known: () => Promise<readonly { readonly namespace: string; readonly name: string }[]>;
  readonly log: (line: string) => void;
  /** Backoff of transient failures (default 500 ms doubling to 30 s). */
  readonly backoffMs?: { readonly first: number; readonly max: number };
}

interface PodState {
  /** The annotation value last acted on completely (undefined: not yet). */
  applied: string | undefined;
  running: Promise<void> | undefined;
  again: boolean;
  retry: NodeJS.Timeout | undefined;
  failures: number;
  /** performance.now() of the change that is being acted on (for the latency). */
  since: number;
}

/** Latency buckets, seconds: a macvlan hot-plug is a few ms, the goal is 1 s. */
const BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

const annotationOf = (o: JsonObject | undefined): string => {
  const meta = (o?.metadata ?? {}) as { annotations?: Record<string, unknown> };
  const v = meta.annotations?.[NETWORKS_ANNOTATION];
  return typeof v === 'string' ? v : '';
};

const splitKey = (key: string): [string, string] => {
  const i = key.indexOf('/');
  return [key.slice(0, i), key.slice(i + 1)];
};

export class HotplugController {
  readonly #opts: HotplugOptions;
  readonly #pods = new Map<string, PodState>();
  #unlisten: (() => void) | undefined;
  #stopped = false;
  #initial: Promise<void> | undefined;
  /** Counters: attachments added and removed, failures by kind, reconciles. */
  readonly counts = {
    attached: 0,
    detached: 0,
    failedTransient: 0,
    failedPermanent: 0,
    reconciles: 0,
    retries: 0,
  };
  readonly #latency = { counts: BUCKETS.map(() => 0), sum: 0, count: 0 };

  constructor(opts: HotplugOptions) {
    this.#opts = opts;
  }

  start(): void {
    this.#unlisten = this.#opts.pods.listen((key) => this.#changed(key));
    this.#initial = this.#reconcileKnown();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#unlisten?.();
    for (const s of this.#pods.values()) clearTimeout(s.retry);
    await this.#initial;
    await Promise.all([...this.#pods.values()].map((s) => s.running));
  }

  /** Resolves once every reconcile asked for so far (and the ones they chained) is done. */
  async idle(): Promise<void> {
    await this.#initial;
    for (;;) {
      const running = [...this.#pods.values()].flatMap((s) => (s.running ? [s.running] : []));
      if (running.length === 0) return;
      await Promise.all(running);
    }
  }

  /** After a start: every pod the caches know, once the watch is synced. */
  async #reconcileKnown(): Promise<void> {
    await this.#opts.pods.whenSynced();
    if (this.#stopped) return;
    let known: readonly { namespace: string; name: string }[] = [];
    try {
      known = await this.#opts.known();
    } catch (err) {
      this.#opts.log(`hot-plug: cannot list the pods with attachments: ${(err as Error).message}`);
    }
    for (const p of known) this.#kick(`${p.namespace}/${p.name}`, true);
  }

  #changed(key: string | undefined): void {
    if (this.#stopped || !this.#opts.pods.synced) return;
    if (key === undefined) {
      // a relist (after a gap in the watch): any pod may have changed, and the ones with
      // attachments that were not seen yet are compared whatever their annotation
      for (const k of this.#pods.keys()) this.#kick(k, false);
      void this.#opts.known().then(
        (known) => {
          for (const p of known) {
            const k = `${p.namespace}/${p.name}`;
            if (!this.#pods.has(k) && !this.#stopped) this.#kick(k, true);
          }
        },
        (err: Error) => this.#opts.log(`hot-plug: cannot list the pods with attachments: ${err.message}`),
      );
      return;
    }
    this.#kick(key, false);
  }

  #kick(key: string, force: boolean): void {
    const [ns, name] = splitKey(key);
    const o = this.#opts.pods.get(ns, name);
    if (!o) {
      // gone: its DEL (the runtime's, or garbage collection's) removes everything
      const s = this.#pods.get(key);
      if (s && !s.running) {
        clearTimeout(s.retry);
        this.#pods.delete(key);
      }
      return;
    }
    const value = annotationOf(o);
    let s = this.#pods.get(key);
    if (!s) {
      // first seen without networks and not after a start: nothing of its own to compare
      s = { applied: undefined, running: undefined, again: false, retry: undefined, failures: 0, since: 0 };
      this.#pods.set(key, s);
      if (!force && value === '') {
        s.applied = '';
        return;
      }
    }
    if (!force && s.applied === value && !s.running) return;
    if (s.running) {
      s.again = true;
      return;
    }
    clearTimeout(s.retry);
    s.retry = undefined;
    s.since = performance.now();
    s.running = this.#run(key, s).finally(() => {
      s.running = undefined;
      if (s.again && !this.#stopped) {
        s.again = false;
        this.#kick(key, false);
      }
    });
  }

  async #run(key: string, s: PodState): Promise<void> {
    const [ns, name] = splitKey(key);
    this.counts.reconciles++;
    let out: ReconcileOutcome;
    try {
      out = await this.#opts.reconcile(ns, name);
    } catch (err) {
      out = { attached: 0, detached: 0, failures: [{ transient: true, message: (err as Error).message }] };
    }
    this.counts.attached += out.attached;
    this.counts.detached += out.detached;
    for (const f of out.failures) {
      if (f.transient) this.counts.failedTransient++;
      else this.counts.failedPermanent++;
      this.#opts.log(`hot-plug: pod ${key}: ${f.message}${f.transient ? ' (tried again)' : ''}`);
    }
    if (out.attached + out.detached > 0) this.#observe((performance.now() - s.since) / 1000);
    const transient = out.failures.some((f) => f.transient);
    if (!transient) {
      s.failures = 0;
      // a permanent failure is not retried: the next change of the annotation is
      s.applied = out.acted ?? annotationOf(this.#opts.pods.get(ns, name));
      return;
    }
    const { first, max } = this.#opts.backoffMs ?? { first: 500, max: 30_000 };
    const ms = Math.min(max, first * 2 ** s.failures);
    s.failures++;
    this.counts.retries++;
    s.retry = setTimeout(() => {
      s.retry = undefined;
      if (!this.#stopped) this.#kick(key, true);
    }, ms);
    s.retry.unref();
  }

  #observe(seconds: number): void {
    const l = this.#latency;
    BUCKETS.forEach((b, i) => {
      if (seconds <= b) l.counts[i] = (l.counts[i] ?? 0) + 1;
    });
    l.sum += seconds;
    l.count++;
  }

  metricLines(): string[] {
    const c = this.counts;
    const out = [
      '# HELP manifold_hotplug_attachments_total Attachments the daemon added to or removed from running pods (hot-plug).',
      '# TYPE manifold_hotplug_attachments_total counter',
      `manifold_hotplug_attachments_total{op="attach"} ${c.attached}`,
      `manifold_hotplug_attachments_total{op="detach"} ${c.detached}`,
      '# HELP manifold_hotplug_failures_total Hot-plug failures of one attachment: transient (retried with backoff) or permanent (waits for the next annotation change).',
      '# TYPE manifold_hotplug_failures_total counter',
      `manifold_hotplug_failures_total{kind="transient"} ${c.failedTransient}`,
      `manifold_hotplug_failures_total{kind="permanent"} ${c.failedPermanent}`,
      '# HELP manifold_hotplug_reconciles_total Pods compared with their networks annotation.',
      '# TYPE manifold_hotplug_reconciles_total counter',
      `manifold_hotplug_reconciles_total ${c.reconciles}`,
      '# HELP manifold_hotplug_retries_total Reconciles scheduled again after a transient failure.',
      '# TYPE manifold_hotplug_retries_total counter',
      `manifold_hotplug_retries_total ${c.retries}`,
      '# HELP manifold_hotplug_duration_seconds From the watch event of an annotation change to its network-status written, for reconciles that changed something.',
      '# TYPE manifold_hotplug_duration_seconds histogram',
    ];
    const l = this.#latency;
    BUCKETS.forEach((b, i) => {
      out.push(`manifold_hotplug_duration_seconds_bucket{le="${b}"} ${l.counts[i]}`);
    });
    out.push(`manifold_hotplug_duration_seconds_bucket{le="+Inf"} ${l.count}`);
    out.push(`manifold_hotplug_duration_seconds_sum ${Number(l.sum.toPrecision(9))}`);
    out.push(`manifold_hotplug_duration_seconds_count ${l.count}`);
    return out;
  }
}
