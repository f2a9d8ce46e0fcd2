/**
 * Daemon mode's reliability on the real kernel, through the built shim (dist/shim, configured
 * as `manifold install --mode daemon` configures it, falling back to dist/bin/manifold) and
 * `manifold daemon` run from the source. 16 pods at once, each in its own netns, on the four
 * networks of test/helpers/fournets.ts through the meta-plugin: bridge with ipMasq (an
 * nftables chain), macvlan, vxlan in bridge mode (shared, reference-counted host devices) and
 * sriov (a VF of its own per pod, on the fake sysfs: veth ends as VFs, the sysfs brought up to
 * date between the phases of calls, as the kernel would), each with its own host-local range,
 * and the meta-plugin's cache.
 *
 * - The daemon killed (SIGKILL) in the middle of a burst of 16 ADDs; then what the runtime does:
 *   every pod whose ADD failed (code 11 from the shim, or anything but a result) gets DEL, then
 *   ADD again, with the daemon restarted; every pod is then attached; finally every pod is
 *   DELeted through the shim — with the daemon up, or absent (the shim's one-shot fallback) —
 *   and nothing is left: no pod link, host link, reservation, cache, nftables chain.
 * - The daemon restarted (SIGTERM and a new one with --replace; or SIGKILL and a new one) in the
 *   middle of a burst of 8 ADDs and 8 DELs: every pod ends attached (whole) or cleaned up
 *   (nothing of it anywhere) once the runtime has reacted to a failed ADD with a DEL, and after
 *   the last DELs nothing is left.
 * No timing is asserted: the kill comes when the daemon reports calls in flight.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type DaemonProc,
  killHard,
  metric,
  serving,
  sleep,
  spawnDaemon,
  writeShim,
} from '../helpers/daemon-proc.ts';
import { execCni, type PluginOutcome } from '../helpers/exec-plugin.ts';
import { fourNets, leftovers, makeWorld, mirrorVfs, type World } from '../helpers/fournets.ts';
import { delNetns, ipJson, isolateHost, newNetns, requireRoot } from '../helpers/host.ts';
import { scratchDir } from '../helpers/scratch.ts';

requireRoot();
isolateHost();
const tmp = scratchDir('mf-it-dfaults-');
const PODS = 16;
let w: World;
/** The daemon's environment for calls: the shim forwards CNI_* and MANIFOLD_* only. */
let callEnv: Record<string, string>;

beforeAll(() => {
  w = makeWorld(join(tmp, 'world'), PODS); // a VF per pod of a burst
  const { PATH: _path, ...rest } = w.env;
  callEnv = rest;
});

let sockSeq = 0;
/** A fresh socket dir per test: fallbacks.log and the socket are the test's own. */
const newSocket = () => join(tmp, `run${++sockSeq}`, 'manifold.sock');

const daemons: DaemonProc[] = [];
afterAll(async () => {
  for (const d of daemons) await killHard(d);
});
async function startDaemon(sock: string, args: string[] = []): Promise<DaemonProc> {
  const d = spawnDaemon(sock, args);
  daemons.push(d);
  await serving(sock, d);
  return d;
}

interface Pod {
  readonly id: string;
  /** Its VF (index into w.vfs): no two pods of a test share one. */
  readonly vf: number;
  readonly ns: { name: string; path: string };
}

/** The shim for `sock`: the same binary, patched per test (each test has its own socket). */
function shimFor(sock: string): string {
  const dir = `${join(sock, '..')}-bin`;
  mkdirSync(dir);
  return writeShim(dir, sock);
}

function cni(bin: string, verb: 'ADD' | 'DEL', p: Pod): Promise<PluginOutcome> {
  return execCni(
    bin,
    { command: verb, containerId: p.id, netns: p.ns.path, ifname: 'eth0', env: callEnv, timeoutMs: 120_000 },
    fourNets(w, p.vf),
  );
}

/** Calls at once, then the fake sysfs brought up to date (which VF netdev is in the host). */
async function phase(bin: string, verb: 'ADD' | 'DEL', pods: Pod[]): Promise<PluginOutcome[]> {
  const r = await Promise.all(pods.map((p) => cni(bin, verb, p)));
  mirrorVfs(w);
  return r;
}

const podLinks = (p: Pod) =>
  ipJson<{ ifname: string }[]>('-n', p.ns.name, 'link', 'show')
    .map((l) => l.ifname)
    .filter((n) => n !== 'lo')
    .sort();

/** host-local reservations (network/ip) held by `id`. */
function reservationsOf(id: string): string[] {
  if (!existsSync(w.ipamDir)) return [];
  return readdirSync(w.ipamDir).flatMap((net) =>
    readdirSync(join(w.ipamDir, net))
      .filter((f) => /^\d+\.\d+\.\d+\.\d+$/.test(f))
      .filter((f) => readFileSync(join(w.ipamDir, net, f), 'utf8').split('\r\n')[0] === id)
      .map((f) => `${net}/${f}`),
  );
}
const cachesOf = (id: string) =>
  // `<network>-<containerID>-<ifname>`: the id between dashes, so ka-1 is not ka-12
  existsSync(w.cniDir) ? readdirSync(w.cniDir).filter((f) => f.includes(`-${id}-`)) : [];

/** What an attached pod has: four links, four reservations, a cache. */
let whole: string[] = [];
function expectAttached(p: Pod, why: string): void {
  expect(podLinks(p), `${p.id} ${why}`).toEqual(whole);
  expect(reservationsOf(p.id), `${p.id} ${why}`).toHaveLength(4);
  expect(cachesOf(p.id).length, `${p.id} ${why}`).toBeGreaterThan(0);
}
function expectGone(p: Pod, why: string): void {
  expect(podLinks(p), `${p.id} ${why}`).toEqual([]);
  expect(reservationsOf(p.id), `${p.id} ${why}`).toEqual([]);
  expect(cachesOf(p.id), `${p.id} ${why}`).toEqual([]);
}

/** An ADD the runtime counts as done: exit 0 and a result. */
const added = (r: PluginOutcome) => r.status === 0 && Array.isArray(r.json?.interfaces);

/**
 * The moment to kill: once the daemon has answered the first call of the burst (the shim that
 * got it has exited), while the others are running or waiting in the daemon, or still
 * connecting. Says what the daemon reported in flight just before.
 */
async function whenFirstAnswered(sock: string, calls: Promise<unknown>[]): Promise<string> {
  const before = (await metric(sock, 'manifold_requests_in_flight')) ?? 0;
  await Promise.race(calls);
  let settled = 0;
  for (const c of calls) void c.then(() => settled++);
  await sleep(0);
  return `after the first answer (${settled} of ${calls.length} done; ${before} in flight shortly before)`;
}

const fallbacks = (sock: string) => {
  const f = join(sock, '..', 'fallbacks.log');
  return existsSync(f) ? readFileSync(f, 'utf8').split('\n').filter(Boolean) : [];
};

function newPods(tag: string, n: number, firstVf = 0): Pod[] {
  return Array.from({ length: n }, (_, i) => ({ id: `${tag}-${i}`, vf: firstVf + i, ns: newNetns('mfdk') }));
}

describe('the daemon killed (SIGKILL) during a burst of 16 ADDs', () => {
  beforeAll(async () => {
    // calibration: one pod through the daemon, attached and removed whole
    const sock = newSocket();
    const d = await startDaemon(sock);
    const bin = shimFor(sock);
    const [p] = newPods('cal', 1) as [Pod];
    const [r] = (await phase(bin, 'ADD', [p])) as [PluginOutcome];
    expect(r.status, r.stdout).toBe(0);
    whole = podLinks(p);
    expect(whole).toHaveLength(4);
    expect((await phase(bin, 'DEL', [p]))[0]?.status).toBe(0);
    expect(leftovers(w, p.ns.name)).toEqual([]);
    delNetns(p.ns.name);
    await killHard(d);
  }, 60_000);

  it.each([
    ['up', true],
    ['absent (the shim falls back to one-shot)', false],
  ] as const)(
    'after the runtime’s retries every pod is attached; its DELs with the daemon %s leave nothing',
    async (_what, upForDels) => {
      const sock = newSocket();
      const bin = shimFor(sock);
      const first = await startDaemon(sock);
      const pods = newPods(upForDels ? 'ka' : 'kb', PODS);
      const calls = pods.map((p) => cni(bin, 'ADD', p));
      const when = await whenFirstAnswered(sock, calls);
      await killHard(first);
      const results = await Promise.all(calls);
      mirrorVfs(w);
      const failed = pods.filter((_, i) => !added(results[i] as PluginOutcome));
      const report = results.map((r, i) => `${pods[i]?.id}: ${r.status} ${r.json?.code ?? ''}`.trim());
      // what the kill left of the failed ADDs (links made, addresses reserved, caches written)
      const partial = failed.filter(
        (p) => podLinks(p).length + reservationsOf(p.id).length + cachesOf(p.id).length > 0,
      ).length;
      // a failed ADD through the shim is its code 11 (the daemon went away) or a one-shot's own error
      for (const r of results.filter((x) => !added(x))) {
        expect(r.status, r.stdout).toBe(1);
        expect(typeof r.json?.code, r.stdout).toBe('number');
      }

      // the runtime's reaction, with the daemon back: DEL, then ADD again, for each failed pod
      const second = await startDaemon(sock);
      const undone = await phase(bin, 'DEL', failed);
      undone.forEach((del, i) => {
        expect(del.status, `DEL of ${failed[i]?.id}: ${del.stdout}`).toBe(0);
        expectGone(failed[i] as Pod, 'after the DEL of a failed ADD');
      });
      const retried = await phase(bin, 'ADD', failed);
      retried.forEach((r, i) => {
        expect(r.status, `retried ADD of ${failed[i]?.id}: ${r.stdout}`).toBe(0);
      });
      for (const p of pods) expectAttached(p, 'after the retries');

      if (!upForDels) await killHard(second);
      const before = fallbacks(sock).length;
      const dels = await phase(bin, 'DEL', pods);
      dels.forEach((r, i) => {
        expect(r.status, `final DEL of ${pods[i]?.id}: ${r.stdout}`).toBe(0);
      });
      if (!upForDels) expect(fallbacks(sock).length - before).toBe(PODS);
      for (const p of pods) expect(leftovers(w, p.ns.name), p.id).toEqual([]);
      process.stdout.write(
        `\nkill -9 ${when}: ${failed.length} of ${PODS} ADDs failed, ${partial} of them half done (${report.join(', ')}); fallbacks ${fallbacks(sock).length}\n`,
      );
      for (const p of pods) delNetns(p.ns.name);
      if (upForDels) await killHard(second);
    },
    180_000,
  );
});

describe('the daemon restarted during a burst of 8 ADDs and 8 DELs', () => {
  it.each([
    ['SIGTERM and a new daemon with --replace', 'term'],
    ['SIGKILL and a new daemon', 'kill'],
  ] as const)(
    '%s: every pod ends attached or cleaned up, and nothing leaks',
    async (_what, how) => {
      const sock = newSocket();
      const bin = shimFor(sock);
      const first = await startDaemon(sock);
      const tag = how === 'term' ? 'rt' : 'rk';
      const toDel = newPods(`${tag}d`, PODS / 2);
      const toAdd = newPods(`${tag}a`, PODS / 2, PODS / 2);
      const pre = await phase(bin, 'ADD', toDel);
      pre.forEach((r, i) => {
        expect(r.status, `${toDel[i]?.id}: ${r.stdout}`).toBe(0);
      });

      const addCalls = toAdd.map((p) => cni(bin, 'ADD', p));
      const delCalls = toDel.map((p) => cni(bin, 'DEL', p));
      const burst = Promise.all([Promise.all(addCalls), Promise.all(delCalls)]);
      const when = await whenFirstAnswered(sock, [...addCalls, ...delCalls]);
      let second: DaemonProc;
      if (how === 'term') {
        second = spawnDaemon(sock, ['--replace']);
        daemons.push(second);
        await serving(sock, second);
        process.kill(first.pid, 'SIGTERM');
        expect((await first.exited).code, first.stderr).toBe(0);
      } else {
        await killHard(first);
        second = await startDaemon(sock);
      }
      const [adds, dels] = await burst;
      mirrorVfs(w);

      // a DEL is never reported done without being done
      dels.forEach((r, i) => {
        expect(r.status, `DEL of ${toDel[i]?.id}: ${r.stdout}`).toBe(0);
        expectGone(toDel[i] as Pod, 'after its DEL');
      });
      // an ADD that succeeded is whole; one that failed is DELeted by the runtime and leaves nothing
      let failed = 0;
      for (const [i, r] of adds.entries()) {
        const p = toAdd[i] as Pod;
        if (added(r)) {
          expectAttached(p, 'after a successful ADD');
        } else {
          failed++;
          expect(r.status, r.stdout).toBe(1);
          const [del] = (await phase(bin, 'DEL', [p])) as [PluginOutcome];
          expect(del.status, `DEL after the failed ADD of ${p.id}: ${del.stdout}`).toBe(0);
          expectGone(p, 'after the DEL of a failed ADD');
        }
      }
      const last = await phase(bin, 'DEL', toAdd);
      last.forEach((r, i) => {
        expect(r.status, `${toAdd[i]?.id}: ${r.stdout}`).toBe(0);
      });
      for (const p of [...toAdd, ...toDel]) expect(leftovers(w, p.ns.name), p.id).toEqual([]);
      process.stdout.write(
        `\nrestart (${how}) ${when}: ${failed} of ${toAdd.length} ADDs failed; fallbacks ${fallbacks(sock).join(' | ') || 'none'}\n`,
      );
      for (const p of [...toAdd, ...toDel]) delNetns(p.ns.name);
      await killHard(second);
    },
    180_000,
  );
});
