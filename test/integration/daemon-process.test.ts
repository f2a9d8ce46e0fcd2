/**
 * `manifold daemon` as a process (`node src/main.ts daemon`, as the integration tier runs the
 * source): its socket root only (a non-root client gets EACCES), a stale socket replaced and a
 * live one refused unless --replace (and the replaced daemon, when it ends, leaves the new
 * one's socket alone), SIGTERM's drain with a call in flight ending in exit 0, the 5 s
 * per-connection deadline, and the examples of `manifold daemon --help`.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { chmodSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cniCall, httpCall, rawCall } from '../helpers/daemon.ts';
import { examplesOf } from '../helpers/examples.ts';
import { ip, isolateHost, newNetns, requireRoot } from '../helpers/host.ts';
import { scratchDir } from '../helpers/scratch.ts';

requireRoot();
isolateHost();
const tmp = scratchDir('mf-it-daemonp-');
const SOURCE_MAIN = fileURLToPath(new URL('../../src/main.ts', import.meta.url));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Running {
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;
  stderr: string;
}
const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

function spawnDaemon(args: string[]): Running {
  const child = spawn(process.execPath, [SOURCE_MAIN, 'daemon', ...args], {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  children.push(child);
  const r: Running = {
    child,
    stderr: '',
    exited: new Promise((resolve) => child.on('exit', (code) => resolve(code))),
  };
  child.stderr?.on('data', (b: Buffer) => {
    r.stderr += b.toString();
  });
  return r;
}

async function serving(sock: string, d: Running): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (d.child.exitCode !== null) throw new Error(`daemon exited ${d.child.exitCode}: ${d.stderr}`);
    try {
      if ((await httpCall(sock, 'GET', '/healthz')).http === 200) return;
    } catch {
      // not yet
    }
    await sleep(25);
  }
  throw new Error(`daemon never served ${sock}: ${d.stderr}`);
}

let seq = 0;
const sockPath = () => join(tmp, `p${++seq}`, 'manifold.sock');

describe('the socket', () => {
  it('is 0600 in a 0700 directory, and a non-root client gets EACCES', async () => {
    const sock = sockPath();
    const d = spawnDaemon(['--socket', sock]);
    await serving(sock, d);
    expect(statSync(sock).mode & 0o777).toBe(0o600);
    expect(statSync(join(sock, '..')).mode & 0o777).toBe(0o700);
    const probe = `require('net').connect(${JSON.stringify(sock)}).on('connect', () => { console.log('CONNECTED'); process.exit(0); }).on('error', (e) => { console.log(e.code); process.exit(0); })`;
    const out = await new Promise<string>((resolve, reject) =>
      execFile(
        'setpriv',
        ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, '-e', probe],
        (err, stdout) => (err ? reject(err) : resolve(stdout.trim())),
      ),
    );
    expect(out).toBe('EACCES');
    d.child.kill('SIGTERM');
    expect(await d.exited).toBe(0);
  });

  it('a stale socket is replaced; a live one refuses a second daemon unless --replace', async () => {
    const sock = sockPath();
    mkdirSync(join(sock, '..'), { mode: 0o700 });
    // a socket file nothing listens on any more: its process was killed
    await new Promise<void>((resolve) =>
      execFile(
        process.execPath,
        [
          '-e',
          `require('net').createServer().listen(${JSON.stringify(sock)}, () => process.kill(process.pid, 'SIGKILL'))`,
        ],
        () => resolve(),
      ),
    );
    expect(statSync(sock).isSocket()).toBe(true);
    const first = spawnDaemon(['--socket', sock]);
    await serving(sock, first);

    const second = spawnDaemon(['--socket', sock]);
    expect(await second.exited).toBe(1);
    expect(second.stderr).toMatch(
      /a daemon already serves .*manifold\.sock \(--replace takes over from it\)/,
    );
    expect((await httpCall(sock, 'GET', '/healthz')).http).toBe(200);

    const third = spawnDaemon(['--socket', sock, '--replace']);
    for (let i = 0; i < 200 && !third.stderr.includes('serving'); i++) await sleep(25);
    // the daemon's own lines are JSON, one object per line (--log-format text for people)
    expect(JSON.parse(third.stderr.split('\n')[0] ?? '')).toMatchObject({
      level: 'info',
      plugin: 'manifold-daemon',
      pid: third.child.pid,
      msg: expect.stringMatching(/^serving /),
    });
    // the socket is now the third's: the first, ending, must not take it away
    first.child.kill('SIGTERM');
    expect(await first.exited).toBe(0);
    expect((await httpCall(sock, 'GET', '/readyz')).http).toBe(200);
    third.child.kill('SIGTERM');
    expect(await third.exited).toBe(0);
  });

  it('refuses a socket directory others can enter', async () => {
    const dir = join(tmp, 'open');
    mkdirSync(dir, { mode: 0o755 });
    chmodSync(dir, 0o755);
    const d = spawnDaemon(['--socket', join(dir, 'manifold.sock')]);
    expect(await d.exited).toBe(1);
    expect(d.stderr).toMatch(/must be owned by this user and private \(0700\), it is 755/);
  });
});

describe('SIGTERM', () => {
  const MASTER = 'dp0';
  let bin: string;
  beforeAll(() => {
    ip('link', 'add', MASTER, 'type', 'veth', 'peer', 'name', `${MASTER}p`);
    ip('link', 'set', MASTER, 'up');
    bin = join(tmp, 'bin');
    mkdirSync(bin);
    // an external IPAM that takes its time: the call is in flight when SIGTERM comes
    writeFileSync(
      join(bin, 'slowipam'),
      `#!/bin/sh
cat >/dev/null
case "$CNI_COMMAND" in
  VERSION) echo '{"cniVersion":"1.0.0","supportedVersions":["0.4.0","1.0.0"]}' ;;
  ADD) sleep 2; echo '{"cniVersion":"1.0.0","ips":[{"address":"10.88.0.5/24"}]}' ;;
  *) sleep 1 ;;
esac
`,
      { mode: 0o755 },
    );
  });

  it('drains: readyz 503, ADD refused with code 11, DEL served, the ADD in flight finishes, exit 0', async () => {
    const sock = sockPath();
    const d = spawnDaemon(['--socket', sock]);
    await serving(sock, d);
    const conf = {
      cniVersion: '1.0.0',
      name: 'slow',
      type: 'macvlan',
      master: MASTER,
      ipam: { type: 'slowipam' },
    };
    const pod = newNetns();
    const env = (verb: string, id: string) => ({
      CNI_COMMAND: verb,
      CNI_CONTAINERID: id,
      CNI_NETNS: pod.path,
      CNI_IFNAME: id === 'slow-add' ? 'net1' : 'net2',
      CNI_PATH: bin,
    });
    const inFlight = cniCall(sock, 'macvlan', env('ADD', 'slow-add'), conf);
    await sleep(400);
    d.child.kill('SIGTERM');
    await sleep(100);
    expect((await httpCall(sock, 'GET', '/readyz')).http).toBe(503);
    const add = await cniCall(sock, 'macvlan', env('ADD', 'other'), conf);
    expect(add).toMatchObject({ http: 503, code: 11 });
    expect(JSON.parse(add.json?.stdout ?? '')).toEqual({
      cniVersion: '1.0.0',
      code: 11,
      msg: 'the manifold daemon is shutting down and takes no new ADD; try again later',
    });
    const del = await cniCall(sock, 'macvlan', env('DEL', 'other'), conf);
    expect(del.http).toBe(200);
    expect(del.json).toEqual({ status: 0, stdout: '' });
    const added = await inFlight;
    expect(added.http).toBe(200);
    expect(added.json?.status).toBe(0);
    expect(JSON.parse(added.json?.stdout ?? '').ips).toEqual([{ address: '10.88.0.5/24', interface: 0 }]);
    expect(ip('-n', pod.name, '-br', 'link', 'show')).toMatch(/^net1@/m);
    expect(await d.exited).toBe(0);
    expect(d.stderr).toMatch(/SIGTERM: draining[\s\S]*drained: every call taken was answered/);
  });
});

describe('the per-connection deadline (5 s)', () => {
  it('closes a stalled connection after 5 s, while another client is served at once', async () => {
    const sock = sockPath();
    const d = spawnDaemon(['--socket', sock, '--max-concurrent', '1']);
    await serving(sock, d);
    const stalled = rawCall(sock, ['POST /cni HTTP/1.1\r\nHost: manifold\r\nContent-Length: 50\r\n\r\n{"na']);
    await sleep(100);
    const t0 = performance.now();
    const v = await cniCall(sock, 'macvlan', { CNI_COMMAND: 'VERSION' }, '{}');
    expect(v.json?.status).toBe(0);
    expect(performance.now() - t0).toBeLessThan(1000);
    const s = await stalled;
    expect(s.error).toBeUndefined();
    expect(s.closedAfterMs).toBeGreaterThanOrEqual(4900);
    expect(s.closedAfterMs).toBeLessThan(7000);
    expect((await httpCall(sock, 'GET', '/healthz')).http).toBe(200);
    expect(d.stderr).toMatch(/closed a connection that sent no complete request within 5000 ms/);
    d.child.kill('SIGTERM');
    expect(await d.exited).toBe(0);
  }, 20_000);
});

describe('manifold daemon --help', () => {
  it('its examples run (paths under /run/manifold moved to a scratch dir)', async () => {
    const dir = join(tmp, 'examples');
    const move = (a: string) => a.replace('/run/manifold', dir);
    const examples = await examplesOf('daemon');
    expect(examples.map((e) => e.program)).toEqual(['manifold', 'curl', 'curl']);
    const [daemon, ...curls] = examples;
    const d = spawnDaemon((daemon?.args ?? []).slice(1).map(move));
    await serving(join(dir, 'manifold.sock'), d);
    const outs: string[] = [];
    for (const c of curls) {
      outs.push(
        await new Promise<string>((resolve, reject) =>
          execFile('curl', ['-sS', '--fail', ...c.args.map(move)], (err, stdout) =>
            err ? reject(err) : resolve(stdout),
          ),
        ),
      );
    }
    expect(outs[0]).toBe('{"ready":true}');
    expect(outs[1]).toMatch(/^# TYPE manifold_requests_in_flight gauge$/m);
    // --metrics-port 9091: the same text on 127.0.0.1 only
    const tcp = await fetch('http://127.0.0.1:9091/metrics');
    expect(tcp.status).toBe(200);
    expect(await tcp.text()).toMatch(/^process_resident_memory_bytes \d+$/m);
    d.child.kill('SIGTERM');
    expect(await d.exited).toBe(0);
  });
});
