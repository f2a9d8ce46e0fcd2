/**
 * test/e2e/faults.test.ts's kill points with the DAEMON killed (kill -9) instead of the
 * one-shot process (issue 21, "Reliability tests"): a four-network ADD (bridge with ipMasq,
 * macvlan, vxlan in bridge mode, sriov on a fake sysfs) through the built shim, and the daemon
 * (`manifold daemon` from the source) SIGKILLed while that call runs inside it; then what the
 * runtime does with the shim's answer (code 11 for an ADD the daemon died in): DEL, ADD again,
 * and at last DEL — with the daemon restarted, or absent (every call then the shim's one-shot
 * fallback, dist/bin/manifold). Afterwards nothing is left: no pod link or address, host link,
 * reservation, cache, nftables chain, VF record or VF out of place, temp file, lock held, and no
 * file in the state directories that the calibration pod did not leave too.
 *
 * The kill points are times as in faults.test.ts: MANIFOLD_FAULT_POINTS (36) points spread
 * from the shim's exec to 1.4 × a whole ADD's time through the warm daemon. A daemon dies only
 * once, so points are grouped: each daemon run starts GROUP (6) pods' ADDs staggered so that the
 * one kill falls at a different point of each (pod j is started `point j` ms before the kill);
 * groups alternate between retrying with the daemon restarted and with it absent. The report
 * printed at the end says which state each kill left.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DaemonProc, killHard, serving, sleep, spawnDaemon, writeShim } from '../helpers/daemon-proc.ts';
import { execCni, type PluginOutcome } from '../helpers/exec-plugin.ts';
import { fourNets, leftovers, makeWorld, mirrorVfs, podLeftovers, type World } from '../helpers/fournets.ts';
import { delNetns, ipJson, isolateHost, newNetns, requireRoot } from '../helpers/host.ts';
import { scratchDir } from '../helpers/scratch.ts';

requireRoot();
isolateHost();
const tmp = scratchDir('mf-it-dkill-');
const POINTS = Number(process.env.MANIFOLD_FAULT_POINTS ?? 36);
const GROUP = 6;
let w: World;
/** The calls' environment (the shim forwards CNI_* and MANIFOLD_*). */
let callEnv: Record<string, string>;
let bin: string;
const socket = join(tmp, 'run', 'manifold.sock');

beforeAll(() => {
  w = makeWorld(join(tmp, 'world'), GROUP);
  const { PATH: _path, ...rest } = w.env;
  callEnv = rest;
  bin = writeShim(tmp, socket);
});

const daemons: DaemonProc[] = [];
afterAll(async () => {
  for (const d of daemons) await killHard(d);
});
async function startDaemon(): Promise<DaemonProc> {
  const d = spawnDaemon(socket);
  daemons.push(d);
  await serving(socket, d);
  return d;
}

interface Pod {
  readonly id: string;
  readonly vf: number;
  readonly ns: { name: string; path: string };
}

function cni(verb: 'ADD' | 'DEL', p: Pod): Promise<PluginOutcome> {
  return execCni(
    bin,
    { command: verb, containerId: p.id, netns: p.ns.path, ifname: 'eth0', env: callEnv, timeoutMs: 120_000 },
    fourNets(w, p.vf),
  );
}

/** What one pod has now: its links (addresses go with them), reservations, caches. */
function podState(p: Pod): string {
  const links = ipJson<{ ifname: string }[]>('-n', p.ns.name, 'link', 'show')
    .map((l) => l.ifname)
    .filter((n) => n !== 'lo');
  const addrs = ipJson<{ ifname: string; addr_info: unknown[] }[]>('-n', p.ns.name, 'addr', 'show').flatMap(
    (l) => (l.ifname === 'lo' ? [] : l.addr_info),
  );
  const ips = existsSync(w.ipamDir)
    ? readdirSync(w.ipamDir).flatMap((net) =>
        readdirSync(join(w.ipamDir, net)).filter(
          (f) =>
            /^\d+\.\d+\.\d+\.\d+$/.test(f) &&
            readFileSync(join(w.ipamDir, net, f), 'utf8').split('\r\n')[0] === p.id,
        ),
      )
    : [];
  const caches = existsSync(w.cniDir) ? readdirSync(w.cniDir).filter((f) => f.includes(`-${p.id}-`)) : [];
  return `pod:${links.length} addrs:${addrs.length} ips:${ips.length} cache:${caches.length}`;
}

/** Every file under the state directories (not the fake sysfs, not the socket's or the shim's). */
function stateFiles(): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    if (!existsSync(dir)) return;
    for (const e of readdirSync(dir)) {
      const p = join(dir, e);
      if (statSync(p).isDirectory()) walk(p);
      else out.push(relative(w.work, p));
    }
  };
  for (const d of [w.cniDir, w.ipamDir, w.sriovDir]) walk(d);
  return out.sort();
}

/** Lock files (by name) that some process still holds: `flock -n` cannot take them. */
const heldLocks = () =>
  stateFiles()
    .filter((f) => /lock/.test(f))
    .filter((f) => spawnSync('flock', ['-n', '-E', '75', join(w.work, f), 'true']).status === 75);

const added = (r: PluginOutcome) => r.status === 0 && Array.isArray(r.json?.interfaces);
const outcome = (r: PluginOutcome) =>
  added(r) ? 'added' : `exit ${r.status} code ${(r.json?.code as number | undefined) ?? '?'}`;

let seq = 0;
const newPod = (vf: number): Pod => ({ id: `kp${++seq}`, vf, ns: newNetns('mfkp') });

/** Phases of concurrent calls, the fake sysfs brought up to date between them (the kernel's part). */
async function phase(verb: 'ADD' | 'DEL', pods: Pod[]): Promise<PluginOutcome[]> {
  const r = await Promise.all(pods.map((p) => cni(verb, p)));
  mirrorVfs(w);
  return r;
}

describe('the daemon killed (SIGKILL) at the fault test’s kill points of a four-network ADD', () => {
  let baseline: string[] = [];
  let whole = '';
  const report: string[] = [];

  beforeAll(async () => {
    // calibration: a pod per VF through the daemon, whole, then DEL leaves nothing; the state
    // files they leave (host-local's lock and last-reserved files, a lock per VF) are the baseline
    const d = await startDaemon();
    const cal = Array.from({ length: GROUP }, (_, j) => newPod(j));
    for (const r of await phase('ADD', cal)) expect(r.status, r.stdout).toBe(0);
    whole = podState(cal[0] as Pod);
    for (const r of await phase('DEL', cal)) expect(r.status, r.stdout).toBe(0);
    for (const p of cal) expect(leftovers(w, p.ns.name)).toEqual([]);
    for (const p of cal) delNetns(p.ns.name);
    baseline = stateFiles();
    await killHard(d);
  }, 60_000);

  afterAll(() => {
    process.stdout.write(`\ndaemon kill points (whole pod: ${whole}):\n  ${report.join('\n  ')}\n`);
  });

  const groups = Math.ceil(POINTS / GROUP);
  it.each(Array.from({ length: groups }, (_, g) => [g, g % 2 === 0 ? 'restarted' : 'absent'] as const))(
    'group %i: the runtime’s DEL, ADD, DEL with the daemon %s leave nothing',
    async (g, retryWith) => {
      const first = await startDaemon();
      // a warm daemon's whole ADD through the shim, the scale of the kill points
      const cal = newPod(0);
      const [full] = await phase('ADD', [cal]);
      expect(full?.status, full?.stdout).toBe(0);
      await phase('DEL', [cal]);
      delNetns(cal.ns.name);
      const span = (full as PluginOutcome).ms * 1.4;
      const points = Array.from({ length: GROUP }, (_, j) => g * GROUP + j)
        .filter((i) => i < POINTS)
        .map((i) => Math.round((span * (i + 0.5)) / POINTS));
      const pods = points.map((_, j) => newPod(j));

      // pod j's ADD starts points[j] ms before the kill
      const last = Math.max(...points);
      const calls = pods.map(async (p, j) => {
        await sleep(last - (points[j] as number));
        return cni('ADD', p);
      });
      await sleep(last);
      await killHard(first);
      const adds = await Promise.all(calls);
      mirrorVfs(w);
      const states = pods.map(podState);
      // an ADD the daemon died in is code 11; one that reached the socket after the kill ran one-shot
      for (const r of adds.filter((x) => !added(x))) {
        expect(r.status, r.stdout).toBe(1);
        expect(r.json?.code, r.stdout).toBe(11);
      }

      // the runtime: DEL and ADD again for each failed ADD; then DEL of every pod
      const second = retryWith === 'restarted' ? await startDaemon() : undefined;
      const failed = pods.filter((_, j) => !added(adds[j] as PluginOutcome));
      const dels = await phase('DEL', failed);
      dels.forEach((r, i) => {
        expect(r.status, `DEL of ${failed[i]?.id}: ${r.stdout}`).toBe(0);
        expect(podState(failed[i] as Pod), `${failed[i]?.id} after the DEL of its failed ADD`).toBe(
          'pod:0 addrs:0 ips:0 cache:0',
        );
      });
      const retried = await phase('ADD', failed);
      retried.forEach((r, i) => {
        expect(r.status, `retried ADD of ${failed[i]?.id}: ${r.stdout}`).toBe(0);
      });
      for (const p of pods) expect(podState(p), `${p.id} attached`).toBe(whole);
      const finals = await phase('DEL', pods);
      finals.forEach((r, i) => {
        expect(r.status, `final DEL of ${pods[i]?.id}: ${r.stdout}`).toBe(0);
      });
      if (second) await killHard(second);

      const left = [
        ...pods.flatMap((p) => podLeftovers(p.ns.name).map((l) => `${p.id}: ${l}`)),
        ...leftovers(w, undefined),
      ];
      pods.forEach((_p, j) => {
        report.push(
          `kill at ${String(points[j]).padStart(4)} ms of ${(full as PluginOutcome).ms.toFixed(0)} (${outcome(adds[j] as PluginOutcome)}): ${states[j]} → retry with the daemon ${retryWith}`,
        );
      });
      expect(left).toEqual([]);
      expect(stateFiles()).toEqual(baseline);
      expect(heldLocks()).toEqual([]);
      for (const p of pods) delNetns(p.ns.name);
    },
    120_000,
  );
});
