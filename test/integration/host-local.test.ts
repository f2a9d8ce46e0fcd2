/**
 * host-local against Debian's reference host-local (containernetworking-plugins 1.1.1) on one
 * dataDir: same allocation order, same files byte for byte, mutual exclusion through the
 * same flock, each releasing the other's reservations — sequentially, at random, and
 * concurrently.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execCni } from '../helpers/exec-plugin.ts';
import { isolateHost, requireRoot } from '../helpers/host.ts';
import { cni } from '../helpers/inproc.ts';
import { REFERENCE_PLUGIN_DIR, requireReferencePlugins } from '../helpers/reference.ts';

requireRoot();
requireReferencePlugins('host-local');
isolateHost();
const REF = join(REFERENCE_PLUGIN_DIR, 'host-local');

let work: string;
beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'manifold-it-hl-'));
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

type Impl = 'ref' | 'mf';
type Verb = 'ADD' | 'DEL' | 'CHECK';

/** The reference's CHECK says "Failed to find", manifold "failed to find" (its message style). */
const lower = (m: unknown) =>
  typeof m === 'string' ? m.replace(/^host-local: Failed/, 'host-local: failed') : m;

/** The outcome of one call, in a form both implementations can be compared on. */
interface Outcome {
  ok: boolean;
  /** ADD: the addresses; failure: code and message. */
  value: unknown;
}

async function call(
  impl: Impl,
  verb: Verb,
  config: { cniVersion: string },
  containerId: string,
  ifname: string,
  args?: string,
): Promise<Outcome> {
  const c = { containerId, ifname, netns: '/var/run/netns/unused', ...(args ? { args } : {}) };
  // CHECK carries the ADD's result (manifold's skel insists on it, as the spec says; the
  // reference host-local does not look at it)
  const conf =
    verb === 'CHECK' ? { ...config, prevResult: { cniVersion: config.cniVersion, ips: [] } } : config;
  if (impl === 'ref') {
    const r = await execCni(REF, { command: verb, ...c, path: [REFERENCE_PLUGIN_DIR] }, conf);
    if (r.status !== 0) return { ok: false, value: { code: r.json?.code, msg: lower(r.json?.msg) } };
    return { ok: true, value: r.json ?? null };
  }
  const r = await cni('host-local', verb, conf, c);
  if (r.code !== 0) return { ok: false, value: { code: r.json?.code, msg: lower(r.json?.msg) } };
  return { ok: true, value: r.json ?? null };
}

/**
 * Every file of a network's store with its bytes (and, with `modes`, its permission bits).
 * Modes differ on purpose: Debian's 1.1.1 writes reservations 0644, the lock 0750 and the
 * directory 0755; manifold writes 0600 files in a 0700 directory (state files are private).
 */
function snapshot(dataDir: string, network: string, modes = false): Record<string, string> {
  const dir = join(dataDir, network);
  const out: Record<string, string> = {};
  let names: string[] = [];
  try {
    names = readdirSync(dir);
  } catch {
    return out;
  }
  for (const n of names.sort()) {
    const f = join(dir, n);
    const mode = modes ? `${(statSync(f).mode & 0o777).toString(8)} ` : '';
    out[n] = `${mode}${JSON.stringify(readFileSync(f, 'utf8'))}`;
  }
  if (modes) out['.'] = (statSync(dir).mode & 0o777).toString(8);
  return out;
}

let netSeq = 0;
function hlConf(dataDir: string, cniVersion = '1.0.0', ipam: Record<string, unknown> = {}) {
  return {
    cniVersion,
    name: `hl${++netSeq}`,
    type: 'host-local',
    ipam: {
      type: 'host-local',
      dataDir,
      ranges: [
        [{ subnet: '10.80.0.0/29' }, { subnet: '10.80.1.0/30' }],
        [{ subnet: 'fd80::/125', rangeStart: 'fd80::2' }],
      ],
      routes: [{ dst: '0.0.0.0/0' }],
      ...ipam,
    },
  };
}

describe('manifold host-local and the reference on one dataDir', () => {
  it('write the same files, byte for byte, for the same sequence of calls', async () => {
    for (const cniVersion of ['0.3.1', '0.4.0', '1.0.0']) {
      const refDir = join(work, `seq-ref-${cniVersion}`);
      const mfDir = join(work, `seq-mf-${cniVersion}`);
      const refConf = hlConf(refDir, cniVersion);
      const mfConf = { ...hlConf(mfDir, cniVersion), name: refConf.name };
      const steps: [Verb, string, string][] = [
        ['ADD', 'c1', 'eth0'],
        ['ADD', 'c2', 'eth0'],
        ['ADD', 'c2', 'net1'],
        ['CHECK', 'c2', 'net1'],
        ['DEL', 'c1', 'eth0'],
        ['ADD', 'c3', 'eth0'],
        ['ADD', 'c3', 'eth0'], // duplicate
        ['ADD', 'c4', 'eth0'],
        ['ADD', 'c5', 'eth0'],
        ['ADD', 'c6', 'eth0'], // the v6 pool (fd80::2-7, gateway fd80::1) runs out
        ['CHECK', 'c1', 'eth0'], // released
        ['DEL', 'c2', 'eth0'],
        ['DEL', 'c2', 'eth0'], // again
        ['ADD', 'c7', 'eth0'],
      ];
      for (const [verb, id, ifname] of steps) {
        const ref = await call('ref', verb, refConf, id, ifname);
        const mf = await call('mf', verb, mfConf, id, ifname);
        expect(mf, `${cniVersion} ${verb} ${id}/${ifname}`).toEqual(ref);
      }
      expect(snapshot(mfDir, mfConf.name)).toEqual(snapshot(refDir, refConf.name));
      const modes = (d: string, n: string) =>
        new Set(
          Object.entries(snapshot(d, n, true)).map(
            ([f, v]) => `${f === 'lock' || f === '.' ? f : 'file'} ${v.split(' ')[0]}`,
          ),
        );
      expect([...modes(refDir, refConf.name)].sort()).toEqual(['. 755', 'file 644', 'lock 750']);
      expect([...modes(mfDir, mfConf.name)].sort()).toEqual(['. 700', 'file 600', 'lock 600']);
    }
  });

  it('agree with each other when they take turns at random, and with either alone (property)', async () => {
    const op = fc.record({
      impl: fc.constantFrom<Impl>('ref', 'mf'),
      verb: fc.constantFrom<Verb>('ADD', 'ADD', 'ADD', 'DEL', 'CHECK'),
      id: fc.integer({ min: 0, max: 6 }),
      ifname: fc.constantFrom('eth0', 'net1'),
      ask: fc.option(
        fc.constantFrom('10.80.0.5', '10.80.1.2', 'fd80::7', '10.80.0.1', '::ffff:10.80.0.6', '10.80.0.7/29'),
        {
          freq: 6,
        },
      ),
    });
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 14 }), async (ops) => {
        run++;
        const dirs = { mixed: join(work, `p${run}-mixed`), ref: join(work, `p${run}-ref`) };
        const name = `prop${run}`;
        const confOf = (d: string) => ({ ...hlConf(d), name });
        const holding = new Set<string>();
        for (const o of ops) {
          const key = `ctr${o.id}/${o.ifname}`;
          // The one deliberate difference: a repeated ADD that asks for an address reserves it
          // in the first set, then fails on the second (duplicate); the reference's rollback
          // then releases every address of the attachment — the live one's too — while
          // manifold releases only what that call reserved. Not compared here (see the unit
          // test "refuses a second allocation for the same attachment and keeps the first one").
          if (o.verb === 'ADD' && o.ask && holding.has(key)) continue;
          const args = o.ask ? `IgnoreUnknown=1;IP=${o.ask}` : undefined;
          const mixed = await call(o.impl, o.verb, confOf(dirs.mixed), `ctr${o.id}`, o.ifname, args);
          const alone = await call('ref', o.verb, confOf(dirs.ref), `ctr${o.id}`, o.ifname, args);
          expect(mixed, `${o.impl} ${o.verb} ctr${o.id}/${o.ifname} ${args ?? ''}`).toEqual(alone);
          if (o.verb === 'ADD' && alone.ok) holding.add(key);
          if (o.verb === 'DEL' && alone.ok) holding.delete(key);
        }
        const a = snapshot(dirs.mixed, name);
        const b = snapshot(dirs.ref, name);
        expect(a).toEqual(b);
        // no address is ever held twice: every reservation file names one attachment
        const held = Object.keys(a).filter((f) => /^[0-9a-f.:]+$/.test(f) && f !== '.');
        expect(new Set(held).size).toBe(held.length);
      }),
      { numRuns: 40 },
    );
  });

  it('never hand out the same address when they allocate concurrently, and release each other’s', async () => {
    const dataDir = join(work, 'concurrent');
    const conf = hlConf(dataDir, '1.0.0', {
      ranges: [[{ subnet: '10.81.0.0/24' }], [{ subnet: 'fd81::/64' }]],
    });
    const N = 24;
    const adds = await Promise.all(
      Array.from({ length: N }, (_, i) => call(i % 2 ? 'ref' : 'mf', 'ADD', conf, `cc${i}`, 'eth0')),
    );
    for (const a of adds) expect(a.ok, JSON.stringify(a.value)).toBe(true);
    const v4 = adds.map(
      (a) => ((a.value as { ips: { address: string }[] }).ips[0]?.address ?? '').split('/')[0],
    );
    const v6 = adds.map(
      (a) => ((a.value as { ips: { address: string }[] }).ips[1]?.address ?? '').split('/')[0],
    );
    expect(new Set(v4).size).toBe(N);
    expect(new Set(v6).size).toBe(N);
    // exactly .2 … .N+1: nobody skipped or doubled an address
    expect([...v4].sort((x, y) => Number(x?.split('.')[3]) - Number(y?.split('.')[3]))).toEqual(
      Array.from({ length: N }, (_, i) => `10.81.0.${i + 2}`),
    );
    const snap = snapshot(dataDir, conf.name);
    for (let i = 0; i < N; i++) {
      expect(snap[v4[i] ?? '']).toBe(JSON.stringify(`cc${i}\r\neth0`));
      expect(snap[v6[i] ?? '']).toBe(JSON.stringify(`cc${i}\r\neth0`));
    }
    expect(Object.keys(snap).filter((f) => f.startsWith('.tmp'))).toEqual([]);
    // each releases what the other reserved, concurrently
    const dels = await Promise.all(
      Array.from({ length: N }, (_, i) => call(i % 2 ? 'mf' : 'ref', 'DEL', conf, `cc${i}`, 'eth0')),
    );
    for (const d of dels) expect(d.ok).toBe(true);
    expect(Object.keys(snapshot(dataDir, conf.name)).sort()).toEqual([
      'last_reserved_ip.0',
      'last_reserved_ip.1',
      'lock',
    ]);
  });

  it('continue each other’s round robin (last_reserved_ip) and report exhaustion alike', async () => {
    const dataDir = join(work, 'rr');
    const conf = hlConf(dataDir, '1.0.0', {
      ranges: [[{ subnet: '10.82.0.0/24', rangeStart: '10.82.0.10', rangeEnd: '10.82.0.13' }]],
    });
    const seq: string[] = [];
    for (let i = 0; i < 4; i++) {
      const r = await call(i % 2 ? 'ref' : 'mf', 'ADD', conf, `rr${i}`, 'eth0');
      seq.push((r.value as { ips: { address: string }[] }).ips[0]?.address ?? '');
    }
    expect(seq).toEqual(['10.82.0.10/24', '10.82.0.11/24', '10.82.0.12/24', '10.82.0.13/24']);
    const full = [
      await call('ref', 'ADD', conf, 'rrX', 'eth0'),
      await call('mf', 'ADD', conf, 'rrX', 'eth0'),
    ];
    expect(full[1]).toEqual(full[0]);
    expect(full[0]).toEqual({
      ok: false,
      value: {
        code: 999,
        msg: 'failed to allocate for range 0: no IP addresses available in range set: 10.82.0.10-10.82.0.13',
      },
    });
    await call('ref', 'DEL', conf, 'rr1', 'eth0');
    await call('mf', 'DEL', conf, 'rr2', 'eth0');
    // after .13 the round robin wraps to the start: .11 is free first
    expect(await call('mf', 'ADD', conf, 'rr5', 'eth0')).toMatchObject({
      ok: true,
      value: { ips: [{ address: '10.82.0.11/24' }] },
    });
    expect(await call('ref', 'ADD', conf, 'rr6', 'eth0')).toMatchObject({
      ok: true,
      value: { ips: [{ address: '10.82.0.12/24' }] },
    });
  });

  it('give the same result JSON in every version, requested IPs, routes and DNS included', async () => {
    const resolv = join(work, 'resolv.conf');
    writeFileSync(resolv, 'nameserver 10.0.0.53\ndomain example.com\nsearch a b\noptions ndots:3\n');
    for (const cniVersion of ['0.3.0', '0.3.1', '0.4.0', '1.0.0']) {
      const base = hlConf(join(work, `json-${cniVersion}`), cniVersion, {
        resolvConf: resolv,
        routes: [{ dst: '0.0.0.0/0' }, { dst: '192.168.0.0/16', gw: '10.80.0.1' }, { dst: 'fd99::/64' }],
      });
      const withArgs = { ...base, args: { cni: { ips: ['fd80::5'] } } };
      const ref = await call('ref', 'ADD', withArgs, 'j1', 'eth0', 'IgnoreUnknown=1;IP=10.80.0.4');
      await call('ref', 'DEL', withArgs, 'j1', 'eth0');
      const mf = await call('mf', 'ADD', withArgs, 'j1', 'eth0', 'IgnoreUnknown=1;IP=10.80.0.4');
      expect(mf, cniVersion).toEqual(ref);
      expect(ref.ok).toBe(true);
    }
  });
});
