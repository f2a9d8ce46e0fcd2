/**
 * The built executable's command line, as root on a real kernel:
 *   - `manifold add` and the libcni client (the library containerd and CRI-O use, through
 *     test/e2e/go/cnitest) on the same network and cache: what one adds the other checks and
 *     deletes, both ways — a plain macvlan network and a manifold conflist;
 *   - the examples of add/check/del/gc/status --help, run as written from the repository
 *     (NETCONFPATH=conf.d-examples CNI_PATH=dist/bin, the demo's master made here), with
 *     --cache-dir added so the machine's /var/lib/cni stays untouched;
 *   - validate and explain of conf.d-examples inside the single executable (YAML included).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { containerIdFor } from '../../src/cli/common/tool-env.ts';
import { examplesOf } from '../helpers/examples.ts';
import { ip, ipJson, isolateHost, newNetns, uniq } from '../helpers/host.ts';
import { cniAdd, cniCheck, cniDel } from '../helpers/libcni.ts';
import { scratchDir } from '../helpers/scratch.ts';

const REPO = resolve(import.meta.dirname, '../..');
const BIN = join(REPO, 'dist/bin');
const MANIFOLD = join(BIN, 'manifold');
isolateHost();
const tmp = scratchDir('mf-e2e-cli-');
const netd = join(tmp, 'net.d');
const cacheDir = join(tmp, 'libcni');
const dataDir = join(tmp, 'ipam');
const nativeDir = join(tmp, 'native');
const DEMO_STATE = '/run/manifold-demo';
/** The container ids of the help examples' netns (cnitool's, derived from the path). */
const ownIds: string[] = [];

function manifold(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(MANIFOLD, args, {
    cwd: REPO,
    encoding: 'utf8',
    env: { PATH: '/usr/bin:/bin:/usr/sbin:/sbin', MANIFOLD_NATIVE_DIR: nativeDir, ...env },
    timeout: 30_000,
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

const podLinks = (ns: string) =>
  ipJson<{ ifname: string }[]>('-n', ns, 'link', 'show')
    .map((l) => l.ifname)
    .filter((n) => n !== 'lo')
    .sort();
const reservations = () =>
  existsSync(dataDir)
    ? readdirSync(dataDir).flatMap((n) => readdirSync(join(dataDir, n)).filter((f) => /^\d+\./.test(f)))
    : [];

const MV = {
  cniVersion: '1.0.0',
  name: 'mv',
  type: 'macvlan',
  master: 'ce0',
  ipam: { type: 'host-local', dataDir, subnet: '10.85.0.0/24' },
};
const POD = {
  cniVersion: '1.0.0',
  name: 'pod',
  plugins: [
    {
      type: 'manifold',
      cniDir: join(tmp, 'meta'),
      delegates: [
        {
          name: 'pa',
          type: 'macvlan',
          master: 'ce0',
          ipam: { type: 'host-local', dataDir, subnet: '10.86.0.0/24' },
        },
        {
          name: 'pb',
          type: 'macvlan',
          master: 'ce0',
          ipam: { type: 'host-local', dataDir, subnet: '10.87.0.0/24' },
        },
      ],
    },
  ],
};

beforeAll(() => {
  if (!existsSync(MANIFOLD)) throw new Error('dist/bin/manifold is missing: run ./build.sh first');
  mkdirSync(netd);
  writeFileSync(join(netd, '10-mv.conf'), JSON.stringify(MV));
  writeFileSync(join(netd, '20-pod.conflist'), JSON.stringify(POD));
  ip('link', 'add', 'ce0', 'type', 'veth', 'peer', 'name', 'ce0p');
  ip('link', 'set', 'ce0', 'up');
  // the demo's "NIC", for the --help examples that use conf.d-examples
  ip('link', 'add', 'mfdemo0', 'type', 'veth', 'peer', 'name', 'mfdemo0p');
  ip('link', 'set', 'mfdemo0', 'up');
});

describe.each([
  ['a macvlan conf', 'mv', '10-mv.conf'],
  ['a manifold conflist', 'pod', '20-pod.conflist'],
])('manifold add and libcni on the same network: %s', (_what, network, file) => {
  const env = () => ({ NETCONFPATH: netd, CNI_PATH: BIN });
  const opts = (netns: string) => ({
    conf: join(netd, file),
    netns,
    ifname: 'eth0',
    containerId: containerIdFor(netns),
    cniPath: BIN,
    cacheDir,
  });

  it('manifold add, then libcni CHECK and DEL', async () => {
    const pod = newNetns();
    const add = manifold(['add', network, pod.path, '--cache-dir', cacheDir], env());
    expect(add.code, add.err).toBe(0);
    expect(podLinks(pod.name).length).toBeGreaterThan(0);
    const check = await cniCheck(opts(pod.path));
    expect(check.ok, JSON.stringify(check)).toBe(true);
    const del = await cniDel(opts(pod.path));
    expect(del.ok, JSON.stringify(del)).toBe(true);
    expect(podLinks(pod.name)).toEqual([]);
    expect(reservations()).toEqual([]);
    expect(readdirSync(join(cacheDir, 'results')).filter((f) => f.startsWith(`${network}-`))).toEqual([]);
  });

  it('libcni ADD, then manifold check and del', async () => {
    const pod = newNetns();
    const add = await cniAdd(opts(pod.path));
    expect(add.ok, JSON.stringify(add)).toBe(true);
    const check = manifold(['check', network, pod.path, '--cache-dir', cacheDir], env());
    expect(check.code, check.err).toBe(0);
    const del = manifold(['del', network, pod.path, '--cache-dir', cacheDir], env());
    expect(del.code, del.err).toBe(0);
    expect(podLinks(pod.name)).toEqual([]);
    expect(reservations()).toEqual([]);
    expect(readdirSync(join(cacheDir, 'results')).filter((f) => f.startsWith(`${network}-`))).toEqual([]);
  });
});

describe('the --help examples, run with the built executable', () => {
  it.each([['add'], ['check'], ['del'], ['gc'], ['status']])('%s', async (command) => {
    const name = uniq('mfex');
    ownIds.push(containerIdFor(`/run/netns/${name}`));
    const own = join(tmp, `cache-${command}`);
    const prepare = command === 'add' ? [] : command === 'status' ? [] : [`ip netns add ${name}`, 'add'];
    const examples = (await examplesOf(command)).map((e) => ({
      ...e,
      args: e.args.map((a) => a.replace(/\/run\/netns\/demo$/, `/run/netns/${name}`)),
    }));
    const runLine = (args: string[], env: Record<string, string>) => {
      const flags = ['add', 'check', 'del', 'gc'].includes(args[0] as string) ? ['--cache-dir', own] : [];
      return manifold([...args, ...flags], env);
    };
    try {
      if (prepare.length > 0) {
        ip('netns', 'add', name);
        const add = (await examplesOf('add')).find((e) => e.args[0] === 'add');
        if (!add) throw new Error('no add example');
        const r = runLine(
          add.args.map((a) => a.replace(/\/run\/netns\/demo$/, `/run/netns/${name}`)),
          add.env,
        );
        expect(r.code, r.err).toBe(0);
      }
      for (const ex of examples) {
        if (ex.program === 'ip') {
          ip(...ex.args.map((a) => (a === 'demo' ? name : a)));
          continue;
        }
        expect(ex.program).toBe('manifold');
        const r = runLine(ex.args, ex.env);
        expect(r.code, `${ex.line}\n${r.out}${r.err}`).toBe(0);
      }
    } finally {
      if (existsSync(`/run/netns/${name}`)) {
        manifold(['del', 'macvlan-net', `/run/netns/${name}`, '--cache-dir', own], {
          NETCONFPATH: 'conf.d-examples',
          CNI_PATH: BIN,
        });
        ip('netns', 'del', name);
      }
    }
  });

  it('left nothing of its own in the demo store (the demo itself may be running elsewhere)', () => {
    const store = join(DEMO_STATE, 'ipam/macvlan-net');
    const mine = existsSync(store)
      ? readdirSync(store).filter(
          (f) =>
            /^\d+\./.test(f) &&
            ownIds.some((id) => readFileSync(join(store, f), 'utf8').startsWith(`${id}\r\n`)),
        )
      : [];
    expect(mine).toEqual([]);
  });
});

describe('validate and explain inside the single executable', () => {
  it('validate conf.d-examples (confs and NAD YAML): exit 0, warnings only', () => {
    const r = manifold([
      'validate',
      '--conf-dir',
      'conf.d-examples',
      'conf.d-examples',
      'conf.d-examples/nad',
    ]);
    expect(r.code, r.out + r.err).toBe(0);
    expect(r.out).toMatch(/25 network\(s\) in 19 file\(s\): 0 error\(s\)/);
  });

  it('explain the demo config, and a usage error is one line and the usage', () => {
    const r = manifold(['explain', '--conf-dir', 'conf.d-examples', 'conf.d-examples/00-manifold.conf']);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/3 attachment\(s\), made in this order/);
    const bad = manifold(['explain', '--frob']);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/^manifold explain: unknown flag --frob\nusage: manifold explain FILE/);
    expect(bad.err).not.toMatch(/\n\s+at /);
  });
});
