/**
 * Hostile input, at random: for every plugin and the meta-plugin, fast-check
 * mutates a working config (wrong types, edge values, deleted and added keys), the CNI_*
 * environment (container ids, interface names, netns paths — the host's own included —
 * CNI_PATH), CNI_ARGS and a prevResult, and runs a random verb on the real kernel in a real
 * pod. Whatever comes in:
 * - the answer is a result or a CNI error JSON with a known code, one line, whose config
 *   errors (7) name a field that is in the config, and no JavaScript error got out (the
 *   skel logs a stack only for those: the log must have none);
 * - an ADD that failed left no interface in the pod, no host link, no reservation; one that
 *   succeeded is undone by DEL, which must succeed;
 * - nothing is written outside the configured directories (those of the config, all in a
 *   temp dir: the repository and /var/lib/cni are watched).
 * Runs per plugin: MANIFOLD_FUZZ_RUNS (default 60; docs/reliability.md has a deeper run).
 * In daemon mode (vitest project `fuzz-daemon`, MANIFOLD_MODE=daemon: test/helpers/mode.ts and
 * daemon-mode-setup.ts) every case goes through the built shim to one built `manifold daemon`
 * instead of the skel in this process: the same checks, on the shim's exit status and stdout,
 * and on what the daemon logged (no stack), with no call falling back.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FALLBACK_DEVICES } from '../../src/kernel/tunnels.ts';
import { execCni } from '../helpers/exec-plugin.ts';
import { FakeSysfs } from '../helpers/fake-sysfs.ts';
import { cniArgsArb, expectCniOutcome, mutatedConfig } from '../helpers/fuzz.ts';
import { ip, ipJson, isolateHost, newNetns, requireRoot } from '../helpers/host.ts';
import { DIST_BIN, daemonLog, MODE } from '../helpers/mode.ts';
import { builtinLoader, runWith, type SkelRun } from '../helpers/skel.ts';

requireRoot();
isolateHost();
const RUNS = Number(process.env.MANIFOLD_FUZZ_RUNS ?? 60);
const work = mkdtempSync(join(tmpdir(), 'manifold-it-fuzz-'));
const ipamDir = join(work, 'ipam');
let fake: FakeSysfs;
let pod: { name: string; path: string };
let baseline: Set<string>;

interface Link {
  ifname: string;
  master?: string;
  linkinfo?: { info_kind?: string };
}
const hostLinks = () => ipJson<Link[]>('-d', 'link', 'show');

/** What must not change outside `work`: the repository's top level, /var/lib/cni, /etc/cni. */
function watched(): string[] {
  const list = (d: string) =>
    existsSync(d) ? readdirSync(d, { recursive: true }).map((f) => join(d, String(f))) : [];
  return [...readdirSync(process.cwd()), ...list('/var/lib/cni'), ...list('/etc/cni')].sort();
}
let before: string[];

beforeAll(() => {
  ip('link', 'add', 'fz0', 'type', 'veth', 'peer', 'name', 'fz0p');
  ip('link', 'set', 'fz0', 'up');
  ip('link', 'set', 'fz0p', 'up');
  ip('addr', 'add', '192.168.95.1/24', 'dev', 'fz0');
  fake = new FakeSysfs(join(work, 'sys'));
  ip('link', 'add', 'fzpf', 'type', 'veth', 'peer', 'name', 'fzpfp');
  ip('link', 'add', 'fzvf0', 'address', '02:fa:00:00:00:01', 'type', 'veth', 'peer', 'name', 'fzvf0p');
  ip('link', 'set', 'fzvf0p', 'up'); // a carrier, so IPv6 DAD can finish on the VF
  fake.addPf('0000:0b:00.0', 'fzpf').addVf('0000:0b:00.0', 0, '0000:0b:10.0', { netdev: 'fzvf0' });
  pod = newNetns();
  baseline = new Set(hostLinks().map((l) => l.ifname));
  before = watched();
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

const hostLocal = (n: number) => ({
  type: 'host-local',
  dataDir: ipamDir,
  ranges: [[{ subnet: `10.88.${n}.0/24`, gateway: `10.88.${n}.1` }], [{ subnet: `fd88:${n}::/64` }]],
  routes: [{ dst: '0.0.0.0/0' }, { dst: '10.89.0.0/16', gw: `10.88.${n}.254` }],
});
const V = '1.1.0';
const BASES: Record<string, Record<string, unknown>> = {
  macvlan: {
    cniVersion: V,
    name: 'fz-mv',
    type: 'macvlan',
    master: 'fz0',
    mode: 'bridge',
    mtu: 1400,
    ipam: hostLocal(1),
  },
  ipvlan: { cniVersion: V, name: 'fz-iv', type: 'ipvlan', master: 'fz0', mode: 'l2', ipam: hostLocal(2) },
  bridge: {
    cniVersion: V,
    name: 'fz-br',
    type: 'bridge',
    bridge: 'fzbr0',
    isGateway: true,
    ipMasq: true,
    macspoofchk: true,
    ipam: hostLocal(3),
  },
  vxlan: {
    cniVersion: V,
    name: 'fz-vx',
    type: 'vxlan',
    vni: 77,
    master: 'fz0',
    mode: 'bridge',
    remotes: ['192.168.95.2'],
    ipam: hostLocal(4),
  },
  sriov: {
    cniVersion: V,
    name: 'fz-sr',
    type: 'sriov',
    deviceID: '0000:0b:10.0',
    dataDir: join(work, 'sriov'),
    ipam: hostLocal(5),
  },
  // this host's kernel has no tunnel modules: ADD ends in code 50 after the config, the
  // underlay and the clash check were gone through (test/vm/tunnel.vm.test.ts makes them)
  tunnel: {
    cniVersion: V,
    name: 'fz-tn',
    type: 'tunnel',
    mode: 'gre',
    remote: '192.168.95.2',
    master: 'fz0',
    key: 9,
    ttl: 64,
    ipam: hostLocal(9),
  },
  'host-local': { cniVersion: V, name: 'fz-hl', type: 'host-local', ipam: hostLocal(6) },
  static: {
    cniVersion: V,
    name: 'fz-st',
    type: 'static',
    ipam: {
      type: 'static',
      addresses: [{ address: '10.87.0.5/24', gateway: '10.87.0.1' }],
      routes: [{ dst: '0.0.0.0/0' }],
    },
  },
  manifold: {
    cniVersion: V,
    name: 'fz-meta',
    type: 'manifold',
    cniDir: join(work, 'cache'),
    delegates: [
      { cniVersion: V, name: 'fz-dmv', type: 'macvlan', master: 'fz0', ipam: hostLocal(7) },
      {
        cniVersion: V,
        name: 'fz-dvx',
        type: 'vxlan',
        vni: 78,
        master: 'fz0',
        mode: 'direct',
        ipam: hostLocal(8),
        manifold: { ifname: 'vx1' },
      },
    ],
  },
};

/** Every directory or file a config names goes into `work`, so nothing else can be written. */
function confine(v: unknown): void {
  if (Array.isArray(v)) {
    for (const x of v) confine(x);
    return;
  }
  if (v === null || typeof v !== 'object') return;
  const o = v as Record<string, unknown>;
  for (const key of [
    'dataDir',
    'cniDir',
    'confDir',
    'binDir',
    'logFile',
    'readinessindicatorfile',
    'resolvConf',
  ]) {
    if (typeof o[key] === 'string' && (o[key] === '' || isAbsolute(o[key] as string)))
      o[key] = join(work, key);
  }
  for (const x of Object.values(o)) confine(x);
}

/** Defaults that would be outside `work` when a mutation removed the field. */
function defaults(type: string, conf: Record<string, unknown>): void {
  if (type === 'manifold' && conf.cniDir === undefined) conf.cniDir = join(work, 'cniDir');
  if (type === 'sriov' && conf.dataDir === undefined) conf.dataDir = join(work, 'dataDir');
  const visit = (v: unknown) => {
    if (v === null || typeof v !== 'object') return;
    for (const x of Object.values(v as object)) visit(x);
    const ipam = (v as { ipam?: unknown }).ipam;
    if (
      ipam &&
      typeof ipam === 'object' &&
      !Array.isArray(ipam) &&
      (ipam as { dataDir?: unknown }).dataDir === undefined
    ) {
      (ipam as Record<string, unknown>).dataDir = join(work, 'ipam-default');
    }
  };
  visit(conf);
}

const good = () => ({
  CNI_CONTAINERID: `fz${Math.random().toString(16).slice(2, 8)}`,
  CNI_IFNAME: 'net1',
  CNI_NETNS: pod.path,
  CNI_PATH: '/usr/lib/cni',
});
const envArb = fc.record({
  CNI_CONTAINERID: fc.option(fc.constantFrom('', '-x', 'a/b', '..', 'x'.repeat(300), 'ü', 'a b', 'c;d'), {
    freq: 4,
  }),
  CNI_IFNAME: fc.option(
    fc.constantFrom('', 'lo', 'eth0', 'x'.repeat(16), 'é'.repeat(8), 'a/b', '..', 'a:b', 'fz0'),
    { freq: 4 },
  ),
  CNI_NETNS: fc.option(
    fc.constantFrom(
      '',
      '/nonexistent/ns',
      '/proc/self/ns/net',
      '/proc/1/ns/mnt',
      '/etc/passwd',
      'relative/ns',
      '/proc',
    ),
    { freq: 4 },
  ),
  CNI_PATH: fc.option(fc.constantFrom('', '::', '/nonexistent', 'relative', `${work}/bin`), { freq: 4 }),
});
const verbArb = fc.constantFrom('ADD', 'ADD', 'ADD', 'DEL', 'CHECK', 'STATUS', 'GC');
const prevBase = {
  cniVersion: V,
  interfaces: [{ name: 'net1', mac: '02:00:00:00:00:01', sandbox: '/run/netns/x' }],
  ips: [{ address: '10.88.1.5/24', gateway: '10.88.1.1', interface: 0 }],
  routes: [{ dst: '0.0.0.0/0' }],
  dns: { nameservers: ['10.0.0.53'] },
};

const ALLOWED = [1, 2, 3, 4, 5, 6, 7, 8, 11, 50];

/** A call that has not answered within this is a hang. */
const CASE_MS = 30_000;
function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms (a hang): ${what}`)), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}
/** What a JavaScript error (not a CniError) says: it must never reach the answer. */
const JS_ERROR =
  /cannot read|is not a function|is not iterable|is not defined|undefined|Maximum call stack|Unexpected token/i;

/**
 * One call of built-in `type`: the skel in this process, or in daemon mode the shim (its
 * `manifold`, invoked under the name `type`: the daemon picks the plugin by it) and stderr what
 * the daemon logged meanwhile (the call's logToStderr lines).
 */
async function call(type: string, env: Record<string, string>, stdin: string): Promise<SkelRun> {
  if (MODE === 'oneshot') return runWith(builtinLoader(type), env, stdin, type);
  const mark = daemonLog().length;
  const out = await execCni(
    join(DIST_BIN, 'manifold'),
    { command: env.CNI_COMMAND as 'ADD', env, timeoutMs: CASE_MS + 5_000 },
    stdin,
    { argv0: type },
  );
  return { code: out.status ?? -1, stdout: out.stdout, stderr: daemonLog().slice(mark), json: out.json };
}

/** Reservation files (`<dataDir>/<network>/<ip>`) in every store a fuzzed config may use. */
function reservations(): string[] {
  const out: string[] = [];
  for (const d of [ipamDir, join(work, 'ipam-default'), join(work, 'dataDir')]) {
    if (!existsSync(d)) continue;
    for (const net of readdirSync(d, { withFileTypes: true }).filter((e) => e.isDirectory())) {
      for (const f of readdirSync(join(d, net.name), { withFileTypes: true })) {
        if (f.isFile() && /^[\d.]+$|:/.test(f.name) && f.name !== 'lock') out.push(`${net.name}/${f.name}`);
      }
    }
  }
  return out;
}

/** What an attachment may not leave: pod links, host links (empty bridges excepted: the bridge plugin keeps them). */
function left(): string[] {
  const out: string[] = [];
  // the kernel's fallback tunnels appear in every netns once a tunnel module loads (the
  // tunnel cases in the kernel lab): the kernel's, not an attachment's
  const inPod = ipJson<Link[]>('-n', pod.name, 'link', 'show')
    .map((l) => l.ifname)
    .filter((n) => n !== 'lo' && !FALLBACK_DEVICES.includes(n));
  if (inPod.length) out.push(`pod: ${inPod.join(',')}`);
  const host = hostLinks();
  const extra = host.filter(
    (l) =>
      !baseline.has(l.ifname) &&
      !FALLBACK_DEVICES.includes(l.ifname) &&
      !(l.linkinfo?.info_kind === 'bridge' && !host.some((p) => p.master === l.ifname)),
  );
  if (extra.length) out.push(`host: ${extra.map((l) => l.ifname).join(',')}`);
  const res = reservations();
  if (res.length) out.push(`reservations: ${res.join(',')}`);
  return out;
}

describe.each(Object.keys(BASES))('%s, fuzzed on the real kernel', (type) => {
  it(`${RUNS} random configs, environments, CNI_ARGS and prevResults: a result or a CNI error naming the field, nothing left`, async () => {
    mkdirSync(join(work, 'bin'), { recursive: true });
    const stats = new Map<string, number>();
    const internal = new Set<string>();
    await fc.assert(
      fc.asyncProperty(
        // a third of the runs keep the working config, so the environment, CNI_ARGS and
        // prevResult mutations reach the kernel work too
        fc.oneof(
          {
            weight: 1,
            arbitrary: fc.constant(null).map(() => structuredClone(BASES[type]) as Record<string, unknown>),
          },
          { weight: 2, arbitrary: mutatedConfig(BASES[type] as Record<string, never>) },
        ),
        fc.oneof({ weight: 2, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: cniArgsArb }),
        fc.oneof({ weight: 2, arbitrary: fc.constant({}) }, { weight: 1, arbitrary: envArb }),
        verbArb,
        fc.option(mutatedConfig(prevBase as unknown as Record<string, never>), { freq: 2 }),
        async (conf, args, envOver, verb, prev) => {
          confine(conf);
          defaults(type, conf);
          const withLog = {
            ...conf,
            logLevel: 'debug',
            logToStderr: true,
            ...(prev ? { prevResult: prev } : {}),
          };
          const env: Record<string, string> = { ...good(), CNI_COMMAND: verb };
          for (const [k, v] of Object.entries(envOver)) if (typeof v === 'string') env[k] = v;
          if (args !== undefined) env.CNI_ARGS = args;
          env.MANIFOLD_SYSFS_ROOT = fake.root;
          const context = `${verb} ${JSON.stringify(envOver)} ${JSON.stringify(withLog)}`;
          writeFileSync(join(work, 'last-case'), `${type} ${context}\n`); // what was running, should the process die
          const out = await withTimeout(call(type, env, JSON.stringify(withLog)), CASE_MS, context);
          const outcome = out.code === 0 ? `${verb} ok` : `${verb} ${String(out.json?.code)}`;
          stats.set(outcome, (stats.get(outcome) ?? 0) + 1);
          if (out.json?.code === 999) internal.add(String(out.json.msg).replace(/fz[0-9a-f]{6}/g, '<id>'));
          expect(out.stderr, `a JavaScript error got out: ${context}`).not.toMatch(/\n\s+at .+:\d+:\d+/);
          expectCniOutcome(
            out,
            withLog,
            ALLOWED,
            /^(?!.*(cannot read|is not a function|is not iterable|is not defined)).*/i,
          );
          if (out.code !== 0) expect(String(out.json?.msg), context).not.toMatch(JS_ERROR);
          if (verb === 'ADD' && out.code === 0) {
            const del = await call(type, { ...env, CNI_COMMAND: 'DEL' }, JSON.stringify(withLog));
            expect(del.code, `DEL after a fuzzed ADD: ${del.stdout} (${context})`).toBe(0);
          }
          expect(left(), context).toEqual([]);
        },
      ),
      // a failure says everything about its case: no shrinking (each step is a kernel round trip)
      { numRuns: RUNS, endOnFailure: true },
    );
    const shown = [...stats.entries()].sort().map(([k, n]) => `${k}: ${n}`);
    process.stdout.write(`\nfuzz ${type}: ${RUNS} runs: ${shown.join(', ')}\n`);
    for (const m of internal) process.stdout.write(`  999: ${m}\n`);
  }, 300_000);
});

describe('nothing outside the configured directories', () => {
  it('the repository, /var/lib/cni and /etc/cni are as they were', () => {
    expect(watched()).toEqual(before);
  });
});

describe.skipIf(MODE !== 'daemon')('daemon mode', () => {
  // a line the daemon wrote after its answer was read is in no case's stderr: all of it here
  it('no JavaScript error got out in the daemon over all the cases', () => {
    const log = daemonLog();
    expect(log.length).toBeGreaterThan(0);
    expect(log).not.toMatch(/\n\s+at .+:\d+:\d+/);
  });
});
