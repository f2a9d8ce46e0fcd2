/**
 * Micro-measure, not a test (vitest never picks it up): what netlink round trips cost a
 * one-shot call, and which requests the kernel keeps waiting. In a throwaway namespace:
 *   ip netns add nlb && ip netns exec nlb node test/bench-netlink.ts; ip netns del nlb
 * Prints medians in µs of: an RTM_GETLINK, and each step of a veth's life (create, up,
 * down, move to the namespace MOVE_NS names and back, delete), and the whole life.
 */
import * as link from '../src/kernel/link.ts';
import { NetNS } from '../src/kernel/netns.ts';
import { Rtnl } from '../src/kernel/socket.ts';

const N = Number(process.env.N ?? 3000);
const M = Number(process.env.M ?? 60);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
const h = Rtnl.open();
const here = NetNS.current();
const get: number[] = [];
for (let i = 0; i < N; i++) {
  const t = performance.now();
  await link.byIndex(h, 1);
  get.push(performance.now() - t);
}
const steps: Record<string, number[]> = {
  create: [],
  up: [],
  down: [],
  move: [],
  createThere: [],
  del: [],
  whole: [],
};
// a second namespace to move links into and back: MOVE_NS=/run/netns/<name>
const away = process.env.MOVE_NS ? NetNS.open(process.env.MOVE_NS) : undefined;
const time = async (k: string, fn: () => Promise<unknown>) => {
  const t = performance.now();
  await fn();
  steps[k]?.push(performance.now() - t);
};
for (let i = 0; i < M; i++) {
  const t0 = performance.now();
  await time('create', () =>
    link.create(h, { name: 'bv0', kind: 'veth', netns: here, rawData: link.vethData({ name: 'bv0p' }) }),
  );
  const l = await link.mustByName(h, 'bv0');
  await time('up', () => link.set(h, l.index, { up: true }));
  await time('down', () => link.set(h, l.index, { up: false }));
  if (away) {
    await time('move', () => link.set(h, l.index, { netns: away }));
    const there = Rtnl.open(away);
    const moved = await link.mustByName(there, 'bv0');
    await link.set(there, moved.index, { netns: here });
    await time('createThere', () =>
      link.create(h, {
        name: 'bv1',
        kind: 'veth',
        netns: away,
        rawData: link.vethData({ name: 'bv1p', netns: away }),
      }),
    );
    await link.remove(there, (await link.mustByName(there, 'bv1')).index);
    there.close();
  }
  const back = await link.mustByName(h, 'bv0');
  await time('del', () => link.remove(h, back.index));
  steps.whole?.push(performance.now() - t0);
}
const us = (x: number) => Math.round(x * 1000);
console.log(
  JSON.stringify({
    getlink: us(median(get)),
    ...Object.fromEntries(Object.entries(steps).map(([k, v]) => [k, us(median(v))])),
  }),
);
h.close();
