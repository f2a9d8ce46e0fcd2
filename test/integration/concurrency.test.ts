/**
 * Concurrency, with real processes (the source run as the executable would run:
 * `node src/main.ts`, so locks are taken across processes as on a node):
 * - 16 meta ADDs at once for different pods on the same networks — one bridge, one host-local
 *   range, one vxlan bridge-mode VNI — get 16 distinct IPs and share one vxlan device and one
 *   bridge; 16 DELs at once then leave nothing, the shared vxlan devices included.
 * - ADDs and DELs of different pods interleaved at random for a minute (MANIFOLD_CHURN_SECONDS)
 *   on four networks (bridge, macvlan, vxlan bridge mode, sriov on a fake sysfs with fewer VFs
 *   than pods): host-local, the vxlan reference count and the VF allocation are checked
 *   against a model after every call, and at the end nothing is left.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execSource } from '../helpers/exec-plugin.ts';
import { fourNets, leftovers, makeWorld, VNI, type World } from '../helpers/fournets.ts';
import { ipJson, isolateHost, newNetns, requireRoot } from '../helpers/host.ts';
import { builtinLoader, runWith } from '../helpers/skel.ts';

requireRoot();
isolateHost();
const CHURN_SECONDS = Number(process.env.MANIFOLD_CHURN_SECONDS ?? 60);
const VFS = 4;
let w: World;
beforeAll(() => {
  w = makeWorld(mkdtempSync(join(tmpdir(), 'manifold-it-conc-')), VFS);
});
afterAll(() => rmSync(w.work, { recursive: true, force: true }));

interface Link {
  ifname: string;
  master?: string;
}
const hostLinks = () => ipJson<Link[]>('link', 'show');
const ports = (bridge: string) => hostLinks().filter((l) => l.master === bridge);

/** The reservations of a host-local network: ip → container id. */
function store(network: string): Map<string, string> {
  const dir = join(w.ipamDir, network);
  const out = new Map<string, string>();
  if (!existsSync(dir)) return out;
  for (const f of readdirSync(dir).filter((x) => /^\d+\.\d+\.\d+\.\d+$/.test(x))) {
    out.set(f, readFileSync(join(dir, f), 'utf8').split('\r\n')[0] ?? '');
  }
  return out;
}

/** One meta call as its own process (cross-process locks, as on a node). */
function call(command: 'ADD' | 'DEL', id: string, netns: string, conf: object) {
  return execSource(
    'manifold',
    { command, containerId: id, netns, ifname: 'eth0', env: w.env, timeoutMs: 120_000 },
    conf,
  );
}

/**
 * One meta call in this process, concurrent with the others at every await (file locks
 * conflict between open files of one process as between processes): many more calls per
 * minute than processes made from the source allow. MANIFOLD_CHURN_PROCESSES=1 uses processes.
 */
async function churnCall(command: 'ADD' | 'DEL', id: string, netns: string, conf: object) {
  if (process.env.MANIFOLD_CHURN_PROCESSES === '1') return call(command, id, netns, conf);
  const r = await runWith(
    builtinLoader('manifold'),
    { ...w.env, CNI_COMMAND: command, CNI_CONTAINERID: id, CNI_NETNS: netns, CNI_IFNAME: 'eth0' },
    JSON.stringify(conf),
  );
  return { status: r.code, stdout: r.stdout };
}

describe('16 pods at once', () => {
  it('16 concurrent ADDs get 16 distinct IPs and share one vxlan device and one bridge; 16 concurrent DELs leave nothing', async () => {
    const conf = { ...fourNets(w, 0) };
    const delegates = (conf.delegates as Record<string, unknown>[]).filter(
      (d) => d.type !== 'macvlan' && d.type !== 'sriov',
    );
    const two = { ...conf, name: 'sixteen', delegates };
    const pods = Array.from({ length: 16 }, (_, i) => ({ id: `c16-${i}`, ns: newNetns() }));
    const adds = await Promise.all(pods.map((p) => call('ADD', p.id, p.ns.path, two)));
    adds.forEach((r, i) => {
      expect(r.status, `ADD ${i}: ${r.stdout}`).toBe(0);
    });
    for (const net of ['f4-bridge', 'f4-vxlan']) {
      const s = store(net);
      expect(s.size, net).toBe(16);
      expect(new Set(s.values())).toEqual(new Set(pods.map((p) => p.id)));
    }
    const got = adds.map((r) => ((r.json?.ips ?? []) as { address: string }[]).map((x) => x.address));
    expect(new Set(got.map((g) => g[0])).size).toBe(16);
    expect(new Set(got.map((g) => g[1])).size).toBe(16);
    expect(hostLinks().filter((l) => l.ifname === `vxlan${VNI}`)).toHaveLength(1);
    expect(ports(`vxbr${VNI}`)).toHaveLength(17); // 16 veths and the vxlan device
    expect(ports('f4br0')).toHaveLength(16);

    const dels = await Promise.all(pods.map((p) => call('DEL', p.id, p.ns.path, two)));
    dels.forEach((r, i) => {
      expect(r.status, `DEL ${i}: ${r.stdout}`).toBe(0);
    });
    for (const p of pods) expect(leftovers(w, p.ns.name)).toEqual([]);
    expect(hostLinks().map((l) => l.ifname)).not.toContain(`vxbr${VNI}`);
  }, 180_000);
});

describe('a minute of random interleaving', () => {
  it(`ADDs and DELs at random for ${CHURN_SECONDS} s never corrupt host-local, the vxlan refcount or the VF allocation`, async () => {
    const SLOTS = 8;
    const WORKERS = 4;
    type Slot = { ns: { name: string; path: string }; id: string; vf: number | undefined; busy: boolean };
    const slots: Slot[] = Array.from({ length: SLOTS }, () => ({
      ns: newNetns(),
      id: '',
      vf: undefined,
      busy: false,
    }));
    let seq = 0;
    const stats = { add: 0, addRefused: 0, del: 0 };
    const problems: string[] = [];
    const attached = () => slots.filter((s) => s.vf !== undefined);

    /**
     * The model against the kernel and the stores. Calls in flight may or may not have done
     * their part yet, so counts are checked between what the settled pods need and what the
     * calls in flight could add.
     */
    const verify = (when: string) => {
      const settled = slots.filter((s) => s.vf !== undefined && !s.busy);
      const inFlight = slots.filter((s) => s.busy).length;
      const known = new Set(slots.filter((s) => s.vf !== undefined || s.busy).map((s) => s.id));
      for (const net of ['f4-bridge', 'f4-macvlan', 'f4-vxlan', 'f4-sriov']) {
        const owners = [...store(net).values()];
        const stray = owners.filter((o) => !known.has(o));
        if (stray.length) problems.push(`${when}: ${net} holds IPs of ${stray.join(', ')}`);
        const dup = owners.filter((o, i) => owners.indexOf(o) !== i);
        if (dup.length) problems.push(`${when}: ${net} gave two IPs to ${dup.join(', ')}`);
        for (const p of settled)
          if (!owners.includes(p.id)) problems.push(`${when}: ${net} lost the IP of ${p.id}`);
      }
      const within = (n: number, what: string) => {
        if (n < settled.length || n > settled.length + inFlight)
          problems.push(`${when}: ${n} ${what} for ${settled.length} pods (+${inFlight} calls in flight)`);
      };
      const vx = hostLinks().some((l) => l.ifname === `vxlan${VNI}`);
      if (settled.length > 0 && !vx)
        problems.push(`${when}: vxlan${VNI} is gone with ${settled.length} pods on it`);
      if (settled.length + inFlight === 0 && vx) problems.push(`${when}: vxlan${VNI} outlived its last pod`);
      within(ports(`vxbr${VNI}`).filter((l) => l.ifname !== `vxlan${VNI}`).length, `vxbr${VNI} pod ports`);
      within(
        existsSync(w.sriovDir) ? readdirSync(w.sriovDir).filter((f) => f.endsWith('.json')).length : 0,
        'VF records',
      );
      const byVf = new Map<number, string>();
      for (const p of settled) {
        const other = byVf.get(p.vf ?? -1);
        if (other) problems.push(`${when}: VF ${p.vf} given to ${other} and ${p.id}`);
        byVf.set(p.vf ?? -1, p.id);
        const inPod = ipJson<Link[]>('-n', p.ns.name, 'link', 'show').map((l) => l.ifname);
        if (inPod.length !== 5) problems.push(`${when}: pod ${p.id} has ${inPod.join(',')}`);
        const vf = w.vfs[p.vf ?? -1];
        if (vf && hostLinks().some((l) => l.ifname === vf.netdev))
          problems.push(`${when}: ${vf.netdev} of ${p.id} is in the host`);
      }
    };

    const deadline = Date.now() + CHURN_SECONDS * 1000;
    const worker = async () => {
      while (Date.now() < deadline) {
        const free = slots.filter((s) => !s.busy);
        const s = free[Math.floor(Math.random() * free.length)];
        if (!s) {
          await new Promise((r) => setTimeout(r, 20));
          continue;
        }
        s.busy = true;
        if (s.vf === undefined) {
          // any VF, busy or not: the device plugin would not, but two pods asking for one VF
          // must get it once, and the refused ADD must leave nothing
          const taken = new Set(slots.map((o) => o.vf));
          const freeVfs = w.vfs.map((_, i) => i).filter((i) => !taken.has(i));
          const vf =
            freeVfs.length > 0 && Math.random() < 0.75
              ? (freeVfs[Math.floor(Math.random() * freeVfs.length)] as number)
              : Math.floor(Math.random() * VFS);
          s.id = `churn${++seq}`;
          const r = await churnCall('ADD', s.id, s.ns.path, fourNets(w, vf, { name: 'churn' }));
          if (r.status === 0) {
            s.vf = vf;
            stats.add++;
          } else {
            stats.addRefused++;
            // refused only because another pod of ours held the VF at that moment (it may have
            // been deleted since, or its own ADD may still be in flight)
            const holder = /allocated to container \\"(churn\d+)\\"/.exec(r.stdout)?.[1];
            const mine = attached().some((o) => o.vf === vf) || (holder !== undefined && holder !== s.id);
            if (!mine) problems.push(`ADD ${s.id} of free VF ${vf} failed: ${r.stdout}`);
            const left = ipJson<Link[]>('-n', s.ns.name, 'link', 'show').filter((l) => l.ifname !== 'lo');
            if (left.length) problems.push(`refused ADD ${s.id} left ${left.map((l) => l.ifname).join(',')}`);
          }
        } else {
          const r = await churnCall('DEL', s.id, s.ns.path, fourNets(w, s.vf, { name: 'churn' }));
          if (r.status !== 0) problems.push(`DEL ${s.id}: ${r.stdout}`);
          s.vf = undefined;
          stats.del++;
        }
        s.busy = false;
        verify(`after call ${stats.add + stats.addRefused + stats.del}`);
      }
    };
    await Promise.all(Array.from({ length: WORKERS }, worker));
    verify('at the end');
    for (const s of attached()) {
      const r = await churnCall('DEL', s.id, s.ns.path, fourNets(w, s.vf ?? 0, { name: 'churn' }));
      if (r.status !== 0) problems.push(`final DEL ${s.id}: ${r.stdout}`);
    }
    for (const s of slots) problems.push(...leftovers(w, s.ns.name).map((l) => `after the last DEL: ${l}`));
    process.stdout.write(
      `\nchurn: ${CHURN_SECONDS} s, ${WORKERS} workers, ${SLOTS} pods, ${VFS} VFs: ${stats.add} ADDs, ${stats.addRefused} refused (VF taken), ${stats.del} DELs\n`,
    );
    expect(problems).toEqual([]);
  }, 600_000);
});
