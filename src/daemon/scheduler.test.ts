import { describe, expect, it } from 'vitest';
import { Scheduler } from './scheduler.ts';

const tick = () => new Promise((r) => setTimeout(r, 5));

describe('Scheduler', () => {
  it('serialises one container, runs different containers at once', async () => {
    const s = new Scheduler(16);
    const order: string[] = [];
    const a1 = await s.admit('a', 1000);
    expect(a1.ok).toBe(true);
    const a2p = s.admit('a', 1000).then((t) => {
      order.push('a2');
      return t;
    });
    const b1 = await s.admit('b', 1000);
    order.push('b1');
    expect(b1.ok).toBe(true);
    await tick();
    expect(order).toEqual(['b1']); // a2 still waits for a1
    expect(s.running).toBe(2);
    expect(s.waiting).toBe(1);
    if (a1.ok) a1.done();
    const a2 = await a2p;
    expect(a2.ok).toBe(true);
    expect(order).toEqual(['b1', 'a2']);
  });

  it('keeps a container in arrival order behind the global limit, others FIFO', async () => {
    const s = new Scheduler(1);
    const first = await s.admit('x', 1000);
    const started: string[] = [];
    const waits = ['a', 'b', 'a', 'c'].map((k, i) =>
      s.admit(k, 1000).then((t) => {
        started.push(`${k}${i}`);
        return t;
      }),
    );
    expect(s.waiting).toBe(4);
    if (first.ok) first.done();
    for (const w of waits) {
      const t = await w;
      await tick();
      if (t.ok) t.done();
    }
    expect(started).toEqual(['a0', 'b1', 'a2', 'c3']);
  });

  it('refuses a call that waited past its budget at once, and the queue moves on', async () => {
    const s = new Scheduler(1);
    const busy = await s.admit('x', 1000);
    const t0 = performance.now();
    const late = await s.admit('y', 50);
    const took = performance.now() - t0;
    expect(late).toMatchObject({ ok: false, why: 'budget' });
    expect(took).toBeGreaterThanOrEqual(45);
    expect(took).toBeLessThan(1000);
    expect(s.waiting).toBe(0);
    if (busy.ok) busy.done();
    const next = await s.admit('y', 50);
    expect(next.ok).toBe(true);
  });

  it('refuses at once when the queue is full', async () => {
    const s = new Scheduler(1, 2);
    await s.admit('x', 1000);
    void s.admit('y', 1000);
    void s.admit('z', 1000);
    expect(await s.admit('w', 1000)).toMatchObject({ ok: false, why: 'full' });
  });

  it('done twice releases once', async () => {
    const s = new Scheduler(1);
    const t = await s.admit('x', 1000);
    if (!t.ok) throw new Error('refused');
    t.done();
    t.done();
    expect(s.running).toBe(0);
  });

  it('refuses at once when the waiting calls would hold too many bytes', async () => {
    const s = new Scheduler(1, 1024, 10_000);
    const busy = await s.admit('x', 1000);
    const a = s.admit('y', 1000, 6000);
    expect(s.waitingBytes).toBe(6000);
    expect(await s.admit('z', 1000, 5000)).toMatchObject({ ok: false, why: 'full' });
    if (busy.ok) busy.done();
    expect((await a).ok).toBe(true);
    expect(s.waitingBytes).toBe(0);
  });

  it('lets a nested call run beside its parent, past the limit and the container turn', async () => {
    const s = new Scheduler(1);
    const parent = await s.admit('x', 1000);
    const other = s.admit('y', 1000);
    const nested = s.nested();
    expect(nested.ok).toBe(true);
    expect(s.running).toBe(2);
    if (nested.ok) nested.done();
    expect(s.running).toBe(1);
    expect(s.waiting).toBe(1); // y still waits for the parent's slot
    if (parent.ok) parent.done();
    expect((await other).ok).toBe(true);
  });
});
