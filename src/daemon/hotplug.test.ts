/**
 * Hot-plug's trigger (hotplug.ts) with a stand-in pod watch and reconcile: which changes start
 * a reconcile, one per pod at a time (a change meanwhile runs once more after it), transient
 * failures retried with a growing backoff (never a tight loop), permanent ones left until the
 * next change, and the reconcile of every known pod after a start.
 */
import { describe, expect, it } from 'vitest';
import type { JsonObject } from '../cni/host.ts';
import { HotplugController, NETWORKS_ANNOTATION, type ReconcileOutcome } from './hotplug.ts';

class Pods {
  readonly store = new Map<string, JsonObject>();
  readonly fns = new Set<(k: string | undefined) => void>();
  synced = true;
  get(ns: string, name: string) {
    return this.store.get(`${ns}/${name}`);
  }
  listen(fn: (k: string | undefined) => void) {
    this.fns.add(fn);
    return () => this.fns.delete(fn);
  }
  whenSynced() {
    return Promise.resolve();
  }
  set(name: string, networks: string | undefined) {
    const annotations = networks === undefined ? {} : { [NETWORKS_ANNOTATION]: networks };
    this.store.set(`default/${name}`, { metadata: { namespace: 'default', name, annotations } });
    for (const f of this.fns) f(`default/${name}`);
  }
}

const ok = (acted: string): ReconcileOutcome => ({ acted, attached: 1, detached: 0, failures: [] });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function setup(reconcile: (name: string, pods: Pods) => Promise<ReconcileOutcome>, known: string[] = []) {
  const pods = new Pods();
  const calls: string[] = [];
  const logs: string[] = [];
  const c = new HotplugController({
    pods,
    reconcile: (_ns, name) => {
      calls.push(name);
      return reconcile(name, pods);
    },
    known: async () => known.map((name) => ({ namespace: 'default', name })),
    log: (l) => logs.push(l),
    backoffMs: { first: 20, max: 80 },
  });
  return { pods, calls, logs, c };
}

const annotation = (pods: Pods, name: string): string => {
  const meta = (pods.get('default', name)?.metadata ?? {}) as { annotations?: Record<string, string> };
  return meta.annotations?.[NETWORKS_ANNOTATION] ?? '';
};

describe('HotplugController', () => {
  it('reconciles a pod when its networks annotation changes, not on other changes', async () => {
    const { pods, calls, c } = setup(async (name, p) => ok(annotation(p, name)));
    c.start();
    await c.idle();
    pods.set('a', undefined); // first seen without networks: nothing
    pods.set('a', 'net-a');
    await c.idle();
    pods.set('a', 'net-a'); // another change of the pod, same annotation
    await c.idle();
    expect(calls).toEqual(['a']);
    pods.set('a', '');
    await c.idle();
    expect(calls).toEqual(['a', 'a']);
    expect(c.counts.attached).toBe(2);
    await c.stop();
  });

  it('one reconcile per pod at a time; changes meanwhile make one more run', async () => {
    let release: () => void = () => {};
    let running = 0;
    let most = 0;
    const { pods, calls, c } = setup(async (name, p) => {
      const acted = annotation(p, name); // read when it starts, as the real one reads it in its turn
      running++;
      most = Math.max(most, running);
      await new Promise<void>((r) => {
        release = r;
      });
      running--;
      return ok(acted);
    });
    c.start();
    pods.set('a', 'n1');
    await sleep(5);
    pods.set('a', 'n2');
    pods.set('a', 'n3');
    release();
    await sleep(5);
    release();
    await c.idle();
    expect(most).toBe(1);
    expect(calls).toEqual(['a', 'a']);
    await c.stop();
  });

  it('transient failures are retried with a growing backoff; success ends it', async () => {
    const at: number[] = [];
    let n = 0;
    const { pods, c, logs } = setup(async (name, p) => {
      at.push(performance.now());
      if (++n < 4) return { attached: 0, detached: 0, failures: [{ transient: true, message: 'API down' }] };
      return ok(annotation(p, name));
    });
    c.start();
    pods.set('a', 'n1');
    for (let i = 0; i < 100 && n < 4; i++) await sleep(20);
    await c.idle();
    await sleep(100);
    expect(n).toBe(4);
    const gaps = at.slice(1).map((t, i) => t - (at[i] as number));
    // 20, 40, 80 ms: each gap at least the backoff (no tight loop)
    expect(gaps[0]).toBeGreaterThanOrEqual(18);
    expect(gaps[1]).toBeGreaterThanOrEqual(38);
    expect(gaps[2]).toBeGreaterThanOrEqual(78);
    expect(c.counts.retries).toBe(3);
    expect(logs.filter((l) => l.includes('API down (tried again)'))).toHaveLength(3);
    await c.stop();
  });

  it('a permanent failure waits for the next change of the annotation', async () => {
    let n = 0;
    const { pods, calls, c } = setup(async (name, p) => {
      n++;
      return {
        acted: annotation(p, name),
        attached: 0,
        detached: 0,
        failures: [{ transient: false, message: 'no such NetworkAttachmentDefinition' }],
      };
    });
    c.start();
    pods.set('a', 'missing');
    await c.idle();
    await sleep(100);
    expect(n).toBe(1);
    pods.set('a', 'missing,other');
    await c.idle();
    expect(calls).toEqual(['a', 'a']);
    expect(c.counts.failedPermanent).toBe(2);
    await c.stop();
  });

  it('after a start, every pod the caches know is reconciled once', async () => {
    const { pods, calls, c } = setup(async (name, p) => ok(annotation(p, name)), ['a', 'b', 'gone']);
    pods.set('a', 'n1');
    pods.set('b', '');
    c.start();
    await c.idle();
    expect(calls.sort()).toEqual(['a', 'b']);
    await c.stop();
  });

  it('a relist compares the pods with attachments it had not seen, whatever their annotation', async () => {
    const { pods, calls, c } = setup(async (name, p) => ok(annotation(p, name)), ['a']);
    c.start();
    await c.idle();
    expect(calls).toEqual([]); // 'a' is not in the watch yet
    // the watch had a gap: 'a' arrives with a relist, its annotation emptied meanwhile
    pods.store.set('default/a', { metadata: { namespace: 'default', name: 'a', annotations: {} } });
    for (const f of pods.fns) f(undefined);
    await sleep(5);
    await c.idle();
    expect(calls).toEqual(['a']);
    await c.stop();
  });
});
