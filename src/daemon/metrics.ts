/**
 * The daemon's Prometheus metrics, written by hand: a counter, a gauge read when scraped and a
 * histogram are a few dozen lines, and the text format is plain. (No library is installed;
 * prom-client would add its module load to every daemon start for what fits in this file.)
 */

/** Request latency buckets, seconds: a netlink-only call takes ~1 ms, an executed delegate tens. */
const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

type Labels = Readonly<Record<string, string>>;

const labelText = (labels: Labels, extra?: [string, string]): string => {
  const all = Object.entries(labels);
  if (extra) all.push(extra);
  if (all.length === 0) return '';
  const esc = (v: string) => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
  return `{${all.map(([k, v]) => `${k}="${esc(v)}"`).join(',')}}`;
};

const num = (n: number): string => (Number.isInteger(n) ? String(n) : String(Number(n.toPrecision(9))));

class Histogram {
  readonly #series = new Map<string, { labels: Labels; counts: number[]; sum: number; count: number }>();

  readonly name: string;
  readonly help: string;
  readonly buckets: readonly number[];

  constructor(name: string, help: string, buckets: readonly number[] = LATENCY_BUCKETS) {
    this.name = name;
    this.help = help;
    this.buckets = buckets;
  }

  observe(labels: Labels, seconds: number): void {
    const key = labelText(labels);
    let s = this.#series.get(key);
    if (!s) {
      s = { labels, counts: this.buckets.map(() => 0), sum: 0, count: 0 };
      this.#series.set(key, s);
    }
    for (let i = 0; i < this.buckets.length; i++)
      if (seconds <= (this.buckets[i] as number)) s.counts[i] = (s.counts[i] ?? 0) + 1;
    s.sum += seconds;
    s.count++;
  }

  render(out: string[]): void {
    out.push(`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`);
    for (const s of this.#series.values()) {
      this.buckets.forEach((b, i) => {
        out.push(`${this.name}_bucket${labelText(s.labels, ['le', num(b)])} ${s.counts[i]}`);
      });
      out.push(`${this.name}_bucket${labelText(s.labels, ['le', '+Inf'])} ${s.count}`);
      out.push(`${this.name}_sum${labelText(s.labels)} ${num(s.sum)}`);
      out.push(`${this.name}_count${labelText(s.labels)} ${s.count}`);
    }
  }
}

const gauge = (out: string[], name: string, help: string, value: number, type = 'gauge'): void => {
  out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, `${name} ${num(value)}`);
};

/** What a scrape reads at that moment. */
export interface Readings {
  readonly inFlight: number;
  readonly queued: number;
  readonly draining: boolean;
  /** Lines of the shim's fallbacks.log. */
  readonly fallbacks: number;
  readonly rssBytes: number;
  /** Lines of other parts (Kubernetes watches, garbage collection), already in the text format. */
  readonly extra?: readonly string[];
}

export class Metrics {
  readonly #latency = new Histogram(
    'manifold_request_duration_seconds',
    'CNI requests by verb and outcome (ok, or error with its CNI code), arrival to answer.',
  );
  readonly #wait = new Histogram('manifold_queue_wait_seconds', 'Time a CNI request waited for its turn.');
  readonly #delegate = new Histogram(
    'manifold_delegate_duration_seconds',
    "Each delegate a call ran, by its plugin type, verb and outcome (in-process built-ins and executed plugins alike; a delegate's own IPAM is part of it).",
  );

  /** One answered request; `code` 0 is success. */
  request(verb: string, code: number, seconds: number): void {
    this.#latency.observe({ verb, outcome: code === 0 ? 'ok' : 'error', code: String(code) }, seconds);
  }

  queueWait(verb: string, seconds: number): void {
    this.#wait.observe({ verb }, seconds);
  }

  /** One delegate run by a call (the invoker's `invoke`). */
  delegate(type: string, verb: string, ok: boolean, seconds: number): void {
    this.#delegate.observe({ type, verb, outcome: ok ? 'ok' : 'error' }, seconds);
  }

  render(r: Readings): string {
    const out: string[] = [];
    this.#latency.render(out);
    this.#wait.render(out);
    this.#delegate.render(out);
    gauge(out, 'manifold_requests_in_flight', 'CNI requests running now.', r.inFlight);
    gauge(out, 'manifold_queue_length', 'CNI requests waiting for their turn.', r.queued);
    gauge(
      out,
      'manifold_draining',
      '1 after SIGTERM: only DEL, STATUS and VERSION are taken.',
      r.draining ? 1 : 0,
    );
    gauge(
      out,
      'manifold_shim_fallbacks_total',
      'Calls the shim ran one-shot because the daemon could not take them (fallbacks.log).',
      r.fallbacks,
      'counter',
    );
    gauge(out, 'process_resident_memory_bytes', 'Resident memory of the daemon.', r.rssBytes);
    out.push(...(r.extra ?? []));
    return `${out.join('\n')}\n`;
  }
}
