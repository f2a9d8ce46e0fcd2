/**
 * `npm run bench`: manifold's built executable, one-shot and in daemon mode (the shim that
 * `install --mode daemon` writes, forwarding to one `manifold daemon` the bench starts), against
 * Debian's reference plugins, all driven by libcni (the library containerd and CRI-O use) from
 * one process, side by side in one run, alternating. See bench/README.md for what is measured
 * and how to read it.
 *
 *   node bench/run.ts [--rounds 15] [--json] [--out DIR | --no-write] [--manifold BINDIR] [--no-k8s]
 *                     [--no-daemon]
 *
 * Then runs bench/k8s.ts (Kubernetes pods and the other verbs) with the same rounds and build,
 * unless --no-k8s.
 * Writes the table to <out>/results.md and the chart to <out>/results.svg (out: bench/).
 * Needs root (network namespaces), `./build.sh` (dist/bin), Debian's
 * containernetworking-plugins (/usr/lib/cni), golang-go and golang-github-appc-cni-dev.
 * Self-contained: Node 24 runs it by type stripping; it imports nothing of manifold's code.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { DaemonMode, type Handled, type Rss } from './daemon.ts';
import { type Cols, type DaemonResults, markdown, type Results, type Size, svg, text } from './report.ts';
import { slope, stats } from './stats.ts';
import {
  buildDriver,
  CNIBENCH,
  die,
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
/** Pods churned through the daemon at the end, for its RSS (the issue's soak figure). */
const SOAK_PODS = 200;
const SOAK_NETWORKS = 4;
const SOAK_SAMPLES = 4;

const BARE_SHIM = join(MF_BIN, '..', 'shim', 'manifold-shim');

/** The daemon column, when the build has daemon mode (an older `--manifold BINDIR` may not). */
let daemon: DaemonMode | undefined;
let IMPLS: readonly Impl[] = ['manifold', 'reference'];

interface Plan {
  readonly cniPath: string;
  readonly cacheDir: string;
  readonly concurrent?: boolean;
  readonly pods?: { containerId: string; netns: string; confs: string[] }[];
  readonly execs?: { argv: string[]; env: string[]; stdin?: string; anyStatus?: boolean }[];
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
      { env: Object.fromEntries(world.env.map((kv) => kv.split(/=(.*)/s))), maxBuffer: 16 << 20 },
      (err, out, stderr) => {
        if (err) reject(new Error(`cnibench failed: ${stderr || err.message}`));
        else resolve(JSON.parse(out) as Outcome);
      },
    );
    child.stdin?.end(JSON.stringify(plan));
  });
}

let seq = 0;
const cniPath = (impl: Impl) => (impl === 'manifold' ? MF_BIN : impl === 'daemon' ? daemonBin() : REF_BIN);
const daemonBin = () => daemon?.binDir ?? die('no daemon mode');
/** The order of the implementations in a round: every permutation in turn, so load hits all alike. */
function orderOf(round: number): readonly Impl[] {
  const perms: Impl[][] = [];
  const permute = (rest: readonly Impl[], acc: Impl[]) => {
    if (rest.length === 0) perms.push(acc);
    for (const x of rest)
      permute(
        rest.filter((y) => y !== x),
        [...acc, x],
      );
  };
  permute(IMPLS, []);
  return perms[round % perms.length] as Impl[];
}

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

interface Exec {
  readonly key: string;
  readonly argv: string[];
  readonly env: string[];
  readonly stdin?: string;
  readonly anyStatus?: boolean;
}

/** Each command three times, in an order that rotates with the round, spawned the way libcni spawns. */
async function execRound(world: World, cmds: readonly Exec[], round: number): Promise<Map<string, number[]>> {
  const order = cmds.map((_, k) => (k + round) % cmds.length);
  const which = [...order, ...order, ...order];
  const execs = which.map((k) => cmds[k] as Exec);
  const o = await drive(world, { cniPath: MF_BIN, cacheDir: join(world.work, 'libcni'), execs });
  const out = new Map<string, number[]>();
  o.execMs.forEach((t, i) => {
    const key = execs[i]?.key as string;
    out.set(key, [...(out.get(key) ?? []), t]);
  });
  return out;
}

/**
 * VERSION of manifold, `node -e 0` and the Go reference; with daemon mode, VERSION and STATUS
 * through the shim (daemon up) and one-shot STATUS of the same config.
 */
function versionCmds(world: World): Exec[] {
  const node = realpathSync(NODE);
  const cmds: Exec[] = [
    { key: 'manifold', argv: [join(MF_BIN, 'manifold')], env: ['CNI_COMMAND=VERSION'] },
    { key: 'node', argv: [node, '-e', '0'], env: [] },
    { key: 'reference', argv: [join(REF_BIN, 'macvlan')], env: ['CNI_COMMAND=VERSION'] },
  ];
  if (daemon) cmds.push(...statusCmds(world, 'shim'), { ...shimCmd(world, 'VERSION'), key: 'shim VERSION' });
  // the shim as build.sh makes it, unconfigured: its exec, stdin and exit (code 999), no socket
  if (daemon && existsSync(BARE_SHIM))
    cmds.push({ ...shimCmd(world, 'VERSION'), key: 'bare shim', argv: [BARE_SHIM], anyStatus: true });
  return cmds;
}

/** STATUS through the shim (`key` says whether the daemon is up) and one-shot STATUS of the same config. */
function statusCmds(world: World, key: string): Exec[] {
  const env = [...world.env, 'CNI_COMMAND=STATUS', `CNI_PATH=${MF_BIN}`];
  const stdin = world.statusConf('manifold');
  return [
    { ...shimCmd(world, 'STATUS'), key: `${key} STATUS` },
    { key: 'one-shot STATUS', argv: [join(MF_BIN, 'manifold')], env, stdin },
  ];
}

function shimCmd(world: World, verb: string): Exec {
  return {
    key: verb,
    argv: [join(daemonBin(), 'manifold')],
    env: [...world.env, `CNI_COMMAND=${verb}`, `CNI_PATH=${daemonBin()}`],
    stdin: verb === 'STATUS' ? world.statusConf('manifold') : '{"cniVersion":"1.1.0"}',
  };
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
const cols = (get: (impl: Impl) => number[]): Cols => ({
  manifold: stats(get('manifold')),
  ...(daemon ? { daemon: stats(get('daemon')) } : {}),
  reference: stats(get('reference')),
});
const median = (xs: number[]): number => stats(xs).median;
const T0 = performance.now();
const log = (s: string) =>
  process.stderr.write(`bench: [${((performance.now() - T0) / 1000).toFixed(0)} s] ${s}\n`);

async function measure(world: World): Promise<Results> {
  const load0 = loadavg();
  log('warm-up (page cache, addon extraction, host-local directories)');
  await podRound(world, 0);
  await execRound(world, versionCmds(world), 0);
  const rssStart = daemon?.rss();
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
  log('VERSION, STATUS');
  const execs = new Map<string, number[]>();
  const add = (got: Map<string, number[]>) => {
    for (const [k, ts] of got) execs.set(k, [...(execs.get(k) ?? []), ...ts]);
  };
  const handled0 = { VERSION: await daemon?.handled('VERSION'), STATUS: await daemon?.handled('STATUS') };
  for (let r = 0; r < ROUNDS; r++) add(await execRound(world, versionCmds(world), r));
  const handled1 = { VERSION: await daemon?.handled('VERSION'), STATUS: await daemon?.handled('STATUS') };
  log('peak RSS');
  const rssOf: Record<Impl, number[]> = { manifold: [], daemon: [], reference: [] };
  const plain = IMPLS.filter((i) => i !== 'daemon'); // the shim's own RSS says nothing
  for (let r = 0; r < 3; r++)
    for (const impl of r % 2 ? [...plain].reverse() : plain) rssOf[impl].push(await rss(world, impl));
  log(`${CONCURRENT_PODS} concurrent pods`);
  const conc: Record<Impl, number[]> = { manifold: [], daemon: [], reference: [] };
  await concurrentRound(world, 'manifold');
  if (daemon) await concurrentRound(world, 'daemon');
  for (let r = 0; r < Math.max(3, Math.round(ROUNDS / 3)); r++)
    for (const impl of orderOf(r)) conc[impl].push(...(await concurrentRound(world, impl)));
  let dm: DaemonResults | undefined;
  if (daemon)
    dm = await daemonPart(world, {
      execs,
      rssStart: rssStart as Rss,
      handled: (verb: 'VERSION' | 'STATUS') => {
        const a = handled0[verb] as Handled;
        const b = handled1[verb] as Handled;
        return (1000 * (b.seconds - a.seconds)) / Math.max(1, b.count - a.count);
      },
    });
  const left = world.reservationsLeft();
  if (left > 0) throw new Error(`${left} IP reservations are left after every DEL: something leaks`);

  const get = (n: number, k: 'add' | 'del' | 'both') => (impl: Impl) =>
    samples.get(`${impl}/${n}`)?.[k] ?? [];
  const sizes: Size[] = SIZES.map((n) => ({
    n,
    both: cols(get(n, 'both')),
    add: cols(get(n, 'add')),
    del: cols(get(n, 'del')),
  }));
  const marginal = (impl: Impl) => slope(SIZES.map((n) => [n, median(get(n, 'both')(impl))] as const));
  const ex = (k: string) => stats(execs.get(k) ?? []);
  return {
    date: new Date().toISOString().slice(0, 16).replace('T', ' '),
    load: [load0, loadavg()],
    cpus: availableParallelism(),
    rounds: ROUNDS,
    sizes,
    marginal: {
      manifold: marginal('manifold'),
      ...(daemon ? { daemon: marginal('daemon') } : {}),
      reference: marginal('reference'),
    },
    version: { manifold: ex('manifold'), node: ex('node'), reference: ex('reference') },
    rssMiB: { manifold: median(rssOf.manifold), reference: median(rssOf.reference) },
    concurrent: { pods: CONCURRENT_PODS, networks: CONCURRENT_NETWORKS, ...cols((impl) => conc[impl]) },
    ...(dm ? { daemon: dm } : {}),
  };
}

/**
 * The daemon's own figures, at the end: the shim's overhead (exec to exit of VERSION and STATUS
 * through it, against the daemon's handling time from its metrics), its RSS after the run and
 * over a churn of SOAK_PODS pods, then STATUS with the daemon down (stopped by SIGTERM: its
 * socket stays, refused, as after a crash), which the shim runs one-shot.
 */
async function daemonPart(
  world: World,
  m: { execs: Map<string, number[]>; rssStart: Rss; handled: (verb: 'VERSION' | 'STATUS') => number },
): Promise<DaemonResults> {
  const d = daemon as DaemonMode;
  const ex = (k: string) => stats(m.execs.get(k) ?? []);
  const fallbacksUp = d.fallbacks();
  const rssRun = d.rss();
  log(`daemon: ${SOAK_PODS} pods × ${SOAK_NETWORKS} networks churned`);
  const soak: number[] = [rssRun.rssMiB];
  for (let k = 0; k < SOAK_SAMPLES; k++) {
    const pods = Array.from({ length: SOAK_PODS / SOAK_SAMPLES }, () => ({
      containerId: `bench${++seq}`,
      netns: `/run/netns/${world.podNs}`,
      confs: world.confs('daemon', SOAK_NETWORKS),
    }));
    await drive(world, { cniPath: d.binDir, cacheDir: join(world.work, 'libcni'), pods });
    soak.push(d.rss().rssMiB);
  }
  const rssEnd = d.rss();
  log('daemon down: STATUS through the shim (one-shot fallback)');
  await d.stop();
  const down = new Map<string, number[]>();
  for (let r = 0; r < ROUNDS; r++)
    for (const [k, ts] of await execRound(world, statusCmds(world, 'down'), r))
      down.set(k, [...(down.get(k) ?? []), ...ts]);
  const downCalls = down.get('down STATUS')?.length ?? 0;
  return {
    version: ex('shim VERSION'),
    ...(m.execs.has('bare shim') ? { bareShim: ex('bare shim') } : {}),
    handledVersionMs: m.handled('VERSION'),
    status: ex('shim STATUS'),
    handledStatusMs: m.handled('STATUS'),
    oneshotStatus: ex('one-shot STATUS'),
    statusDown: stats(down.get('down STATUS') ?? []),
    oneshotStatusDown: stats(down.get('one-shot STATUS') ?? []),
    fallbacks: { up: fallbacksUp, down: d.fallbacks() - fallbacksUp, downCalls },
    rss: { start: m.rssStart, run: rssRun, end: rssEnd },
    soak: { pods: SOAK_PODS, networks: SOAK_NETWORKS, rssMiB: soak },
  };
}

preconditions();
await buildDriver();
const world = new World(CONCURRENT_PODS);
let k8s: ChildProcess | undefined;
const stop = () => {
  k8s?.kill('SIGTERM');
  daemon?.kill();
  world.close();
  process.exit(130);
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
try {
  if (process.argv.includes('--no-daemon') || !DaemonMode.supported(join(MF_BIN, 'manifold'))) {
    log(
      `no daemon column (${process.argv.includes('--no-daemon') ? '--no-daemon' : `${MF_BIN}/manifold has no daemon mode`})`,
    );
  } else {
    daemon = new DaemonMode(world, join(MF_BIN, 'manifold'));
    IMPLS = ['manifold', 'daemon', 'reference'];
    await daemon.start();
    log(`daemon mode: manifold daemon (pid ${daemon.pid}) on ${daemon.socket}, shim in ${daemon.binDir}`);
  }
  const results = await measure(world);
  if (process.argv.includes('--json')) process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
  else process.stdout.write(text(results));
  if (OUT) {
    writeFileSync(join(OUT, 'results.md'), markdown(results));
    writeFileSync(join(OUT, 'results.svg'), svg(results));
    process.stderr.write(`bench: wrote ${join(OUT, 'results.md')} and ${join(OUT, 'results.svg')}\n`);
  }
} finally {
  daemon?.kill();
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
