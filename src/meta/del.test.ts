/**
 * The meta-plugin's DEL as docs/meta-plugin.md ("State and failures") specifies it, run
 * without root through a scripted invoker: every delegate deleted in reverse with its cached
 * result as prevResult, all of them attempted; transient failures (11, 5, 999, plugin codes)
 * all reported and the cache kept for the next DEL; permanent ones (a config that cannot
 * work, a plugin that is not installed, the same error the delegate's ADD failed with) worked
 * around — its IPAM released with its config — and DEL succeeds. DEL runs with the netns gone
 * (CNI_NETNS ""), so removal by name has nothing to do and nothing reaches the kernel.
 */
import { existsSync, readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { type FakeCall, FakeInvoker, podResult } from '../../test/helpers/fake-invoker.ts';
import { metaCtx, nativeAddonsLoaded, scratch } from '../../test/helpers/meta-call.ts';
import { cniRejectionOf } from '../../test/helpers/skel.ts';
import { CniError } from '../cni/errors.ts';
import { add } from './add.ts';
import { cachePath } from './cache.ts';
import { del } from './del.ts';
import { isPermanent } from './teardown.ts';

let dirs: { cleanup(): void }[] = [];
afterEach(() => {
  for (const d of dirs) d.cleanup();
  dirs = [];
  expect(nativeAddonsLoaded(), 'the kernel layer was reached').toEqual([]);
});

const TYPES = ['a', 'b', 'c'];

function meta(cniDir: string) {
  return {
    cniVersion: '1.1.0',
    name: 'pods',
    type: 'manifold',
    cniDir,
    delegates: TYPES.map((t) => ({
      cniVersion: '1.1.0',
      name: `n-${t}`,
      type: t,
      ipam: { type: 'fake-ipam', subnet: `10.0.${t.charCodeAt(0) - 96}.0/24` },
    })),
  };
}

function addsAddress(c: FakeCall) {
  return podResult(c.ifname ?? '', c.netns ?? '', [{ address: `10.0.${c.type.charCodeAt(0) - 96}.5/24` }]);
}

/** A pod attached to a, b, c (eth0, net1, net2), its cache in a temp cniDir. */
async function attached(): Promise<{ raw: Record<string, unknown>; file: string }> {
  const { dir, netns } = world();
  const raw = meta(dir);
  const fake = new FakeInvoker(Object.fromEntries(TYPES.map((t) => [t, { answers: { ADD: addsAddress } }])));
  await add(metaCtx(raw, fake, { netns }));
  return { raw, file: cachePath(dir, { network: 'pods', containerId: 'c1', ifname: 'eth0' }) };
}

function world() {
  const s = scratch();
  dirs.push(s);
  return s;
}

const delCtx = (raw: Record<string, unknown>, fake: FakeInvoker) =>
  metaCtx(raw, fake, { command: 'DEL', netns: '' });

describe('DEL', () => {
  it('deletes every delegate in reverse, each with its cached result as prevResult, then the cache', async () => {
    const { raw, file } = await attached();
    const fake = new FakeInvoker({ a: {}, b: {}, c: {} });
    await del(delCtx(raw, fake));
    expect(fake.trace()).toEqual(['DEL c net2', 'DEL b net1', 'DEL a eth0']);
    expect(
      fake.calls.map((c) => (c.prevResult?.ips as { address: string }[] | undefined)?.[0]?.address),
    ).toEqual(['10.0.3.5/24', '10.0.2.5/24', '10.0.1.5/24']);
    expect(fake.calls.every((c) => c.containerId === 'c1' && c.netns === '')).toBe(true);
    expect(existsSync(file)).toBe(false);
  });

  it('reports every transient failure, attempts all delegates, and keeps the cache for the next DEL', async () => {
    const { raw, file } = await attached();
    const fake = new FakeInvoker({
      a: {},
      b: { answers: { DEL: new CniError(11, 'lock held') } },
      c: { answers: { DEL: new CniError(101, 'driver said no') } }, // a plugin's own code
    });
    const e = await cniRejectionOf(del(delCtx(raw, fake)));
    expect(e.code).toBe(101);
    expect(e.message).toBe(
      '2 of 3 delegates failed DEL: delegate "n-c" (c) failed DEL: driver said no; delegate "n-b" (b) failed DEL: lock held',
    );
    expect(fake.trace()).toEqual(['DEL c net2', 'DEL b net1', 'DEL a eth0']); // no IPAM work-around
    expect(existsSync(file)).toBe(true);

    // the runtime's retry finishes it
    const retry = new FakeInvoker({ a: {}, b: {}, c: {} });
    await del(delCtx(raw, retry));
    expect(retry.trace()).toEqual(['DEL c net2', 'DEL b net1', 'DEL a eth0']);
    expect(existsSync(file)).toBe(false);
  });

  it.each([
    ['an invalid config (7)', new CniError(7, 'master: required')],
    ['an unsupported version (1)', new CniError(1, 'incompatible CNI versions')],
    ['an unknown container (3)', new CniError(3, 'no such container')],
  ])(
    'works around a permanent failure, %s: IPAM DEL with the delegate config, DEL succeeds',
    async (_, err) => {
      const { raw, file } = await attached();
      const fake = new FakeInvoker({ a: {}, b: { answers: { DEL: err } }, c: {}, 'fake-ipam': {} });
      await del(delCtx(raw, fake));
      expect(fake.trace()).toEqual(['DEL c net2', 'DEL b net1', 'DEL fake-ipam net1', 'DEL a eth0']);
      const ipam = fake.calls[2] as FakeCall;
      expect(ipam.conf).toEqual({
        cniVersion: '1.1.0',
        name: 'n-b',
        type: 'b',
        ipam: { type: 'fake-ipam', subnet: '10.0.2.0/24' },
      });
      expect([ipam.containerId, ipam.ifname]).toEqual(['c1', 'net1']);
      expect(existsSync(file)).toBe(false);
    },
  );

  it('works around a delegate whose plugin is not installed', async () => {
    const { raw, file } = await attached();
    const fake = new FakeInvoker({ a: {}, c: {}, 'fake-ipam': {} }); // no b
    await del(delCtx(raw, fake));
    expect(fake.trace()).toEqual(['DEL c net2', 'DEL b net1', 'DEL fake-ipam net1', 'DEL a eth0']);
    expect(fake.calls[1]?.outcome).toBeInstanceOf(CniError);
    expect(isPermanent(fake.calls[1]?.outcome)).toBe(true);
    expect(existsSync(file)).toBe(false);
  });

  it('reports a transient failure of the work-around itself (the IPAM DEL), and keeps the cache', async () => {
    const { raw, file } = await attached();
    const fake = new FakeInvoker({
      a: {},
      b: { answers: { DEL: new CniError(7, 'master: required') } },
      c: {},
      'fake-ipam': { answers: { DEL: new CniError(11, 'store locked') } },
    });
    const e = await cniRejectionOf(del(delCtx(raw, fake)));
    expect([e.code, e.message]).toEqual([11, 'delegate "n-b" (b) failed IPAM DEL: store locked']);
    expect(existsSync(file)).toBe(true);
  });

  it('treats a DEL failing with the very error its ADD failed with as permanent', async () => {
    const { dir, netns } = world();
    const raw = meta(dir);
    const file = cachePath(dir, { network: 'pods', containerId: 'c1', ifname: 'eth0' });
    // ADD: c fails; the rollback's DEL of a fails transiently, so the cache stays with c's ADD error
    const broken = new CniError(999, 'cannot parse the vendor blob');
    const first = new FakeInvoker({
      a: { answers: { ADD: addsAddress, DEL: new CniError(5, 'disk busy') } },
      b: { answers: { ADD: addsAddress } },
      c: { answers: { ADD: broken, DEL: broken } },
      'fake-ipam': {},
    });
    await cniRejectionOf(add(metaCtx(raw, first, { netns })));
    const cached = JSON.parse(readFileSync(file, 'utf8')) as { delegates: { addError?: string }[] };
    expect(cached.delegates.map((d) => d.addError)).toEqual([
      undefined,
      undefined,
      'cannot parse the vendor blob',
    ]);

    // DEL: c fails the same way again (999, not a permanent code): worked around, not reported
    const later = new FakeInvoker({ a: {}, b: {}, c: { answers: { DEL: broken } }, 'fake-ipam': {} });
    await del(delCtx(raw, later));
    expect(later.trace()).toEqual(['DEL c net2', 'DEL fake-ipam net2', 'DEL b net1', 'DEL a eth0']);
    expect(existsSync(file)).toBe(false);
  });

  it('without a cache, works from the config, each delegate resolved on its own', async () => {
    const { dir } = world();
    const raw = meta(dir);
    (raw.delegates[1] as Record<string, unknown>).cniVersion = '9.9.9'; // does not resolve: skipped
    const fake = new FakeInvoker({ a: {}, b: {}, c: {} });
    await del(delCtx(raw, fake));
    expect(fake.trace()).toEqual(['DEL c net2', 'DEL a eth0']);
    expect(fake.calls.map((c) => c.prevResult)).toEqual([undefined, undefined]);
  });
});
