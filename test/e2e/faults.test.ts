/**
 * Faults: the real executable (dist/bin/manifold) killed with SIGKILL at timed
 * points spread over a meta-plugin ADD with four built-in delegates (bridge with ipMasq,
 * macvlan, vxlan in bridge mode, sriov on a fake sysfs); then one DEL must leave nothing: no
 * pod link, no temporary host link, no shared vxlan device, no reservation, no nftables
 * chain, no cache, no VF record, the VF back under its name, MAC and MTU. And DEL after a
 * "reboot": the netns path gone, /run emptied, the host devices and nftables gone, caches
 * and IPAM stores still there.
 *
 * The kill points are times, not code points: each run spreads them over a measured ADD,
 * and the report printed at the end says which state every kill left (what had been made).
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execCni } from '../helpers/exec-plugin.ts';
import {
  fourNets,
  leftovers,
  makeVfNetdev,
  makeWorld,
  mirrorVfs,
  snapshot,
  type World,
} from '../helpers/fournets.ts';
import { delNetns, ip, ipJson, isolateHost, newNetns, requireRoot } from '../helpers/host.ts';

requireRoot();
const MANIFOLD = fileURLToPath(new URL('../../dist/bin/manifold', import.meta.url));
if (!existsSync(MANIFOLD)) throw new Error(`${MANIFOLD} is missing: run ./build.sh first`);
isolateHost();

const POINTS = Number(process.env.MANIFOLD_FAULT_POINTS ?? 36);
let w: World;
beforeAll(() => {
  w = makeWorld(mkdtempSync(join(tmpdir(), 'manifold-e2e-faults-')), 1);
});
afterAll(() => rmSync(w.work, { recursive: true, force: true }));

function envFor(command: string, id: string, netns: string): Record<string, string> {
  return {
    ...w.env,
    CNI_COMMAND: command,
    CNI_CONTAINERID: id,
    CNI_NETNS: netns,
    CNI_IFNAME: 'eth0',
    CNI_PATH: join(MANIFOLD, '..'),
  };
}

/** ADD, killed with SIGKILL after `ms` (never, when undefined); resolves with how it ended and how long it ran. */
function addKilledAfter(
  id: string,
  netns: string,
  ms: number | undefined,
): Promise<{ status: number | null; ran: number; stdout: string }> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(MANIFOLD, [], { env: envFor('ADD', id, netns), stdio: ['pipe', 'pipe', 'ignore'] });
    let stdout = '';
    child.stdout.on('data', (b: Buffer) => {
      stdout += b.toString();
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(JSON.stringify(fourNets(w, 0)));
    const timer = ms === undefined ? undefined : setTimeout(() => child.kill('SIGKILL'), ms);
    child.on('error', reject);
    child.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, ran: performance.now() - started, stdout });
    });
  });
}

async function del(id: string, netns: string) {
  return execCni(
    MANIFOLD,
    { command: 'DEL', containerId: id, netns, ifname: 'eth0', path: [join(MANIFOLD, '..')], env: w.env },
    fourNets(w, 0),
  );
}

describe('kill -9 during a four-network ADD, then DEL', () => {
  it(`leaves nothing, at each of ${POINTS} kill points spread over the ADD`, async () => {
    // calibration: a whole ADD, its duration, and a DEL that must leave nothing
    const cal = newNetns();
    const full = await addKilledAfter('fault-cal', cal.path, undefined);
    expect(full.status, full.stdout).toBe(0);
    const whole = snapshot(w, cal.name);
    mirrorVfs(w);
    expect((await del('fault-cal', cal.path)).status).toBe(0);
    mirrorVfs(w);
    expect(leftovers(w, cal.name)).toEqual([]);
    delNetns(cal.name);

    // Kills before the process has started do nothing: the window runs from a VERSION call's
    // time (start-up) to past a whole ADD's (calls vary on a busy machine).
    const version = await execCni(MANIFOLD, { command: 'VERSION', env: w.env }, '{}');
    const from = version.ms * 0.8;
    const to = full.ran * 1.4;
    const report: string[] = [
      `whole ADD: ${full.ran.toFixed(0)} ms (leaves ${whole}); start-up ${version.ms.toFixed(0)} ms; kills from ${from.toFixed(0)} to ${to.toFixed(0)} ms`,
    ];
    const states = new Map<string, number>();
    for (let i = 0; i < POINTS; i++) {
      const at = Math.round(from + ((to - from) * (i + 0.5)) / POINTS);
      const id = `fault${i}`;
      const pod = newNetns();
      const r = await addKilledAfter(id, pod.path, at);
      mirrorVfs(w);
      const state = snapshot(w, pod.name);
      states.set(state, (states.get(state) ?? 0) + 1);
      const d = await del(id, pod.path);
      mirrorVfs(w);
      const left = leftovers(w, pod.name);
      report.push(
        `kill at ${String(at).padStart(4)} ms (${r.status === null ? 'killed' : `exit ${r.status}`}): ${state} → DEL ${d.status}${left.length ? ` LEFT ${left.join('; ')}` : ''}`,
      );
      expect(d.status, `DEL after a kill at ${at} ms: ${d.stdout}`).toBe(0);
      expect(left, `after a kill at ${at} ms (state ${state})`).toEqual([]);
      delNetns(pod.name);
    }
    report.push(`${states.size} distinct states left by the kills (state: kills):`);
    for (const [state, n] of states) report.push(`  ${state}: ${n}`);
    process.stdout.write(`\nfault points:\n  ${report.join('\n  ')}\n`);
  }, 300_000);
});

describe('DEL after a reboot', () => {
  it('netns path gone, /run emptied, host devices and nftables gone, caches and stores kept: DEL releases everything', async () => {
    const pod = newNetns();
    const added = await addKilledAfter('reboot1', pod.path, undefined);
    expect(added.status, added.stdout).toBe(0);
    // the reboot: namespaces (their /run/netns mounts), links and nftables are gone; /var/lib
    // (caches, stores) stays; the VF's driver brings its netdev back under its name, MAC and MTU.
    // (/run/manifold, the host-wide vxlan lock, is left alone: other test runs may hold it;
    // DEL makes it again when it is missing.)
    delNetns(pod.name);
    for (const dev of ['f4br0', 'vxbr4242', 'vxlan4242']) {
      try {
        ip('link', 'del', dev);
      } catch {
        // not there
      }
    }
    spawnSync('nft', ['flush', 'ruleset']);
    const vf = w.vfs[0];
    if (vf && !ipJsonHas(vf.netdev)) {
      try {
        ip('link', 'del', `${vf.netdev}p`);
      } catch {
        // went with the netns
      }
      makeVfNetdev(vf);
    }
    mirrorVfs(w);
    const d = await del('reboot1', pod.path);
    expect(d.status, d.stdout).toBe(0);
    mirrorVfs(w);
    expect(leftovers(w, undefined)).toEqual([]);
  });
});

function ipJsonHas(dev: string): boolean {
  return ipJson<{ ifname: string }[]>('link', 'show').some((l) => l.ifname === dev);
}
