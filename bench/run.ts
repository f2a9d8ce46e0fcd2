/**
 * `npm run bench`: manifold's built executable against Debian's reference plugins, measured
 * the same way, side by side. See bench/README.md for what is measured and how to read it.
 *
 *   node bench/run.ts [--n 30] [--json]
 *
 * Needs root (network namespaces), `./build.sh` (dist/bin) and Debian's
 * containernetworking-plugins (/usr/lib/cni). Self-contained: Node 24 runs this file by type
 * stripping, so it imports nothing of manifold's TypeScript.
 */
import { execFileSync, spawn } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, realpathSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const MF_BIN = join(ROOT, 'dist/bin');
const REF_BIN = '/usr/lib/cni';
const NODE = join(ROOT, 'node_modules/.bin/node');
const ADDON = join(ROOT, 'src/native/build/Release/manifold_native.node');
const CLONE_NEWNET = 0x40000000;

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}
const N = Number(arg('n') ?? process.env.BENCH_N ?? 30);
const WARMUP = 3;
const JSON_OUT = process.argv.includes('--json');

function die(msg: string): never {
  process.stderr.write(`bench: ${msg}\n`);
  process.exit(2);
}

// ---------------------------------------------------------------------------------------------
// Preconditions

if (process.getuid?.() !== 0) die('needs root (it makes network namespaces)');
for (const f of [join(MF_BIN, 'macvlan'), join(MF_BIN, 'manifold')])
  if (!existsSync(f)) die(`${f} is missing: run ./build.sh first`);
for (const f of ['macvlan', 'host-local'])
  if (!existsSync(join(REF_BIN, f)))
    die(`${REF_BIN}/${f} is missing: apt-get install containernetworking-plugins`);
if (!existsSync(ADDON)) die(`${ADDON} is missing: run npm run native:ensure`);
if (!existsSync(NODE)) die(`${NODE} is missing: run npm ci`);

// ---------------------------------------------------------------------------------------------
// A throwaway "host" network namespace with a veth master, entered by this process so that
// every plugin it spawns starts there; a throwaway pod namespace to attach to.

const addon = createRequire(import.meta.url)(ADDON) as { setns(fd: number, nstype: number): void };
const suffix = Math.random().toString(16).slice(2, 8);
const HOST_NS = `mfbh${suffix}`;
const POD_NS = `mfbp${suffix}`;
const MASTER = 'bm0';
const work = mkdtempSync(join(tmpdir(), 'manifold-bench-'));

const ip = (...a: string[]) => execFileSync('ip', a, { stdio: ['ignore', 'pipe', 'pipe'] });
const home = openSync('/proc/thread-self/ns/net', 'r');

function setup(): void {
  ip('netns', 'add', HOST_NS);
  ip('netns', 'add', POD_NS);
  const fd = openSync(`/run/netns/${HOST_NS}`, 'r');
  addon.setns(fd, CLONE_NEWNET);
  closeSync(fd);
  ip('link', 'set', 'lo', 'up');
  ip('link', 'add', MASTER, 'type', 'veth', 'peer', 'name', `${MASTER}p`);
  ip('link', 'set', MASTER, 'up');
  ip('link', 'set', `${MASTER}p`, 'up');
}

function teardown(): void {
  try {
    addon.setns(home, CLONE_NEWNET);
  } catch {
    // already home
  }
  for (const ns of [POD_NS, HOST_NS]) {
    try {
      ip('netns', 'del', ns);
    } catch {
      // gone
    }
  }
  rmSync(work, { recursive: true, force: true });
}

// ---------------------------------------------------------------------------------------------
// The harness: spawn a plugin with the CNI environment and the config on stdin, time spawn→exit.

interface Outcome {
  status: number | null;
  stdout: string;
  ms: number;
}

function runPlugin(file: string, env: Record<string, string>, stdin: string): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(file, [], { env, stdio: ['pipe', 'pipe', 'inherit'] });
    const out: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.on('error', reject);
    child.on('close', (status) => {
      resolve({
        status,
        stdout: Buffer.concat(out).toString(),
        ms: Number(process.hrtime.bigint() - t0) / 1e6,
      });
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(stdin);
  });
}

type Impl = 'manifold' | 'reference';
const BIN: Record<Impl, string> = { manifold: MF_BIN, reference: REF_BIN };
let seq = 0;

function confFor(impl: Impl): string {
  return JSON.stringify({
    cniVersion: '1.0.0',
    name: `bench-${impl}`,
    type: 'macvlan',
    master: MASTER,
    mode: 'bridge',
    ipam: {
      type: 'host-local',
      dataDir: join(work, 'ipam'),
      ranges: [[{ subnet: impl === 'manifold' ? '10.111.0.0/16' : '10.112.0.0/16' }]],
      routes: [{ dst: '0.0.0.0/0' }],
    },
  });
}

/** One ADD then DEL of one attachment; returns [add ms, del ms]. */
async function attachDetach(impl: Impl): Promise<[number, number]> {
  const env = {
    PATH: '/usr/sbin:/usr/bin:/sbin:/bin',
    CNI_CONTAINERID: `bench${++seq}`,
    CNI_NETNS: `/run/netns/${POD_NS}`,
    CNI_IFNAME: 'net1',
    CNI_PATH: BIN[impl],
    MANIFOLD_NATIVE_DIR: join(work, 'native'),
  };
  const conf = confFor(impl);
  const file = join(BIN[impl], 'macvlan');
  const add = await runPlugin(file, { ...env, CNI_COMMAND: 'ADD' }, conf);
  if (add.status !== 0) die(`${impl} ADD failed: ${add.stdout}`);
  const del = await runPlugin(file, { ...env, CNI_COMMAND: 'DEL' }, conf);
  if (del.status !== 0) die(`${impl} DEL failed: ${del.stdout}`);
  return [add.ms, del.ms];
}

const PODS = ['eth0', 'net1', 'net2'];

/** The i-th of three macvlan networks, as a standalone config. */
function netConf(impl: Impl, i: number): Record<string, unknown> {
  return {
    cniVersion: '1.0.0',
    name: `bench3-${impl}-${i}`,
    type: 'macvlan',
    master: MASTER,
    ipam: {
      type: 'host-local',
      dataDir: join(work, 'ipam'),
      ranges: [[{ subnet: `10.${120 + i + (impl === 'manifold' ? 0 : 3)}.0.0/16` }]],
    },
  };
}

/**
 * A pod on three networks, ADD then DEL. manifold: one meta-plugin call each way (the three
 * delegates run in-process). Reference: what a runtime (or Multus, which adds its own
 * process on top) does without it: three plugin calls each way, DEL in reverse.
 */
async function threeNetworks(impl: Impl): Promise<[number, number]> {
  const env = {
    PATH: '/usr/sbin:/usr/bin:/sbin:/bin',
    CNI_CONTAINERID: `bench${++seq}`,
    CNI_NETNS: `/run/netns/${POD_NS}`,
    CNI_PATH: BIN[impl],
    MANIFOLD_NATIVE_DIR: join(work, 'native'),
  };
  if (impl === 'manifold') {
    const conf = JSON.stringify({
      cniVersion: '1.0.0',
      name: 'bench3',
      type: 'manifold',
      cniDir: join(work, 'cache'),
      delegates: PODS.map((_, i) => netConf(impl, i)),
    });
    const file = join(MF_BIN, 'manifold');
    const add = await runPlugin(file, { ...env, CNI_IFNAME: 'eth0', CNI_COMMAND: 'ADD' }, conf);
    if (add.status !== 0) die(`manifold ADD (3 networks) failed: ${add.stdout}`);
    const del = await runPlugin(file, { ...env, CNI_IFNAME: 'eth0', CNI_COMMAND: 'DEL' }, conf);
    if (del.status !== 0) die(`manifold DEL (3 networks) failed: ${del.stdout}`);
    return [add.ms, del.ms];
  }
  let addMs = 0;
  let delMs = 0;
  const file = join(REF_BIN, 'macvlan');
  for (const [i, ifname] of PODS.entries()) {
    const r = await runPlugin(
      file,
      { ...env, CNI_IFNAME: ifname, CNI_COMMAND: 'ADD' },
      JSON.stringify(netConf(impl, i)),
    );
    if (r.status !== 0) die(`reference ADD ${ifname} failed: ${r.stdout}`);
    addMs += r.ms;
  }
  for (const [i, ifname] of [...PODS.entries()].reverse()) {
    const r = await runPlugin(
      file,
      { ...env, CNI_IFNAME: ifname, CNI_COMMAND: 'DEL' },
      JSON.stringify(netConf(impl, i)),
    );
    if (r.status !== 0) die(`reference DEL ${ifname} failed: ${r.stdout}`);
    delMs += r.ms;
  }
  return [addMs, delMs];
}

async function startup(cmd: string, args: string[], env: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(cmd, args, { env, stdio: ['ignore', 'ignore', 'inherit'] });
    child.on('error', reject);
    child.on('close', (status) => {
      if (status !== 0) reject(new Error(`${cmd} ${args.join(' ')} exited ${status}`));
      else resolve(Number(process.hrtime.bigint() - t0) / 1e6);
    });
  });
}

// ---------------------------------------------------------------------------------------------
// Statistics

interface Stats {
  median: number;
  p10: number;
  p90: number;
  min: number;
}

function stats(xs: number[]): Stats {
  const s = [...xs].sort((a, b) => a - b);
  const at = (q: number) =>
    s[Math.min(s.length - 1, Math.max(0, Math.round(q * (s.length - 1))))] ?? Number.NaN;
  return { median: at(0.5), p10: at(0.1), p90: at(0.9), min: s[0] ?? Number.NaN };
}

const f1 = (x: number) => `${x.toFixed(1)} ms`;
const ratio = (a: number, b: number) => `${(a / b).toFixed(2)}×`;

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  setup();
  try {
    const samples: Record<Impl, { add: number[]; del: number[]; both: number[] }> = {
      manifold: { add: [], del: [], both: [] },
      reference: { add: [], del: [], both: [] },
    };
    // warm-up: page cache, manifold's one-time addon extraction, host-local's directories
    for (let i = 0; i < WARMUP; i++)
      for (const impl of ['manifold', 'reference'] as const) await attachDetach(impl);
    // interleaved, so load from others on the machine hits both alike
    for (let i = 0; i < N; i++) {
      const order: Impl[] = i % 2 ? ['manifold', 'reference'] : ['reference', 'manifold'];
      for (const impl of order) {
        const [a, d] = await attachDetach(impl);
        samples[impl].add.push(a);
        samples[impl].del.push(d);
        samples[impl].both.push(a + d);
      }
    }

    const three: Record<Impl, { add: number[]; del: number[]; both: number[] }> = {
      manifold: { add: [], del: [], both: [] },
      reference: { add: [], del: [], both: [] },
    };
    for (let i = 0; i < WARMUP; i++)
      for (const impl of ['manifold', 'reference'] as const) await threeNetworks(impl);
    for (let i = 0; i < N; i++) {
      const order: Impl[] = i % 2 ? ['manifold', 'reference'] : ['reference', 'manifold'];
      for (const impl of order) {
        const [a, d] = await threeNetworks(impl);
        three[impl].add.push(a);
        three[impl].del.push(d);
        three[impl].both.push(a + d);
      }
    }

    const verEnv = { CNI_COMMAND: 'VERSION' };
    const start: Record<'manifold' | 'node' | 'reference', number[]> = {
      manifold: [],
      node: [],
      reference: [],
    };
    const runs = {
      manifold: () => startup(join(MF_BIN, 'manifold'), [], verEnv),
      node: () => startup(realpathSync(NODE), ['-e', '0'], {}),
      reference: () => startup(join(REF_BIN, 'macvlan'), [], verEnv),
    };
    for (let i = 0; i < WARMUP; i++)
      for (const k of Object.keys(runs) as (keyof typeof runs)[]) await runs[k]();
    for (let i = 0; i < N; i++)
      for (const k of Object.keys(runs) as (keyof typeof runs)[]) start[k].push(await runs[k]());

    const s = {
      manifold: {
        add: stats(samples.manifold.add),
        del: stats(samples.manifold.del),
        both: stats(samples.manifold.both),
      },
      reference: {
        add: stats(samples.reference.add),
        del: stats(samples.reference.del),
        both: stats(samples.reference.both),
      },
      three: {
        manifold: {
          add: stats(three.manifold.add),
          del: stats(three.manifold.del),
          both: stats(three.manifold.both),
        },
        reference: {
          add: stats(three.reference.add),
          del: stats(three.reference.del),
          both: stats(three.reference.both),
        },
      },
      startup: {
        manifold: stats(start.manifold),
        node: stats(start.node),
        reference: stats(start.reference),
      },
    };
    if (JSON_OUT) {
      process.stdout.write(`${JSON.stringify({ n: N, ...s }, null, 2)}\n`);
      return;
    }
    const row = (label: string, a: Stats, b: Stats) =>
      `  ${label.padEnd(40)} ${f1(a.median).padStart(9)} ${f1(b.median).padStart(11)} ${ratio(a.median, b.median).padStart(7)}` +
      `     (p10–p90: ${f1(a.p10)}–${f1(a.p90)} | ${f1(b.p10)}–${f1(b.p90)})`;
    const out = [
      `manifold bench: median wall time of ${N} runs per row (after ${WARMUP} warm-up), interleaved, spawned the same way`,
      '',
      `  ${''.padEnd(40)} ${'manifold'.padStart(9)} ${'reference'.padStart(11)} ${'ratio'.padStart(7)}`,
      row('ADD+DEL, 1 macvlan + host-local', s.manifold.both, s.reference.both),
      row('  ADD', s.manifold.add, s.reference.add),
      row('  DEL', s.manifold.del, s.reference.del),
      row('ADD+DEL, a pod on 3 macvlan networks', s.three.manifold.both, s.three.reference.both),
      row('  ADD (1 meta call vs 3 plugin calls)', s.three.manifold.add, s.three.reference.add),
      row('  DEL (1 meta call vs 3 plugin calls)', s.three.manifold.del, s.three.reference.del),
      '',
      `  ${'startup (VERSION)'.padEnd(40)} ${'manifold'.padStart(9)} ${'node -e 0'.padStart(11)} ${'ratio'.padStart(7)}`,
      `  ${'dist/bin/manifold vs Node 24'.padEnd(40)} ${f1(s.startup.manifold.median).padStart(9)} ${f1(s.startup.node.median).padStart(11)} ${ratio(s.startup.manifold.median, s.startup.node.median).padStart(7)}`,
      `  ${'(reference macvlan VERSION, Go)'.padEnd(40)} ${''.padStart(9)} ${f1(s.startup.reference.median).padStart(11)}`,
      '',
      'ratio = manifold / reference (or / node -e 0): below 1 is faster. Reference: Debian containernetworking-plugins 1.1.1.',
    ];
    process.stdout.write(`${out.join('\n')}\n`);
  } finally {
    teardown();
  }
}

process.on('SIGINT', () => {
  teardown();
  process.exit(130);
});
await main();
