/**
 * `node bench/multihome.ts`: what each multi-homing option adds to a meta-plugin ADD (and DEL)
 * of a pod on two macvlan networks, measured on the built executable. See
 * docs/multihoming.md ("What it costs") for the figures and how they were taken.
 *
 *   node bench/multihome.ts [--n 20] [--baseline <dist/bin of another build>] [--only <row>] [--json]
 *
 * Each row runs N ADD+DEL pairs, the rows interleaved round by round so that load from other
 * users of the machine hits them alike. Two figures per row: the ADD wall time (spawn to exit)
 * and the time the meta-plugin itself logs for its multi-homing step ("multi-homing done in
 * X ms"), which is free of process start-up noise. Needs root, ./build.sh, iproute2.
 * Self-contained: imports nothing of manifold's TypeScript.
 */
import { execFileSync, spawn } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const ADDON = join(ROOT, 'src/native/build/Release/manifold_native.node');
const CLONE_NEWNET = 0x40000000;

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}
const N = Number(arg('n') ?? process.env.BENCH_N ?? 20);
const BIN = join(ROOT, 'dist/bin');
const BASELINE = arg('baseline');
const JSON_OUT = process.argv.includes('--json');
/** Only the rows whose name contains this (e.g. --only "off" for the baseline comparison). */
const ONLY = arg('only');

function die(msg: string): never {
  process.stderr.write(`bench: ${msg}\n`);
  process.exit(2);
}
if (process.getuid?.() !== 0) die('needs root (it makes network namespaces)');
for (const b of [BIN, ...(BASELINE ? [BASELINE] : [])])
  if (!existsSync(join(b, 'manifold'))) die(`${b}/manifold is missing: run ./build.sh first`);
if (!existsSync(ADDON)) die(`${ADDON} is missing: run npm run native:ensure`);

// ---------------------------------------------------------------------------------------------
// A throwaway host namespace (entered by this process) with a bridge segment, a gateway that
// answers ARP/NDP in a namespace of its own, two uplinks (the macvlan masters), a pod.

const addon = createRequire(import.meta.url)(ADDON) as { setns(fd: number, nstype: number): void };
const suffix = Math.random().toString(16).slice(2, 8);
const HOST_NS = `mfmh${suffix}`;
const GW_NS = `mfmg${suffix}`;
const POD_NS = `mfmp${suffix}`;
const work = mkdtempSync(join(tmpdir(), 'manifold-mh-bench-'));
const LOG = join(work, 'manifold.log');
const ip = (...a: string[]) => execFileSync('ip', a, { stdio: ['ignore', 'pipe', 'pipe'] });
const home = openSync('/proc/thread-self/ns/net', 'r');

function setup(): void {
  for (const ns of [HOST_NS, GW_NS, POD_NS]) ip('netns', 'add', ns);
  const fd = openSync(`/run/netns/${HOST_NS}`, 'r');
  addon.setns(fd, CLONE_NEWNET);
  closeSync(fd);
  ip('link', 'set', 'lo', 'up');
  ip('link', 'add', 'bseg', 'type', 'bridge');
  ip('link', 'set', 'bseg', 'up');
  ip('link', 'add', 'bgw', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', GW_NS);
  ip('link', 'set', 'bgw', 'master', 'bseg');
  ip('link', 'set', 'bgw', 'up');
  for (const a of ['10.130.0.1/24', '10.131.0.1/24']) ip('-n', GW_NS, 'addr', 'add', a, 'dev', 'eth0');
  for (const a of ['2001:db8:130::1/64', '2001:db8:131::1/64'])
    ip('-n', GW_NS, 'addr', 'add', a, 'dev', 'eth0', 'nodad');
  ip('-n', GW_NS, 'link', 'set', 'eth0', 'up');
  for (const m of ['bup0', 'bup1']) {
    ip('link', 'add', m, 'type', 'veth', 'peer', 'name', `${m}p`);
    ip('link', 'set', `${m}p`, 'master', 'bseg');
    ip('link', 'set', `${m}p`, 'up');
    ip('link', 'set', m, 'up');
  }
}

function teardown(): void {
  try {
    addon.setns(home, CLONE_NEWNET);
  } catch {
    // already home
  }
  for (const ns of [POD_NS, GW_NS, HOST_NS]) {
    try {
      ip('netns', 'del', ns);
    } catch {
      // gone
    }
  }
  rmSync(work, { recursive: true, force: true });
}

// ---------------------------------------------------------------------------------------------

interface Row {
  readonly name: string;
  readonly bin: string;
  readonly options: Record<string, unknown>;
  readonly dual?: boolean;
}

const ROWS: Row[] = [
  ...(BASELINE ? [{ name: 'baseline build (no multi-homing code)', bin: BASELINE, options: {} }] : []),
  { name: 'every option off', bin: BIN, options: {} },
  { name: 'policyRouting', bin: BIN, options: { policyRouting: true } },
  { name: 'multihomeSysctls', bin: BIN, options: { multihomeSysctls: true } },
  { name: 'macFromIPv4', bin: BIN, options: { macFromIPv4: '0a:58' } },
  { name: 'announce', bin: BIN, options: { announce: true } },
  { name: 'gatewayCheck (gateways answer)', bin: BIN, options: { gatewayCheck: 'fail' } },
  { name: 'addressConflictCheck (3 × 100 ms)', bin: BIN, options: { addressConflictCheck: true } },
  {
    name: 'every option on',
    bin: BIN,
    options: {
      policyRouting: true,
      multihomeSysctls: true,
      macFromIPv4: '0a:58',
      announce: true,
      gatewayCheck: 'fail',
      addressConflictCheck: true,
    },
  },
  { name: 'dual stack, every option off', bin: BIN, options: {}, dual: true },
  { name: 'dual stack, addressConflictCheck', bin: BIN, options: { addressConflictCheck: true }, dual: true },
];

const rows = ROWS.filter((r) => !ONLY || r.name.includes(ONLY) || r.bin === BASELINE);

function network(i: number, dual: boolean): Record<string, unknown> {
  const ranges: object[][] = [[{ subnet: `10.${130 + i}.0.0/24`, rangeStart: `10.${130 + i}.0.10` }]];
  if (dual) ranges.push([{ subnet: `2001:db8:${130 + i}::/64`, rangeStart: `2001:db8:${130 + i}::10` }]);
  return {
    cniVersion: '1.0.0',
    name: `mh${i}`,
    type: 'macvlan',
    master: `bup${i}`,
    ipam: {
      type: 'host-local',
      dataDir: join(work, 'ipam'),
      ranges,
      routes: i === 0 ? [{ dst: '0.0.0.0/0' }, ...(dual ? [{ dst: '::/0' }] : [])] : [],
    },
  };
}

function runPlugin(
  file: string,
  env: Record<string, string>,
  stdin: string,
): Promise<{ status: number | null; stdout: string; ms: number }> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(file, [], { env, stdio: ['pipe', 'pipe', 'inherit'] });
    const out: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.on('error', reject);
    child.on('close', (status) =>
      resolve({
        status,
        stdout: Buffer.concat(out).toString(),
        ms: Number(process.hrtime.bigint() - t0) / 1e6,
      }),
    );
    child.stdin.on('error', () => undefined);
    child.stdin.end(stdin);
  });
}

let seq = 0;

/** One ADD and DEL: [add ms, del ms, multi-homing ms as logged (0: it did nothing)]. */
async function once(row: Row): Promise<[number, number, number]> {
  const conf = JSON.stringify({
    cniVersion: '1.0.0',
    name: 'mh-bench',
    type: 'manifold',
    cniDir: join(work, 'cache'),
    logFile: LOG,
    logLevel: 'verbose',
    delegates: [network(0, row.dual === true), network(1, row.dual === true)],
    ...row.options,
  });
  const env = {
    PATH: '/usr/sbin:/usr/bin:/sbin:/bin',
    CNI_CONTAINERID: `mhb${++seq}`,
    CNI_NETNS: `/run/netns/${POD_NS}`,
    CNI_IFNAME: 'eth0',
    CNI_PATH: row.bin,
    MANIFOLD_NATIVE_DIR: join(work, 'native'),
  };
  writeFileSync(LOG, '');
  const file = join(row.bin, 'manifold');
  const add = await runPlugin(file, { ...env, CNI_COMMAND: 'ADD' }, conf);
  if (add.status !== 0) die(`${row.name}: ADD failed: ${add.stdout}`);
  const logged = readFileSync(LOG, 'utf8');
  const m = /multi-homing done in ([\d.]+) ms/.exec(logged);
  if (process.env.BENCH_STEPS)
    process.stderr.write(`${row.name}: ${/multi-homing steps: (.*)/.exec(logged)?.[1] ?? '-'}\n`);
  const del = await runPlugin(file, { ...env, CNI_COMMAND: 'DEL' }, conf);
  if (del.status !== 0) die(`${row.name}: DEL failed: ${del.stdout}`);
  return [add.ms, del.ms, m ? Number(m[1]) : 0];
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

async function main(): Promise<void> {
  setup();
  try {
    for (const row of rows) await once(row); // warm-up: page cache, addon extraction
    const samples = rows.map(() => ({ add: [] as number[], del: [] as number[], mh: [] as number[] }));
    for (let i = 0; i < N; i++) {
      const order = i % 2 === 0 ? rows.map((_, k) => k) : rows.map((_, k) => rows.length - 1 - k);
      for (const k of order) {
        const [a, d, mh] = await once(rows[k] as Row);
        samples[k]?.add.push(a);
        samples[k]?.del.push(d);
        samples[k]?.mh.push(mh);
      }
    }
    const out = rows.map((row, k) => ({
      row: row.name,
      add: median(samples[k]?.add ?? []),
      del: median(samples[k]?.del ?? []),
      multihoming: median(samples[k]?.mh ?? []),
    }));
    if (JSON_OUT) {
      process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
      return;
    }
    process.stdout.write(`pod on 2 macvlan networks, medians of ${N} interleaved runs\n`);
    process.stdout.write(
      `${'row'.padEnd(40)}${'ADD'.padStart(10)}${'DEL'.padStart(10)}${'multi-homing step'.padStart(20)}\n`,
    );
    for (const o of out) {
      process.stdout.write(
        `${o.row.padEnd(40)}${`${o.add.toFixed(1)} ms`.padStart(10)}${`${o.del.toFixed(1)} ms`.padStart(10)}${`${o.multihoming.toFixed(1)} ms`.padStart(20)}\n`,
      );
    }
  } finally {
    teardown();
  }
}

process.on('SIGINT', () => {
  teardown();
  process.exit(130);
});
await main();
