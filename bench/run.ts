/**
 * `npm run bench`: manifold's built executable against Debian's reference plugins, both
 * driven by libcni (the library containerd and CRI-O use) from one process, side by side in
 * one run, alternating. See bench/README.md for what is measured and how to read it.
 *
 *   node bench/run.ts [--rounds 15] [--json] [--out DIR | --no-write] [--manifold BINDIR] [--no-k8s]
 *
 * Then runs bench/k8s.ts (Kubernetes pods and the other verbs) with the same rounds and build,
 * unless --no-k8s.
 * Writes the table to <out>/results.md and the chart to <out>/results.svg (out: bench/).
 * Needs root (network namespaces), `./build.sh` (dist/bin), Debian's
 * containernetworking-plugins (/usr/lib/cni), golang-go and golang-github-appc-cni-dev.
 * Self-contained: Node 24 runs it by type stripping; it imports nothing of manifold's code.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { markdown, type Pair, type Results, type Size, svg, text } from './report.ts';
import { type Stats, slope, stats } from './stats.ts';
import {
  buildDriver,
  CNIBENCH,
  type Impl,
  MF_BIN,
  NODE,
  preconditions,
  REF_BIN,
  ROOT,
  World,
} from './world.ts';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}
const ROUNDS = Math.max(2, Number(arg('rounds') ?? process.env.BENCH_ROUNDS ?? 15));
const OUT = process.argv.includes('--no-write') ? undefined : (arg('out') ?? join(ROOT, 'bench'));
const SIZES = [1, 2, 4, 8, 16];
const CONCURRENT_PODS = 16;
const CONCURRENT_NETWORKS = 2;
const IMPLS: readonly Impl[] = ['manifold', 'reference'];

interface Plan {
  readonly cniPath: string;
  readonly cacheDir: string;
  readonly concurrent?: boolean;
  readonly pods?: { containerId: string; netns: string; confs: string[] }[];
  readonly execs?: { argv: string[]; env: string[] }[];
}
interface Outcome {
  readonly pods: { addMs: number; delMs: number }[];
  readonly execMs: number[];
  readonly addMaxRssKiB: number;
}

/** One run of the libcni driver. */
function drive(world: World, plan: Plan): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      CNIBENCH,
      [],
      { env: Object.fromEntries(world.env.map((kv) => kv.split(/=(.*)/s))) },
      (err, out, stderr) => {
        if (err) reject(new Error(`cnibench failed: ${stderr || err.message}`));
        else resolve(JSON.parse(out) as Outcome);
      },
    );
    child.stdin?.end(JSON.stringify(plan));
  });
}

let seq = 0;
const cniPath = (impl: Impl) => (impl === 'manifold' ? MF_BIN : REF_BIN);
const orderOf = (round: number): readonly Impl[] => (round % 2 ? [...IMPLS].reverse() : IMPLS);

/** A pod on every size, for each implementation in turn (the order alternates by round). */
async function podRound(world: World, round: number): Promise<Map<string, { addMs: number; delMs: number }>> {
  const got = new Map<string, { addMs: number; delMs: number }>();
  const sizes = round % 2 ? [...SIZES].reverse() : SIZES;
  for (const n of sizes) {
    for (const impl of orderOf(round + n)) {
      const plan: Plan = {
        cniPath: cniPath(impl),
        cacheDir: join(world.work, 'libcni'),
        pods: [
          { containerId: `bench${++seq}`, netns: `/run/netns/${world.podNs}`, confs: world.confs(impl, n) },
        ],
      };
      const o = await drive(world, plan);
      got.set(`${impl}/${n}`, o.pods[0] as { addMs: number; delMs: number });
    }
  }
  return got;
}

/** VERSION of manifold, `node -e 0` and the Go reference's VERSION, spawned the way libcni spawns. */
async function versionRound(world: World, round: number): Promise<number[][]> {
  const node = realpathSync(NODE);
  const cmds = [
    { argv: [join(MF_BIN, 'manifold')], env: ['CNI_COMMAND=VERSION'] },
    { argv: [node, '-e', '0'], env: [] },
    { argv: [join(REF_BIN, 'macvlan')], env: ['CNI_COMMAND=VERSION'] },
  ];
  const order = [0, 1, 2].map((k) => (k + round) % 3);
  const execs = [...order, ...order, ...order].map((k) => cmds[k] as { argv: string[]; env: string[] });
  const o = await drive(world, { cniPath: MF_BIN, cacheDir: join(world.work, 'libcni'), execs });
  const out: number[][] = [[], [], []];
  const which = [...order, ...order, ...order];
  o.execMs.forEach((t, i) => {
    out[which[i] as number]?.push(t);
  });
  return out;
}

/** 16 pods ADDed at once, each on CONCURRENT_NETWORKS networks (then DELed at once). */
async function concurrentRound(world: World, impl: Impl): Promise<number[]> {
  const pods = world.concurrentNs.map((ns) => ({
    containerId: `bench${++seq}`,
    netns: `/run/netns/${ns}`,
    confs: world.confs(impl, CONCURRENT_NETWORKS),
  }));
  const o = await drive(world, {
    cniPath: cniPath(impl),
    cacheDir: join(world.work, 'libcni'),
    concurrent: true,
    pods,
  });
  return o.pods.map((p) => p.addMs);
}

/** Peak RSS (MiB) of one ADD of a pod on 8 networks. */
async function rss(world: World, impl: Impl): Promise<number> {
  const pods = [
    { containerId: `bench${++seq}`, netns: `/run/netns/${world.podNs}`, confs: world.confs(impl, 8) },
  ];
  const o = await drive(world, { cniPath: cniPath(impl), cacheDir: join(world.work, 'libcni'), pods });
  return o.addMaxRssKiB / 1024;
}

const loadavg = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
const pair = (m: number[], r: number[]): Pair => ({ manifold: stats(m), reference: stats(r) });
const median = (xs: number[]): number => stats(xs).median;

async function measure(world: World): Promise<Results> {
  const load0 = loadavg();
  const log = (s: string) => process.stderr.write(`bench: ${s}\n`);
  log('warm-up (page cache, addon extraction, host-local directories)');
  await podRound(world, 0);
  await versionRound(world, 0);
  const samples = new Map<string, { add: number[]; del: number[]; both: number[] }>();
  for (let r = 0; r < ROUNDS; r++) {
    log(`round ${r + 1}/${ROUNDS} (load ${loadavg()})`);
    for (const [k, t] of await podRound(world, r)) {
      const s = samples.get(k) ?? { add: [], del: [], both: [] };
      s.add.push(t.addMs);
      s.del.push(t.delMs);
      s.both.push(t.addMs + t.delMs);
      samples.set(k, s);
    }
  }
  const version: number[][] = [[], [], []];
  for (let r = 0; r < ROUNDS; r++) {
    const got = await versionRound(world, r);
    for (const [k, ts] of got.entries()) version[k]?.push(...ts);
  }
  log('peak RSS');
  const rssOf: Record<Impl, number[]> = { manifold: [], reference: [] };
  for (let r = 0; r < 3; r++) for (const impl of orderOf(r)) rssOf[impl].push(await rss(world, impl));
  log(`${CONCURRENT_PODS} concurrent pods`);
  const conc: Record<Impl, number[]> = { manifold: [], reference: [] };
  await concurrentRound(world, 'manifold');
  for (let r = 0; r < Math.max(3, Math.round(ROUNDS / 3)); r++)
    for (const impl of orderOf(r)) conc[impl].push(...(await concurrentRound(world, impl)));
  const left = world.reservationsLeft();
  if (left > 0) throw new Error(`${left} IP reservations are left after every DEL: something leaks`);

  const get = (impl: Impl, n: number) => samples.get(`${impl}/${n}`) ?? { add: [], del: [], both: [] };
  const sizes: Size[] = SIZES.map((n) => ({
    n,
    both: pair(get('manifold', n).both, get('reference', n).both),
    add: pair(get('manifold', n).add, get('reference', n).add),
    del: pair(get('manifold', n).del, get('reference', n).del),
  }));
  const marginal = (impl: Impl) => slope(SIZES.map((n) => [n, median(get(impl, n).both)] as const));
  const [mf, node, ref] = version.map(stats) as [Stats, Stats, Stats];
  return {
    date: new Date().toISOString().slice(0, 16).replace('T', ' '),
    load: [load0, loadavg()],
    cpus: availableParallelism(),
    rounds: ROUNDS,
    sizes,
    marginal: { manifold: marginal('manifold'), reference: marginal('reference') },
    version: { manifold: mf, node, reference: ref },
    rssMiB: { manifold: median(rssOf.manifold), reference: median(rssOf.reference) },
    concurrent: {
      pods: CONCURRENT_PODS,
      networks: CONCURRENT_NETWORKS,
      ...pair(conc.manifold, conc.reference),
    },
  };
}

preconditions();
await buildDriver();
const world = new World(CONCURRENT_PODS);
let k8s: ChildProcess | undefined;
const stop = () => {
  k8s?.kill('SIGTERM');
  world.close();
  process.exit(130);
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
try {
  const results = await measure(world);
  if (process.argv.includes('--json')) process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
  else process.stdout.write(text(results));
  if (OUT) {
    writeFileSync(join(OUT, 'results.md'), markdown(results));
    writeFileSync(join(OUT, 'results.svg'), svg(results));
    process.stderr.write(`bench: wrote ${join(OUT, 'results.md')} and ${join(OUT, 'results.svg')}\n`);
  }
} finally {
  world.close();
}
// The Kubernetes and verb figures: bench/k8s.ts, its own process, namespaces and API server.
if (!process.argv.includes('--no-k8s')) {
  const out = process.argv.includes('--json') ? 2 : 'inherit'; // keep stdout one JSON document
  const args = [join(ROOT, 'bench/k8s.ts'), '--rounds', String(ROUNDS), '--manifold', MF_BIN];
  k8s = spawn(NODE, args, { stdio: ['ignore', out, 'inherit'] });
  const code = await new Promise((resolve) => k8s?.on('close', resolve));
  if (code !== 0) process.stderr.write(`bench: bench/k8s.ts did not complete (status ${code})\n`);
}
