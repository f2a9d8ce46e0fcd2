/**
 * The soak (not in any default run: `bash test/soak/run.sh`): 200 pods × 4 attachments
 * (bridge with ipMasq, macvlan, vxlan bridge mode, sriov on a fake sysfs) churned through
 * libcni — the library containerd and CRI-O use — by 8 concurrent workers, each pod ADD,
 * CHECK, DEL, against the built executable (dist/bin/manifold). Afterwards it reports what
 * leaked (links, IPs, caches, nftables rules, VF records, fds held on manifold's state: zero
 * expected), the p50/p99 latency of ADD and DEL as libcni sees them, and the peak RSS of a
 * manifold process (VmHWM, sampled every 2 ms). SOAK_PODS and SOAK_WORKERS change the size.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readlinkSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { fourNets, leftovers, makeWorld, podLeftovers, type World } from '../helpers/fournets.ts';
import { delNetns, isolateHost, newNetns, requireRoot } from '../helpers/host.ts';
import { buildCnitest, cniAdd, cniCheck, cniDel, writeConfFile } from '../helpers/libcni.ts';

requireRoot();
const BIN = fileURLToPath(new URL('../../dist/bin', import.meta.url));
if (!existsSync(join(BIN, 'manifold'))) throw new Error(`${BIN}/manifold is missing: run ./build.sh first`);
isolateHost();
const PODS = Number(process.env.SOAK_PODS ?? 200);
const WORKERS = Number(process.env.SOAK_WORKERS ?? 8);

let w: World;
beforeAll(async () => {
  await buildCnitest();
  w = makeWorld(mkdtempSync(join(tmpdir(), 'manifold-soak-')), WORKERS);
  // libcni passes its environment on to the plugins
  for (const [k, v] of Object.entries(w.env)) process.env[k] = v;
});
afterAll(() => rmSync(w.work, { recursive: true, force: true }));

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? Number.NaN;
}

/**
 * A sampler in its own process (this one blocks on iproute2 calls): every 2 ms, every
 * manifold process's peak RSS (VmHWM) and open fds; the maxima when its stdin closes.
 */
const SAMPLER = `
const fs = require('node:fs');
const peak = { rssKb: 0, fds: 0, pids: new Set() };
const tick = () => {
  for (const pid of fs.readdirSync('/proc')) {
    if (!/^\\d+$/.test(pid)) continue;
    try {
      if (fs.readlinkSync('/proc/' + pid + '/exe') !== process.argv[1]) continue;
      peak.pids.add(pid);
      const hwm = /VmHWM:\\s+(\\d+) kB/.exec(fs.readFileSync('/proc/' + pid + '/status', 'utf8'));
      peak.rssKb = Math.max(peak.rssKb, Number(hwm ? hwm[1] : 0));
      peak.fds = Math.max(peak.fds, fs.readdirSync('/proc/' + pid + '/fd').length);
    } catch {}
  }
};
const timer = setInterval(tick, 2);
process.stdin.on('data', () => {}).on('end', () => {
  clearInterval(timer);
  process.stdout.write(JSON.stringify({ rssKb: peak.rssKb, fds: peak.fds, seen: peak.pids.size }));
});
`;

function startSampler(): { stop(): Promise<{ rssKb: number; fds: number; seen: number }> } {
  // a process is manifold by its executable (Node renames its command to "node")
  const exe = realpathSync(join(BIN, 'manifold'));
  const child = spawn(process.execPath, ['-e', SAMPLER, exe], { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (b: Buffer) => {
    out += b.toString();
  });
  return {
    stop: () =>
      new Promise((resolve) => {
        child.on('close', () => resolve(JSON.parse(out || '{"rssKb":0,"fds":0,"seen":0}')));
        child.stdin.end();
      }),
  };
}

/** Open fds of any process on a file under `dir` (a process that outlived its call, or a leak). */
function fdsInto(dir: string): string[] {
  const out: string[] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      for (const fd of readdirSync(`/proc/${pid}/fd`)) {
        const target = readlinkSync(`/proc/${pid}/fd/${fd}`);
        if (target.startsWith(dir)) out.push(`${pid}:${target}`);
      }
    } catch {
      // gone, or not ours to read
    }
  }
  return out;
}

it(`churns ${PODS} pods × 4 attachments through libcni with ${WORKERS} workers and leaks nothing`, async () => {
  const confs = Array.from({ length: WORKERS }, (_, k) => {
    const meta = fourNets(w, k);
    const { cniVersion: _v, name: _n, ...plugin } = meta;
    return writeConfFile({ cniVersion: '1.0.0', name: `soak${k}`, plugins: [plugin] }, w.work);
  });
  const add: number[] = [];
  const del: number[] = [];
  const failures: string[] = [];
  const podLeaks: string[] = [];
  const sampler = startSampler();
  const started = performance.now();
  let next = 0;
  const worker = async (k: number) => {
    for (let i = next++; i < PODS; i = next++) {
      const pod = newNetns('mfsk');
      const opts = {
        conf: confs[k] as string,
        netns: pod.path,
        ifname: 'eth0',
        containerId: `soak${i}`,
        cniPath: [BIN],
        cacheDir: join(w.work, 'libcni'),
        timeoutMs: 120_000,
      };
      let t = performance.now();
      const a = await cniAdd(opts);
      add.push(performance.now() - t);
      if (!a.ok) failures.push(`ADD soak${i}: ${a.error.text}`);
      const c = await cniCheck(opts);
      if (!c.ok) failures.push(`CHECK soak${i}: ${c.error.text}`);
      t = performance.now();
      const d = await cniDel(opts);
      del.push(performance.now() - t);
      if (!d.ok) failures.push(`DEL soak${i}: ${d.error.text}`);
      // only this pod's namespace: the shared state (reservations, caches, the vxlan device)
      // changes under the other workers' calls, and is checked once they are all done
      podLeaks.push(...podLeftovers(pod.name).map((l) => `soak${i}: ${l}`));
      delNetns(pod.name);
    }
  };
  await Promise.all(Array.from({ length: WORKERS }, (_, k) => worker(k)));
  const peak = await sampler.stop();
  const seconds = (performance.now() - started) / 1000;
  const leaks = leftovers(w, undefined);
  const libcniCache = existsSync(join(w.work, 'libcni', 'results'))
    ? readdirSync(join(w.work, 'libcni', 'results'))
    : [];
  const heldFds = fdsInto(w.work);
  const ms = (x: number) => `${x.toFixed(0)} ms`;
  const report = [
    `soak: ${PODS} pods × 4 attachments (bridge+ipMasq, macvlan, vxlan bridge, sriov), ${WORKERS} workers, libcni ADD+CHECK+DEL, ${seconds.toFixed(0)} s`,
    `  failures: ${failures.length}`,
    `  ADD p50 ${ms(percentile(add, 50))}, p99 ${ms(percentile(add, 99))}; DEL p50 ${ms(percentile(del, 50))}, p99 ${ms(percentile(del, 99))}`,
    `  peak RSS of a manifold process ${(peak.rssKb / 1024).toFixed(1)} MiB, most fds open in one ${peak.fds} (${peak.seen} processes sampled every 2 ms)`,
    `  leaked: pod links ${podLeaks.length}, host/IP/cache/nft/VF ${leaks.length}, libcni cache entries ${libcniCache.length}, fds held on state ${heldFds.length}`,
    ...[...failures, ...podLeaks, ...leaks, ...libcniCache, ...heldFds].slice(0, 20).map((l) => `  ! ${l}`),
  ].join('\n');
  process.stdout.write(`\n${report}\n`);
  expect(failures).toEqual([]);
  expect([...podLeaks, ...leaks, ...libcniCache, ...heldFds]).toEqual([]);
}, 3_600_000);
