/**
 * The meta-plugin's ADD as docs/meta-plugin.md specifies it, run without root: the delegates
 * are a scripted invoker (test/helpers/fake-invoker.ts), the pod's links are given, and the
 * cache is a file in a temp cniDir.
 * - "Interface names": the master gets CNI_IFNAME, the others net<i>; a name already in the
 *   pod fails ADD before anything runs.
 * - "The cache … is written before any delegate runs; a delegate with an executed plugin has
 *   its result added right away, built-in delegates' results are added at the end of ADD."
 * - "A failed ADD — delegate k fails — deletes delegates k…0 in reverse and reports the
 *   delegate's own error, with its CNI code."
 * With every multi-homing option off and no default route to move, none of it reaches the
 * kernel: the native addon is never loaded.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { type FakeCall, FakeInvoker, podResult } from '../../test/helpers/fake-invoker.ts';
import { metaCtx, nativeAddonsLoaded, scratch } from '../../test/helpers/meta-call.ts';
import { cniRejectionOf } from '../../test/helpers/skel.ts';
import { CniError } from '../cni/errors.ts';
import { add } from './add.ts';
import { cachePath } from './cache.ts';

let dirs: { cleanup(): void }[] = [];
afterEach(() => {
  for (const d of dirs) d.cleanup();
  dirs = [];
  expect(nativeAddonsLoaded(), 'the kernel layer was reached').toEqual([]);
});

function world() {
  const s = scratch();
  dirs.push(s);
  return s;
}

/** A meta config with one delegate per type, named after it. */
function meta(cniDir: string, types: readonly string[], extra: Record<string, unknown> = {}) {
  return {
    cniVersion: '1.1.0',
    name: 'pods',
    type: 'manifold',
    cniDir,
    delegates: types.map((t) => ({
      cniVersion: '1.1.0',
      name: `n-${t}`,
      type: t,
      ipam: { type: 'fake-ipam' },
    })),
    ...extra,
  };
}

/** ADD answers a result with the call's interface and one address per delegate. */
function addsAddress(octet: number) {
  return (c: FakeCall) => podResult(c.ifname ?? '', c.netns ?? '', [{ address: `10.0.${octet}.5/24` }]);
}

function readCacheFile(file: string): {
  delegates: { ifname: string; result?: { ips?: { address: string }[] }; addError?: string }[];
} {
  return JSON.parse(readFileSync(file, 'utf8'));
}

describe('ADD: interface names', () => {
  it('gives the master CNI_IFNAME and the others net<i>, or the name their manifold object asks', async () => {
    const { dir, netns } = world();
    const fake = new FakeInvoker({ a: {}, b: {}, c: {} });
    const raw = meta(dir, ['a', 'b', 'c']);
    (raw.delegates[2] as Record<string, unknown>).manifold = { ifname: 'data0' };
    await add(metaCtx(raw, fake, { netns }));
    expect(fake.trace('ADD')).toEqual(['ADD a eth0', 'ADD b net1', 'ADD c data0']);
    expect(fake.of('ADD').map((c) => [c.containerId, c.netns])).toEqual([
      ['c1', netns],
      ['c1', netns],
      ['c1', netns],
    ]);
  });

  it('fails before any delegate runs when a name is already in the pod (and writes no cache)', async () => {
    const { dir, netns } = world();
    const fake = new FakeInvoker({ a: {}, b: {} });
    const e = await cniRejectionOf(
      add(metaCtx(meta(dir, ['a', 'b']), fake, { netns, podLinks: ['lo', 'net1'] })),
    );
    expect(e.code).toBe(999);
    expect(e.message).toBe(
      `delegate "n-b" (b): interface "net1" already exists in netns ${JSON.stringify(netns)}`,
    );
    expect(fake.calls).toEqual([]);
    expect(readdirSync(dir)).toEqual(['not-a-netns']);
  });
});

describe('ADD: when the cache is written', () => {
  it('before any delegate runs, right after an executed delegate, at the end for built-in ones', async () => {
    const { dir, netns } = world();
    const file = cachePath(dir, { network: 'pods', containerId: 'c1', ifname: 'eth0' });
    // each plugin looks at the cache while it runs: which results were in it then
    const seen: Record<string, (string | undefined)[]> = {};
    const looks = (octet: number) => (c: FakeCall) => {
      const cache = readCacheFile(file);
      seen[c.type] = cache.delegates.map((d) => d.result?.ips?.[0]?.address);
      return addsAddress(octet)(c);
    };
    const fake = new FakeInvoker({
      ext1: { answers: { ADD: looks(1) } }, // executed
      bi: { inProcess: true, answers: { ADD: looks(2) } }, // built in
      ext2: { answers: { ADD: looks(3) } }, // executed
    });
    await add(metaCtx(meta(dir, ['ext1', 'bi', 'ext2']), fake, { netns }));
    expect(seen).toEqual({
      ext1: [undefined, undefined, undefined], // written before any delegate: all three, no result
      bi: ['10.0.1.5/24', undefined, undefined], // the executed one's result added right away
      ext2: ['10.0.1.5/24', undefined, undefined], // the built-in's not yet
    });
    const end = readCacheFile(file);
    expect(end.delegates.map((d) => [d.ifname, d.result?.ips?.[0]?.address])).toEqual([
      ['eth0', '10.0.1.5/24'],
      ['net1', '10.0.2.5/24'],
      ['net2', '10.0.3.5/24'],
    ]);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(readdirSync(dir).filter((n) => n.endsWith('.tmp'))).toEqual([]);
  });

  it('holds only built-in delegates without results until the end of ADD', async () => {
    const { dir, netns } = world();
    const file = cachePath(dir, { network: 'pods', containerId: 'c1', ifname: 'eth0' });
    const results: (string | undefined)[][] = [];
    const looks = (octet: number) => (c: FakeCall) => {
      results.push(readCacheFile(file).delegates.map((d) => d.result?.ips?.[0]?.address));
      return addsAddress(octet)(c);
    };
    const fake = new FakeInvoker({
      b1: { inProcess: true, answers: { ADD: looks(1) } },
      b2: { inProcess: true, answers: { ADD: looks(2) } },
    });
    await add(metaCtx(meta(dir, ['b1', 'b2']), fake, { netns }));
    expect(results).toEqual([
      [undefined, undefined],
      [undefined, undefined],
    ]);
    expect(readCacheFile(file).delegates.map((d) => d.result?.ips?.[0]?.address)).toEqual([
      '10.0.1.5/24',
      '10.0.2.5/24',
    ]);
  });
});

describe('ADD: a failed delegate is rolled back', () => {
  it.each([0, 1, 2, 3])(
    'delegate %i fails: DEL of exactly delegates k…0 in reverse, with their interface names; its error returned',
    async (k) => {
      const { dir, netns } = world();
      const types = ['a', 'b', 'c', 'd'];
      const fake = new FakeInvoker(
        Object.fromEntries(types.map((t, i) => [t, { answers: { ADD: addsAddress(i + 1) } }])),
      );
      const failing = types[k] as string;
      fake.plugin(failing, { answers: { ADD: new CniError(11, 'the lock is held', 'try later') } });
      const e = await cniRejectionOf(add(metaCtx(meta(dir, types), fake, { netns })));

      expect(e.code).toBe(11);
      expect(e.message).toBe(`delegate "n-${failing}" (${failing}) failed: the lock is held`);
      expect(e.details).toBe('try later');
      const ifnames = ['eth0', 'net1', 'net2', 'net3'];
      expect(fake.trace('ADD')).toEqual(types.slice(0, k + 1).map((t, i) => `ADD ${t} ${ifnames[i]}`));
      expect(fake.trace('DEL')).toEqual(
        types
          .slice(0, k + 1)
          .map((t, i) => `DEL ${t} ${ifnames[i]}`)
          .reverse(),
      );
      // each DEL gets its own ADD result as prevResult; the failed one has none
      expect(
        fake.of('DEL').map((c) => (c.prevResult?.ips as { address: string }[] | undefined)?.[0]?.address),
      ).toEqual(
        types
          .slice(0, k + 1)
          .map((_, i) => (i === k ? undefined : `10.0.${i + 1}.5/24`))
          .reverse(),
      );
      // every rollback DEL succeeded: the cache goes
      expect(readdirSync(dir)).toEqual(['not-a-netns']);
    },
  );

  it('keeps the cache, with the ADD error, when part of the rollback failed in a way a later DEL can finish', async () => {
    const { dir, netns } = world();
    const fake = new FakeInvoker({
      a: { answers: { ADD: addsAddress(1), DEL: new CniError(5, 'disk busy') } },
      b: { answers: { ADD: new CniError(7, 'master: "eth9" does not exist') } },
    });
    const e = await cniRejectionOf(add(metaCtx(meta(dir, ['a', 'b']), fake, { netns })));
    // a config error of an inline delegate names its field by its path in the meta config
    expect([e.code, e.message, e.details]).toEqual([
      7,
      'delegates[1].master: "eth9" does not exist',
      'delegate "n-b" (b)',
    ]);
    expect(fake.trace('DEL')).toEqual(['DEL b net1', 'DEL a eth0']);
    const file = cachePath(dir, { network: 'pods', containerId: 'c1', ifname: 'eth0' });
    expect(existsSync(file)).toBe(true);
    expect(
      readCacheFile(file).delegates.map((d) => [d.ifname, d.result?.ips?.[0]?.address, d.addError]),
    ).toEqual([
      ['eth0', '10.0.1.5/24', undefined],
      ['net1', undefined, 'master: "eth9" does not exist'],
    ]);
  });
});

describe('ADD: the merged result', () => {
  it('lists every delegate in order, the master first, ips renumbered into the merged interfaces', async () => {
    const { dir, netns } = world();
    const fake = new FakeInvoker({
      a: {
        answers: {
          ADD: (c) => ({
            cniVersion: '1.1.0',
            interfaces: [{ name: 'veth1' }, { name: c.ifname, sandbox: c.netns }],
            ips: [{ address: '10.0.1.5/24', gateway: '10.0.1.1', interface: 1 }],
            routes: [{ dst: '0.0.0.0/0', gw: '10.0.1.1' }],
            dns: { nameservers: ['10.0.1.53'] },
          }),
        },
      },
      b: { answers: { ADD: addsAddress(2) } },
    });
    const r = await add(metaCtx(meta(dir, ['a', 'b']), fake, { netns }));
    expect(r).toEqual({
      cniVersion: '1.1.0',
      interfaces: [
        { name: 'veth1' },
        { name: 'eth0', sandbox: netns },
        { name: 'net1', mac: '0a:58:00:00:00:01', sandbox: netns },
      ],
      ips: [
        { address: '10.0.1.5/24', gateway: '10.0.1.1', interface: 1 },
        { address: '10.0.2.5/24', interface: 2 },
      ],
      routes: [{ dst: '0.0.0.0/0', gw: '10.0.1.1' }],
      dns: { nameservers: ['10.0.1.53'] },
    });
  });
});
