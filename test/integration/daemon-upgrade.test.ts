/**
 * A rolling upgrade under load (issue 21: "a new daemon takes over the socket while the old one
 * finishes its in-flight requests; loses no request"). While WORKERS loops each churn pods —
 * ADD, then DEL, through the built shim (dist/shim configured as `manifold install --mode
 * daemon` configures it) on three networks (bridge with ipMasq, macvlan, vxlan bridge mode:
 * shared host devices and locks) — the daemon is upgraded UPGRADES times as a DaemonSet
 * update does it: a new `manifold daemon --replace` starts and takes the socket over, then
 * the old one gets SIGTERM, drains and exits 0. No request may be lost: every ADD answers a
 * result and leaves the pod whole, every DEL answers 0 and leaves nothing of it, the shim never
 * needed its one-shot fallback (fallbacks.log stays empty), and nothing is left at the end.
 * daemon-faults.test.ts has the upgrade in the middle of one burst; this one keeps the calls
 * coming across the takeover and the drain.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type DaemonProc, killHard, serving, sleep, spawnDaemon, writeShim } from '../helpers/daemon-proc.ts';
import { execCni, type PluginOutcome } from '../helpers/exec-plugin.ts';
import { fourNets, leftovers, makeWorld, podLeftovers, type World } from '../helpers/fournets.ts';
import { delNetns, ipJson, isolateHost, newNetns, requireRoot } from '../helpers/host.ts';
import { scratchDir } from '../helpers/scratch.ts';

requireRoot();
isolateHost();
const tmp = scratchDir('mf-it-dupg-');
const WORKERS = 4;
const UPGRADES = 3;
/** Pods each worker churns between two upgrades (and before the first, after the last). */
const BETWEEN = 2;
let w: World;
let conf: Record<string, unknown>;
let callEnv: Record<string, string>;
let bin: string;
const socket = join(tmp, 'run', 'manifold.sock');

beforeAll(() => {
  w = makeWorld(join(tmp, 'world'), 0);
  conf = fourNets(w, 0);
  conf.delegates = (conf.delegates as unknown[]).slice(0, 3); // sriov: daemon-killpoints.test.ts
  const { PATH: _path, ...rest } = w.env;
  callEnv = rest;
  bin = writeShim(tmp, socket);
});

const daemons: DaemonProc[] = [];
afterAll(async () => {
  for (const d of daemons) await killHard(d);
});
async function startDaemon(args: string[] = []): Promise<DaemonProc> {
  const d = spawnDaemon(socket, args);
  daemons.push(d);
  await serving(socket, d);
  return d;
}

/** Calls running now, from the runtime's side (to count those that span a SIGTERM). */
let running = 0;
async function cni(verb: 'ADD' | 'DEL', id: string, netns: string): Promise<PluginOutcome> {
  running++;
  try {
    return await execCni(
      bin,
      { command: verb, containerId: id, netns, ifname: 'eth0', env: callEnv, timeoutMs: 120_000 },
      conf,
    );
  } finally {
    running--;
  }
}

const podLinks = (ns: string) =>
  ipJson<{ ifname: string }[]>('-n', ns, 'link', 'show')
    .map((l) => l.ifname)
    .filter((n) => n !== 'lo')
    .sort();

const fallbacks = () => {
  const f = join(socket, '..', 'fallbacks.log');
  return existsSync(f) ? readFileSync(f, 'utf8').split('\n').filter(Boolean) : [];
};

it(`${UPGRADES} rolling upgrades (--replace, then SIGTERM) while ${WORKERS} workers churn pods: no request lost`, async () => {
  let current = await startDaemon();
  const problems: string[] = [];
  let adds = 0;
  let dels = 0;
  let finished = 0;
  let stop = false;
  let seq = 0;
  const worker = async () => {
    while (!stop) {
      const id = `up${++seq}`;
      const pod = newNetns('mfup');
      const a = await cni('ADD', id, pod.path);
      adds++;
      if (a.status !== 0 || !Array.isArray(a.json?.interfaces))
        problems.push(`ADD ${id}: exit ${a.status} ${a.stdout}`);
      else if (podLinks(pod.name).length !== 3)
        problems.push(`ADD ${id}: links ${podLinks(pod.name).join(',')}`);
      const d = await cni('DEL', id, pod.path);
      dels++;
      if (d.status !== 0) problems.push(`DEL ${id}: exit ${d.status} ${d.stdout}`);
      problems.push(...podLeftovers(pod.name).map((l) => `DEL ${id}: ${l}`));
      delNetns(pod.name);
      finished++;
    }
  };
  const until = async (n: number) => {
    while (finished < n) await sleep(20);
  };
  const load = Array.from({ length: WORKERS }, worker);
  const takeovers: string[] = [];
  for (let u = 1; u <= UPGRADES; u++) {
    await until(u * WORKERS * BETWEEN);
    const old = current;
    current = await startDaemon(['--replace']);
    const atTerm = running;
    process.kill(old.pid, 'SIGTERM');
    const exit = await old.exited;
    expect(exit.code, old.stderr).toBe(0);
    takeovers.push(`#${u} after ${finished} pods (${atTerm} calls running at the SIGTERM)`);
  }
  await until((UPGRADES + 1) * WORKERS * BETWEEN);
  stop = true;
  await Promise.all(load);
  const log = fallbacks();
  const left = leftovers(w, undefined);
  process.stdout.write(
    `\nrolling upgrades under load: ${adds} ADDs, ${dels} DELs, ${problems.length} lost or wrong, ${log.length} fallbacks; takeovers ${takeovers.join('; ')}\n`,
  );
  expect(problems).toEqual([]);
  expect(log).toEqual([]);
  expect(left).toEqual([]);
  expect(readdirSync(join(socket, '..')).filter((f) => f.endsWith('.sock'))).toEqual(['manifold.sock']);
  await killHard(current);
}, 180_000);
