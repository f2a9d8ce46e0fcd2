/**
 * The Kubernetes and verb benchmark: manifold's built executable run as a process exactly as a
 * runtime runs it (CNI_* in the environment, the config on stdin, the pod in CNI_ARGS), against
 * a local HTTPS stand-in of the API server (test/helpers/fake-apiserver.ts, TLS from
 * test/helpers/pki.ts, a kubeconfig with a token file). See bench/README.md.
 *
 *   node bench/k8s.ts [--rounds 15] [--manifold BINDIR] [--against BINDIR]
 *
 * 1. ADD and DEL of a pod with one NAD (macvlan + host-local), (a) with the pod's annotations
 *    passed by the runtime (`io.kubernetes.cri.pod-annotations`: no pod GET), (b) without
 *    (the pod is read from the API server);
 * 2. STATUS of a meta config (1.1.0, one macvlan delegate) against VERSION of the executable;
 * 3. CHECK of a 2-network pod right after its ADD (prevResult: the ADD's result, as CRI-O
 *    does), against that ADD; then its DEL.
 * With --against (another build's dist/bin, e.g. an older commit's), item 1 (b) of that build
 * too, interleaved with this one's in every round: a before/after that load hits alike.
 *
 * Nothing asserts on time: it prints medians and p90s over the rounds, and ratios. Needs root
 * (network namespaces), `./build.sh` (dist/bin) and openssl. Everything runs in bench/world.ts's
 * throwaway "host" namespace, the API server included; every temp dir goes at the end.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeApiServer } from '../test/helpers/fake-apiserver.ts';
import { makePki, type Pki } from '../test/helpers/pki.ts';
import { quantile } from './stats.ts';
import { die, MF_BIN, World } from './world.ts';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}
const ROUNDS = Math.max(2, Number(arg('rounds') ?? process.env.BENCH_ROUNDS ?? 15));
const EXE = join(MF_BIN, 'manifold');
const AGAINST = arg('against');
const OTHER = AGAINST === undefined ? undefined : join(AGAINST, 'manifold');
const NS = 'default';
const NETWORKS_ANNOTATION = 'k8s.v1.cni.cncf.io/networks';
const PODANN = 'io.kubernetes.cri.pod-annotations';

interface Run {
  readonly ms: number;
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** One plugin process, spawned as a runtime spawns it: env, config on stdin, result on stdout. */
function exec(exe: string, env: Record<string, string>, stdin: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(exe, [], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.on('error', reject);
    child.on('close', (code) =>
      resolve({
        ms: Number(process.hrtime.bigint() - t0) / 1e6,
        code,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      }),
    );
    child.stdin.end(stdin);
  });
}

function ok(what: string, r: Run): Run {
  if (r.code !== 0) throw new Error(`${what} failed (exit ${r.code}): ${r.stdout}${r.stderr}`);
  return r;
}

class Bench {
  // the stand-in's certificates in a directory of the bench's own (removed with the rest at the end)
  readonly pki: Pki = makePki(mkdtempSync(join(tmpdir(), 'mf-bench-pki-')));
  readonly api = new FakeApiServer(this.pki);
  readonly world = ((): World => {
    try {
      return new World(0);
    } catch (err) {
      rmSync(this.pki.dir, { recursive: true, force: true });
      throw err;
    }
  })();
  readonly kubeconfig = join(this.world.work, 'kubeconfig');
  readonly cniDir = join(this.world.work, 'mfcache');
  readonly samples = new Map<string, number[]>();
  /** API requests of the last measured call of each kind, e.g. `GET pod`. */
  readonly requests = new Map<string, string[]>();
  #seq = 0;

  async start(): Promise<void> {
    // created after World moved this process into the throwaway namespace: the server listens there
    await this.api.start();
    this.api.tokens.add('bench-token');
    const tokenFile = join(this.world.work, 'token');
    writeFileSync(tokenFile, 'bench-token\n');
    this.api.writeKubeconfig(this.kubeconfig, { tokenFile });
    this.api.addNad(NS, 'mv-a', this.macvlan(1, '1.0.0', false));
  }

  async close(): Promise<void> {
    await this.api.stop().catch(() => undefined);
    rmSync(this.pki.dir, { recursive: true, force: true });
    this.world.close();
  }

  /** A macvlan + host-local network on the world's master, the i-th /16 (no name: the NAD's is used). */
  macvlan(i: number, cniVersion: string, named = true): Record<string, unknown> {
    return {
      cniVersion,
      ...(named ? { name: i === 0 ? 'cluster' : `second-${i}` } : {}),
      type: 'macvlan',
      master: 'bm0',
      mode: 'bridge',
      ipam: {
        type: 'host-local',
        dataDir: join(this.world.work, 'ipam'),
        ranges: [[{ subnet: `10.${200 + i}.0.0/16` }]],
        ...(i === 0 ? { routes: [{ dst: '0.0.0.0/0' }] } : {}),
      },
    };
  }

  /** The meta config: the cluster network (and `delegates - 1` more), the kubeconfig. */
  meta(opts: { delegates?: number; cniVersion?: string; annotations?: Record<string, string> } = {}) {
    const v = opts.cniVersion ?? '1.0.0';
    return {
      cniVersion: v,
      name: 'k8s-pods',
      type: 'manifold',
      kubeconfig: this.kubeconfig,
      cniDir: this.cniDir,
      delegates: Array.from({ length: opts.delegates ?? 1 }, (_, i) => this.macvlan(i === 0 ? 0 : i + 1, v)),
      ...(opts.annotations
        ? { capabilities: { [PODANN]: true }, runtimeConfig: { [PODANN]: opts.annotations } }
        : {}),
    };
  }

  /** The environment of one call, as a runtime sets it. */
  env(command: string, pod?: { name: string; uid: string; cid: string }): Record<string, string> {
    const base: Record<string, string> = {
      ...Object.fromEntries(this.world.env.map((kv) => kv.split(/=(.*)/s) as [string, string])),
      CNI_COMMAND: command,
      CNI_PATH: MF_BIN,
    };
    if (!pod) return base;
    return {
      ...base,
      CNI_CONTAINERID: pod.cid,
      CNI_NETNS: `/run/netns/${this.world.podNs}`,
      CNI_IFNAME: 'eth0',
      CNI_ARGS: `IgnoreUnknown=1;K8S_POD_NAMESPACE=${NS};K8S_POD_NAME=${pod.name};K8S_POD_INFRA_CONTAINER_ID=${pod.cid};K8S_POD_UID=${pod.uid}`,
    };
  }

  /** A new pod in the API server (a new name, uid and container id each time). */
  pod(annotations: Record<string, string>): { name: string; uid: string; cid: string } {
    const n = ++this.#seq;
    const name = `bench-pod-${n}`;
    const uid = `0000-bench-uid-${n}`;
    this.api.addPod({ namespace: NS, name, uid, annotations });
    return { name, uid, cid: `benchk8s${n}${this.world.suffix}` };
  }

  record(key: string | undefined, ms: number): void {
    if (!key) return;
    const s = this.samples.get(key) ?? [];
    s.push(ms);
    this.samples.set(key, s);
  }

  /** A call, timed, with the API requests it made remembered under its key. */
  async call(
    key: string,
    measure: boolean,
    env: Record<string, string>,
    stdin: object | string,
    exe = EXE,
  ): Promise<Run> {
    const before = this.api.log.length;
    const r = ok(key, await exec(exe, env, typeof stdin === 'string' ? stdin : JSON.stringify(stdin)));
    if (measure) {
      this.record(key, r.ms);
      this.requests.set(
        key,
        this.api.log.slice(before).map((l) => `${l.method} ${kindOf(l.path)}`),
      );
    }
    return r;
  }

  /** 1. A pod with one NAD: ADD then DEL, (a) annotations from the runtime, (b) the pod read by GET. */
  async oneNad(mode: 'a' | 'b', measure: boolean, exe = EXE): Promise<void> {
    const annotations = { [NETWORKS_ANNOTATION]: 'mv-a' };
    const p = this.pod(annotations);
    // what CRI-O passes: the pod's annotations, its own among them
    const conf = this.meta(
      mode === 'a' ? { annotations: { ...annotations, 'kubernetes.io/config.source': 'api' } } : {},
    );
    const tag = exe === EXE ? '' : 'other ';
    await this.call(`${tag}(${mode}) ADD`, measure, this.env('ADD', p), conf, exe);
    await this.call(`${tag}(${mode}) DEL`, measure, this.env('DEL', p), conf, exe);
  }

  /** 2. STATUS of a 1.1.0 meta config and VERSION of the same executable, in the given order. */
  async verbs(statusFirst: boolean, measure: boolean): Promise<void> {
    const status = () => this.call('STATUS', measure, this.env('STATUS'), this.meta({ cniVersion: '1.1.0' }));
    const version = () => this.call('VERSION', measure, this.env('VERSION'), { cniVersion: '1.1.0' });
    if (statusFirst) {
      await status();
      await version();
    } else {
      await version();
      await status();
    }
  }

  /** 3. A 2-network pod: ADD, CHECK with the ADD's result (as CRI-O does right after ADD), DEL. */
  async check(measure: boolean): Promise<void> {
    const p = this.pod({});
    const conf = this.meta({ delegates: 2, annotations: { 'kubernetes.io/config.source': 'api' } });
    const added = await this.call('2-net ADD', measure, this.env('ADD', p), conf);
    const prevResult = JSON.parse(added.stdout) as object;
    await this.call('2-net CHECK', measure, this.env('CHECK', p), { ...conf, prevResult });
    await this.call('2-net DEL', measure, this.env('DEL', p), conf);
  }

  /** One round: the three items, their order and the order inside each pair rotating with the round. */
  async round(r: number, measure: boolean): Promise<void> {
    const items = [
      async () => {
        const runs = [() => this.oneNad('a', measure), () => this.oneNad('b', measure)];
        if (OTHER) runs.push(() => this.oneNad('b', measure, OTHER));
        for (let i = 0; i < runs.length; i++) await (runs[(i + r) % runs.length] as () => Promise<void>)();
      },
      () => this.verbs(r % 2 === 0, measure),
      () => this.check(measure),
    ];
    for (let i = 0; i < items.length; i++) await (items[(i + r) % items.length] as () => Promise<void>)();
  }

  /** What every DEL must have left: no address reserved, no cache file. */
  leftovers(): string[] {
    const left: string[] = [];
    const n = this.world.reservationsLeft();
    if (n > 0) left.push(`${n} host-local reservations`);
    const caches = existsSync(this.cniDir)
      ? readdirSync(this.cniDir, { recursive: true }).filter((f) => String(f).includes('benchk8s'))
      : [];
    if (caches.length > 0) left.push(`${caches.length} cache files (${caches.slice(0, 3).join(', ')})`);
    return left;
  }
}

/** The API object a request is about, as `pod`, `pod/status`, `nad`, `events`. */
function kindOf(path: string): string {
  const p = path.split('?')[0] ?? '';
  if (/\/pods\/[^/]+\/status$/.test(p)) return 'pod/status';
  if (/\/pods\/[^/]+$/.test(p)) return 'pod';
  if (p.includes('/network-attachment-definitions/')) return 'nad';
  if (p.endsWith('/events')) return 'events';
  return p;
}

const loadavg = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

function table(b: Bench, load: [string, string]): string {
  const sorted = (k: string) => [...(b.samples.get(k) ?? [])].sort((x, y) => x - y);
  const med = (k: string) => quantile(sorted(k), 0.5);
  const p90 = (k: string) => quantile(sorted(k), 0.9);
  const f = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : '-');
  const rows: [string, string][] = [
    ['1. pod with one NAD, (a) annotations from the runtime: ADD', '(a) ADD'],
    ['                                                       DEL', '(a) DEL'],
    ['                     (b) pod GET:                      ADD', '(b) ADD'],
    ['                                                       DEL', '(b) DEL'],
    ...(OTHER
      ? ([
          ['   --against build, (b) pod GET:                      ADD', 'other (b) ADD'],
          ['                                                       DEL', 'other (b) DEL'],
        ] as [string, string][])
      : []),
    ['2. STATUS (meta config 1.1.0, one macvlan delegate)', 'STATUS'],
    ['   VERSION (same executable)', 'VERSION'],
    ['3. 2-network pod: ADD', '2-net ADD'],
    ['                  CHECK (prevResult: the ADD result)', '2-net CHECK'],
    ['                  DEL', '2-net DEL'],
  ];
  const w = Math.max(...rows.map(([l]) => l.length));
  const lines = [
    `manifold Kubernetes and verb bench: ${EXE}${OTHER ? ` (--against ${OTHER})` : ''}`,
    `${ROUNDS} rounds (+1 warm-up), load average ${load[0]} at start, ${load[1]} at end`,
    '',
    `${''.padEnd(w)}  median     p90  (ms)`,
    ...rows.map(([l, k]) => `${l.padEnd(w)}  ${f(med(k)).padStart(6)}  ${f(p90(k)).padStart(6)}`),
    '',
    'ratios of medians:',
  ];
  const ratio = (a: string, c: string) => med(a) / med(c);
  const target = (x: number, max: number) => `(target ≤ ${max.toFixed(1)}×: ${x <= max ? 'met' : 'not met'})`;
  const sv = ratio('STATUS', 'VERSION');
  const ca = ratio('2-net CHECK', '2-net ADD');
  lines.push(
    `  ADD (a)/(b)         ${ratio('(a) ADD', '(b) ADD').toFixed(2)}×`,
    `  DEL (a)/(b)         ${ratio('(a) DEL', '(b) DEL').toFixed(2)}×`,
    ...(OTHER
      ? [
          `  ADD (a)/other (b)   ${ratio('(a) ADD', 'other (b) ADD').toFixed(2)}×, (b)/other (b) ${ratio('(b) ADD', 'other (b) ADD').toFixed(2)}×`,
          `  DEL (a)/other (b)   ${ratio('(a) DEL', 'other (b) DEL').toFixed(2)}×, (b)/other (b) ${ratio('(b) DEL', 'other (b) DEL').toFixed(2)}×`,
        ]
      : []),
    `  STATUS/VERSION      ${sv.toFixed(2)}× ${target(sv, 1.5)}`,
    `  CHECK/ADD (2 nets)  ${ca.toFixed(2)}× ${target(ca, 1.0)}`,
    '',
    'API requests of one call (last round):',
  );
  const other = OTHER ? ['other (b) ADD', 'other (b) DEL'] : [];
  for (const k of [
    '(a) ADD',
    '(a) DEL',
    '(b) ADD',
    '(b) DEL',
    ...other,
    '2-net ADD',
    '2-net CHECK',
    '2-net DEL',
  ]) {
    const counts = new Map<string, number>();
    for (const q of b.requests.get(k) ?? []) counts.set(q, (counts.get(q) ?? 0) + 1);
    const s = [...counts].map(([q, n]) => (n > 1 ? `${n}× ${q}` : q)).join(', ');
    lines.push(`  ${k.padEnd(13)} ${s || 'none'}`);
  }
  return `${lines.join('\n')}\n`;
}

if (process.getuid?.() !== 0) die('needs root (it makes network namespaces)');
for (const exe of [EXE, OTHER]) if (exe && !existsSync(exe)) die(`${exe} is missing: run ./build.sh first`);
let bench: Bench | undefined;
const stop = () => {
  void (bench?.close() ?? Promise.resolve()).finally(() => process.exit(130));
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
try {
  bench = new Bench();
  await bench.start();
  const load0 = loadavg();
  const log = (s: string) => process.stderr.write(`bench k8s: ${s}\n`);
  log('warm-up');
  await bench.round(0, false);
  for (let r = 0; r < ROUNDS; r++) {
    log(`round ${r + 1}/${ROUNDS} (load ${loadavg()})`);
    await bench.round(r, true);
  }
  const left = bench.leftovers();
  if (left.length > 0) throw new Error(`left after every DEL: ${left.join('; ')}: something leaks`);
  process.stdout.write(table(bench, [load0, loadavg()]));
} finally {
  await bench?.close();
}
