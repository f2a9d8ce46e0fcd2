/**
 * The built executable in both modes on the real kernel: the same config, container id,
 * netns and CNI_ARGS run through one-shot (dist/bin/<name> as a runtime executes it) and
 * through `dist/bin/manifold daemon` (POST /cni as the shim forwards a call), ADD, CHECK,
 * DEL and DEL again one way and then the other, with host-local's store reset between the
 * two: every stdout and exit status is the same, byte for byte. For macvlan alone and for
 * the meta-plugin delegating to it, plus VERSION, STATUS and a failing ADD.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cniCall, httpCall } from '../helpers/daemon.ts';
import { execCni } from '../helpers/exec-plugin.ts';
import { ip, isolateHost, newNetns, requireRoot } from '../helpers/host.ts';
import { scratchDir } from '../helpers/scratch.ts';

requireRoot();
const BIN = resolve('dist/bin');
if (!existsSync(join(BIN, 'manifold'))) throw new Error('dist/bin/manifold is missing: run ./build.sh first');
isolateHost();
const tmp = scratchDir('mf-e2e-daemon-');
const SOCK = join(tmp, 'run', 'manifold.sock');
const NATIVE = { MANIFOLD_NATIVE_DIR: join(tmp, 'native') };
const MASTER = 'ed0';
let daemon: ChildProcess;
let daemonErr = '';

beforeAll(async () => {
  ip('link', 'add', MASTER, 'type', 'veth', 'peer', 'name', `${MASTER}p`);
  ip('link', 'set', MASTER, 'up');
  daemon = spawn(join(BIN, 'manifold'), ['daemon', '--socket', SOCK], {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...NATIVE },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  daemon.stderr?.on('data', (b: Buffer) => {
    daemonErr += b.toString();
  });
  for (let i = 0; i < 400; i++) {
    try {
      if ((await httpCall(SOCK, 'GET', '/readyz')).http === 200) return;
    } catch {
      // not yet
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`the daemon did not start: ${daemonErr}`);
});
afterAll(async () => {
  if (!daemon || daemon.exitCode !== null) return;
  const exited = new Promise((r) => daemon.on('exit', r));
  daemon.kill('SIGTERM');
  await exited;
});

type Verb = 'ADD' | 'CHECK' | 'DEL' | 'STATUS' | 'VERSION';
interface Call {
  readonly name: string;
  readonly containerId: string;
  readonly netns: string;
  readonly ifname: string;
  readonly args: string;
}
interface Outcome {
  readonly status: number | null;
  readonly stdout: string;
}

async function oneShot(c: Call, verb: Verb, conf: string): Promise<Outcome> {
  const r = await execCni(
    join(BIN, c.name),
    {
      command: verb,
      containerId: c.containerId,
      netns: c.netns,
      ifname: c.ifname,
      args: c.args,
      path: [BIN],
      env: NATIVE,
    },
    conf,
  );
  return { status: r.status, stdout: r.stdout };
}

async function viaDaemon(c: Call, verb: Verb, conf: string): Promise<Outcome> {
  const env = {
    CNI_COMMAND: verb,
    CNI_CONTAINERID: c.containerId,
    CNI_NETNS: c.netns,
    CNI_IFNAME: c.ifname,
    CNI_ARGS: c.args,
    CNI_PATH: BIN,
    ...NATIVE,
  };
  const r = await cniCall(SOCK, c.name, env, conf);
  expect(r.http, r.body).toBe(200);
  return { status: r.json?.status ?? null, stdout: r.json?.stdout ?? '' };
}

/** ADD, CHECK, DEL, DEL one way, then the other; the outcomes of both, and the ms each took. */
async function bothWays(c: Call, conf: string, reset: () => void, podLinks: () => string) {
  const out: Record<'oneShot' | 'daemon', Outcome[]> = { oneShot: [], daemon: [] };
  const ms: Record<string, number> = {};
  for (const [how, run] of [
    ['oneShot', oneShot],
    ['daemon', viaDaemon],
  ] as const) {
    reset();
    const t0 = performance.now();
    for (const verb of ['ADD', 'CHECK', 'DEL', 'DEL'] as const) {
      out[how].push(await run(c, verb, conf));
      if (verb === 'ADD') expect(podLinks()).toMatch(new RegExp(`^${c.ifname}@`, 'm'));
    }
    ms[how] = Math.round(performance.now() - t0);
    expect(podLinks()).not.toMatch(new RegExp(`^${c.ifname}@`, 'm'));
  }
  return { out, ms };
}

describe('one-shot and daemon print the same bytes', () => {
  it('macvlan + host-local: ADD, CHECK, DEL, DEL', async () => {
    const dataDir = join(tmp, 'ipam-mv');
    const conf = JSON.stringify({
      cniVersion: '1.0.0',
      name: 'e2e-daemon-mv',
      type: 'macvlan',
      master: MASTER,
      mtu: 1400,
      ipam: { type: 'host-local', dataDir, subnet: '10.78.0.0/24', routes: [{ dst: '0.0.0.0/0' }] },
    });
    const pod = newNetns();
    const c = {
      name: 'macvlan',
      containerId: 'e2e-daemon-mv-1',
      netns: pod.path,
      ifname: 'net1',
      args: 'IgnoreUnknown=1;MAC=0a:58:0a:4e:00:02',
    };
    const { out, ms } = await bothWays(
      c,
      conf,
      () => rmSync(dataDir, { recursive: true, force: true }),
      () => ip('-n', pod.name, '-o', 'link', 'show').replace(/^\d+: /gm, ''),
    );
    expect(out.daemon).toEqual(out.oneShot);
    expect(out.daemon[0]?.status).toBe(0);
    expect(JSON.parse(out.daemon[0]?.stdout ?? '')).toMatchObject({
      interfaces: [{ name: 'net1', mac: '0a:58:0a:4e:00:02', mtu: 1400, sandbox: pod.path }],
      ips: [{ address: '10.78.0.2/24', gateway: '10.78.0.1', interface: 0 }],
    });
    console.log(`macvlan ADD+CHECK+DEL+DEL: one-shot ${ms.oneShot} ms, daemon ${ms.daemon} ms`);
    console.log(`ADD stdout (both):\n${out.daemon[0]?.stdout}`);
  });

  it('the meta-plugin delegating to macvlan: ADD, CHECK, DEL, DEL', async () => {
    const dataDir = join(tmp, 'ipam-meta');
    const cniDir = join(tmp, 'meta-cache');
    const conf = JSON.stringify({
      cniVersion: '1.0.0',
      name: 'e2e-daemon-meta',
      type: 'manifold',
      cniDir,
      delegates: [
        {
          name: 'mv',
          type: 'macvlan',
          master: MASTER,
          ipam: { type: 'host-local', dataDir, subnet: '10.79.0.0/24' },
        },
      ],
    });
    const pod = newNetns();
    const c = {
      name: 'manifold',
      containerId: 'e2e-daemon-meta-1',
      netns: pod.path,
      ifname: 'eth0',
      args: 'IgnoreUnknown=1;MAC=0a:58:0a:4f:00:02',
    };
    const { out, ms } = await bothWays(
      c,
      conf,
      () => {
        rmSync(dataDir, { recursive: true, force: true });
        rmSync(cniDir, { recursive: true, force: true });
      },
      () => ip('-n', pod.name, '-o', 'link', 'show').replace(/^\d+: /gm, ''),
    );
    expect(out.daemon).toEqual(out.oneShot);
    expect(out.daemon[0]?.status).toBe(0);
    expect(JSON.parse(out.daemon[0]?.stdout ?? '').ips).toEqual([
      { address: '10.79.0.2/24', gateway: '10.79.0.1', interface: 0 },
    ]);
    console.log(`meta ADD+CHECK+DEL+DEL: one-shot ${ms.oneShot} ms, daemon ${ms.daemon} ms`);
  });

  it('VERSION, STATUS, and a failing ADD', async () => {
    const pod = newNetns();
    const c = { name: 'macvlan', containerId: 'e2e-daemon-x', netns: pod.path, ifname: 'net1', args: '' };
    const status = JSON.stringify({
      cniVersion: '1.1.0',
      name: 's',
      type: 'macvlan',
      master: MASTER,
      ipam: { type: 'host-local', subnet: '10.80.0.0/24', dataDir: join(tmp, 'ipam-s') },
    });
    const broken = status.replace(MASTER, 'no-such-master');
    for (const [verb, conf] of [
      ['VERSION', '{}'],
      ['STATUS', status],
      ['ADD', broken],
    ] as const) {
      const a = await oneShot(c, verb, conf);
      const b = await viaDaemon(c, verb, conf);
      expect(b, verb).toEqual(a);
    }
    expect((await viaDaemon(c, 'ADD', broken)).status).toBe(1);
  });
});
