/**
 * The daemon-mode shim (src/shim/shim.c) as `manifold install --mode daemon` installs it from
 * the built executable, against a stub daemon (an HTTP server on a unix socket, in this
 * process) and against no daemon at all:
 *   - the daemon's answer passes through byte for byte (stdout and exit status), a 1 MiB
 *     stdin included, and what the shim sends is the protocol's request;
 *   - 503: ADD prints the daemon's code 11, DEL runs the one-shot;
 *   - no daemon (no socket file, a stale one): the one-shot runs, with the same result as
 *     dist/bin/<type> on a real macvlan ADD/DEL, and fallbacks.log gets a line;
 *   - the daemon dies mid-request: ADD prints code 11, DEL falls back and really deletes;
 *   - STATUS with the daemon down or hung answers (its time is printed, not asserted);
 *   - an unpatched shim answers code 999; install replaces a running shim by rename (no
 *     "text file busy", the running one finishes) and goes back to one-shot;
 *   - through the real `manifold daemon`: a macvlan ADD, STATUS, DEL as one-shot prints them.
 */
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpCall } from '../helpers/daemon.ts';
import { execCni, type PluginCall } from '../helpers/exec-plugin.ts';
import { ip, ipJson, isolateHost, newNetns, requireRoot } from '../helpers/host.ts';
import { scratchDir } from '../helpers/scratch.ts';

requireRoot();
const DIST = fileURLToPath(new URL('../../dist/', import.meta.url));
const EXE = join(DIST, 'bin/manifold');
const UNPATCHED = join(DIST, 'shim/manifold-shim');
for (const f of [EXE, UNPATCHED]) {
  if (!existsSync(f)) throw new Error(`${f} is missing: run ./build.sh first (the e2e tier tests the build)`);
}
isolateHost();

const work = scratchDir('mf-e2e-shim-');
const binDir = join(work, 'bin');
const confDir = join(work, 'net.d');
const runDir = join(work, 'run');
const SOCKET = join(runDir, 'manifold.sock');
const SHIM = join(binDir, 'manifold');
const LOG = join(runDir, 'fallbacks.log');
const ENV = { MANIFOLD_NATIVE_DIR: join(work, 'native') };
const MASTER = 'em0';

/** `manifold install` from the build, as a person runs it; its report. */
function install(bin: string, ...flags: string[]): string {
  return execFileSync(EXE, ['install', '--bin-dir', bin, '--conf-dir', confDir, ...flags], {
    encoding: 'utf8',
    env: { ...ENV, PATH: process.env.PATH ?? '/usr/bin:/bin' },
  });
}

beforeAll(() => {
  mkdirSync(confDir);
  mkdirSync(runDir, { mode: 0o700 });
  writeFileSync(
    join(confDir, '10-primary.conflist'),
    JSON.stringify({ cniVersion: '1.0.0', name: 'primary', plugins: [{ type: 'bridge' }] }),
  );
  install(binDir, '--mode', 'daemon', '--socket', SOCKET);
  ip('link', 'add', MASTER, 'type', 'veth', 'peer', 'name', `${MASTER}p`);
  ip('link', 'set', MASTER, 'up');
});

// ------------------------------------------------------------------------------ stub daemon

interface Seen {
  readonly url: string | undefined;
  readonly headers: IncomingMessage['headers'];
  readonly body: { name: string; env: Record<string, string>; stdin: string };
}
type Handler = (seen: Seen, res: ServerResponse) => void;

let server: Server | undefined;
let handler: Handler = () => undefined;
const requests: Seen[] = [];

function startStub(path = SOCKET): Promise<Server> {
  rmSync(path, { force: true });
  const srv = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const seen = { url: req.url, headers: req.headers, body: JSON.parse(Buffer.concat(chunks).toString()) };
      requests.push(seen);
      handler(seen, res);
    });
  });
  return new Promise((resolve) => srv.listen(path, () => resolve(srv)));
}

async function stopStub(): Promise<void> {
  const srv = server;
  server = undefined;
  if (!srv) return;
  srv.closeAllConnections();
  await new Promise((resolve) => srv.close(resolve));
}

/** Answers with this exact body (a JSON text written by hand: its escapes are the test). */
function answer(http: number, body: string): Handler {
  return (_seen, res) => {
    res.writeHead(http, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  };
}

afterAll(stopStub);

const logLines = () => (existsSync(LOG) ? readFileSync(LOG, 'utf8').split('\n').filter(Boolean) : []);

const call = (command: PluginCall['command'], extra: Partial<PluginCall> = {}): PluginCall => ({
  command,
  containerId: 'c0ffee',
  netns: '/var/run/netns/none',
  ifname: 'net1',
  path: [binDir],
  env: ENV,
  ...extra,
});

const NET = {
  cniVersion: '1.0.0',
  name: 'shimnet',
  type: 'macvlan',
  master: MASTER,
  mode: 'bridge',
  ipam: { type: 'static', addresses: [{ address: '10.77.0.2/24' }] },
};

/** A result with the random parts (the macvlan's MAC) masked. */
const masked = (stdout: string) => stdout.replace(/"mac": "[0-9a-f:]+"/g, '"mac": "<mac>"');

// ------------------------------------------------------------------------------ with a stub

describe('the shim against a stub daemon', () => {
  beforeAll(async () => {
    server = await startStub();
  });

  it('passes stdout (every JSON escape) and the exit status through byte for byte, and sends the protocol request', async () => {
    // \" \\ \/ \b \f \n \r \t, a BMP escape, a surrogate pair, a lone surrogate (U+FFFD as Node writes it)
    const stdout = '"q" \\ / \b \f \n \r \t é 😀 \ufffd x\n';
    handler = answer(
      200,
      '{ "ignored": [1, {"a": "}"}], "status" : 1,\n "stdout": "\\"q\\" \\\\ \\/ \\b \\f \\n \\r \\t \\u00e9 \\ud83d\\ude00 \\udc00 x\\n" }',
    );
    requests.length = 0;
    const r = await execCni(SHIM, call('CHECK', { args: 'K8S_POD_NAME=p;X="y"' }), NET);
    expect(r.stdout).toBe(stdout);
    expect(r.status).toBe(1);
    const [seen] = requests;
    expect(seen?.url).toBe('/cni');
    expect(seen?.headers.host).toBe('manifold');
    expect(seen?.headers['content-type']).toBe('application/json');
    expect(seen?.body.name).toBe('manifold');
    expect(seen?.body.env).toEqual({
      CNI_COMMAND: 'CHECK',
      CNI_CONTAINERID: 'c0ffee',
      CNI_NETNS: '/var/run/netns/none',
      CNI_IFNAME: 'net1',
      CNI_ARGS: 'K8S_POD_NAME=p;X="y"',
      CNI_PATH: binDir,
      MANIFOLD_NATIVE_DIR: ENV.MANIFOLD_NATIVE_DIR,
    }); // PATH is not sent
    expect(Buffer.from(seen?.body.stdin ?? '', 'base64').toString()).toBe(JSON.stringify(NET));
  });

  it('carries a 1 MiB stdin and a 1 MiB stdout, and the name it was invoked as', async () => {
    const big = randomBytes(768 << 10).toString('base64'); // 1 MiB of text
    handler = (seen, res) => {
      const stdin = Buffer.from(seen.body.stdin, 'base64').toString();
      const body = JSON.stringify({ status: 0, stdout: `${seen.body.name} ${stdin}` });
      res.writeHead(200, { 'content-type': 'application/json' }).end(body);
    };
    const r = await execCni(SHIM, call('ADD'), big, { argv0: 'macvlan' });
    expect(r.status).toBe(0);
    expect(r.stdout.length).toBe(big.length + 'macvlan '.length);
    expect(createHash('sha256').update(r.stdout).digest('hex')).toBe(
      createHash('sha256').update(`macvlan ${big}`).digest('hex'),
    );
  });

  it('reads a chunked answer (no Content-Length) as well', async () => {
    handler = (_seen, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"status": 0, ');
      setTimeout(() => res.end('"stdout": "chunked\\n"}'), 20);
    };
    expect(await execCni(SHIM, call('CHECK'), NET)).toMatchObject({ status: 0, stdout: 'chunked\n' });
  });

  it('an answer cut short (fewer bytes than its Content-Length) is no answer: DEL falls back', async () => {
    handler = (_seen, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': 100 });
      res.write('{"status": 0, "stdout": ""}');
      setTimeout(() => res.socket?.destroy(), 20);
    };
    const r = await execCni(SHIM, call('DEL'), NET, { argv0: 'macvlan' });
    expect(r).toMatchObject({ status: 0, stdout: '' }); // the one-shot's DEL of nothing
    expect(logLines().at(-1)).toMatch(/^\d+ DEL incomplete-response$/);
  });

  it('503 for ADD: prints the daemon’s code 11 (the runtime retries); no fallback', async () => {
    const err = { cniVersion: '1.0.0', code: 11, msg: 'the manifold daemon is draining' };
    handler = answer(503, JSON.stringify({ status: 1, stdout: `${JSON.stringify(err, null, 4)}\n` }));
    const before = logLines().length;
    const r = await execCni(SHIM, call('ADD'), NET);
    expect(r.status).toBe(1);
    expect(r.json).toEqual(err);
    expect(logLines().length).toBe(before);
  });

  it('503 for DEL: runs the one-shot instead (which really answers), and says so in fallbacks.log', async () => {
    handler = answer(503, JSON.stringify({ status: 1, stdout: '{"code": 11}\n' }));
    const r = await execCni(SHIM, call('DEL'), NET, { argv0: 'macvlan' });
    expect(r).toMatchObject({ status: 0, stdout: '' }); // the one-shot's DEL of nothing
    expect(logLines().at(-1)).toMatch(/^\d+ DEL daemon-busy-503$/);
  });

  it('the daemon dies mid-request: ADD prints code 11 and does not fall back', async () => {
    handler = (_seen, res) => res.socket?.destroy();
    const before = logLines().length;
    const r = await execCni(SHIM, call('ADD'), NET);
    expect(r.status).toBe(1);
    expect(r.json).toEqual({
      cniVersion: '1.0.0',
      code: 11,
      msg: 'the manifold daemon went away during ADD; the runtime will retry',
    });
    expect(logLines().length).toBe(before);
  });

  it('the daemon dies mid-request: DEL falls back to the one-shot, which really deletes', async () => {
    const ns = newNetns('mfs');
    handler = () => undefined;
    const add = await execCni(EXE.replace(/manifold$/, 'macvlan'), call('ADD', { netns: ns.path }), NET);
    expect(add.status, add.stdout).toBe(0);
    expect(ipJson('-n', ns.name, 'link', 'show', 'dev', 'net1')).toHaveLength(1);
    handler = (_seen, res) => res.socket?.destroy();
    const del = await execCni(SHIM, call('DEL', { netns: ns.path }), NET, { argv0: 'macvlan' });
    expect(del).toMatchObject({ status: 0, stdout: '' });
    expect(ip('-n', ns.name, '-o', 'link', 'show')).not.toContain('net1');
    expect(logLines().at(-1)).toMatch(/^\d+ DEL daemon-gone$/);
  });

  it('STATUS with a daemon that does not answer: the one-shot answers after the 90 ms deadline', async () => {
    handler = () => undefined; // holds the request
    const want = await execCni(EXE.replace(/manifold$/, 'macvlan'), call('STATUS'), NET);
    const r = await execCni(SHIM, call('STATUS'), NET, { argv0: 'macvlan' });
    expect({ status: r.status, stdout: r.stdout }).toEqual({ status: want.status, stdout: want.stdout });
    expect(logLines().at(-1)).toMatch(/^\d+ STATUS deadline$/);
    console.log(`STATUS, daemon hung: ${r.ms.toFixed(1)} ms (one-shot alone ${want.ms.toFixed(1)} ms)`);
    await stopStub();
  });
});

// ------------------------------------------------------------------------------ no daemon

describe.each([
  ['no socket file', () => rmSync(SOCKET, { force: true }), 'no-socket'],
  [
    'a stale socket file nobody listens on',
    () => {
      rmSync(SOCKET, { force: true });
      // a process that binds the socket and dies leaves the file
      spawnSync(process.execPath, [
        '-e',
        `require('net').createServer().listen(${JSON.stringify(SOCKET)}, () => process.kill(process.pid, 'SIGKILL'))`,
      ]);
      if (!statSync(SOCKET).isSocket()) throw new Error('no stale socket');
    },
    'refused',
  ],
] as const)('no daemon (%s)', (_what, setUp, reason) => {
  beforeAll(async () => {
    await stopStub();
    setUp();
  });

  it('a real macvlan ADD and DEL through the shim: exactly what dist/bin/macvlan prints; fallbacks.log says why', async () => {
    const ns = newNetns('mfs');
    const before = logLines().length;
    const viaShim = await execCni(SHIM, call('ADD', { netns: ns.path }), NET, { argv0: 'macvlan' });
    expect(viaShim.status, viaShim.stdout).toBe(0);
    expect(ipJson('-n', ns.name, 'addr', 'show', 'dev', 'net1')[0]).toMatchObject({
      addr_info: [{ local: '10.77.0.2' }],
    });
    const delShim = await execCni(SHIM, call('DEL', { netns: ns.path }), NET, { argv0: 'macvlan' });
    expect(delShim).toMatchObject({ status: 0, stdout: '' });
    expect(ip('-n', ns.name, '-o', 'link', 'show')).not.toContain('net1');
    expect(logLines().slice(before)).toEqual([
      expect.stringMatching(new RegExp(`^\\d+ ADD ${reason}$`)),
      expect.stringMatching(new RegExp(`^\\d+ DEL ${reason}$`)),
    ]);
    expect(statSync(LOG).mode & 0o777).toBe(0o600);
    // the same calls by the executable itself
    const direct = await execCni(EXE.replace(/manifold$/, 'macvlan'), call('ADD', { netns: ns.path }), NET);
    const delDirect = await execCni(
      EXE.replace(/manifold$/, 'macvlan'),
      call('DEL', { netns: ns.path }),
      NET,
    );
    expect(masked(viaShim.stdout)).toBe(masked(direct.stdout));
    expect({ status: delShim.status, stdout: delShim.stdout }).toEqual({
      status: delDirect.status,
      stdout: delDirect.stdout,
    });
  });

  it('STATUS answers as the one-shot does (its time printed, not asserted)', async () => {
    const want = await execCni(EXE.replace(/manifold$/, 'macvlan'), call('STATUS'), NET);
    const times: number[] = [];
    for (let i = 0; i < 5; i++) {
      const r = await execCni(SHIM, call('STATUS'), NET, { argv0: 'macvlan' });
      expect({ status: r.status, stdout: r.stdout }).toEqual({ status: want.status, stdout: want.stdout });
      times.push(r.ms);
    }
    times.sort((a, b) => a - b);
    console.log(`STATUS, daemon down (${reason}): median ${times[2]?.toFixed(1)} ms of 5`);
  });
});

// ------------------------------------------------------------------------------ install

describe('the shim as installed', () => {
  it('unpatched, it answers code 999 in the config’s cniVersion', async () => {
    const r = await execCni(UNPATCHED, call('ADD'), { ...NET, cniVersion: '0.4.0' });
    expect(r.status).toBe(1);
    expect(r.json).toEqual({
      cniVersion: '0.4.0',
      code: 999,
      msg: 'shim not configured: run manifold install --mode daemon',
    });
  });

  it('install replaces a running shim by rename (no "text file busy", the running one finishes), then goes back to one-shot', async () => {
    const bin = join(work, 'bin2');
    const sock = join(runDir, 'other.sock');
    install(bin, '--mode', 'daemon', '--socket', sock);
    const shim = join(bin, 'manifold');
    const inode = statSync(shim).ino;
    let release: () => void = () => undefined;
    handler = (_seen, res) => {
      release = () => answer(200, '{"status": 0, "stdout": "old shim\\n"}')(_seen, res);
    };
    server = await startStub(sock);
    const got = new Promise<void>((resolve) => {
      const h = handler;
      handler = (seen, res) => {
        h(seen, res);
        resolve();
      };
    });
    const running = execCni(shim, call('ADD'), NET);
    await got; // the shim is running, waiting for its answer
    const report = install(bin, '--mode', 'daemon', '--socket', join(runDir, 'third.sock'));
    expect(report).toContain(`shim: ${shim} for the daemon at ${join(runDir, 'third.sock')}`);
    expect(statSync(shim).ino).not.toBe(inode);
    release();
    expect(await running).toMatchObject({ status: 0, stdout: 'old shim\n' });
    await stopStub();

    // back to one-shot while a shim of daemon mode still waits on its daemon (a DEL): when
    // that daemon goes away, the shim falls back to manifold-oneshot, which must still run
    // (it was removed, and the fallback answered code 999)
    const fourth = join(runDir, 'fourth.sock');
    install(bin, '--mode', 'daemon', '--socket', fourth);
    let drop: () => void = () => undefined;
    const held = new Promise<void>((resolve) => {
      handler = (_seen, res) => {
        drop = () => res.socket?.destroy();
        resolve();
      };
    });
    server = await startStub(fourth);
    const waiting = execCni(join(bin, 'manifold'), call('DEL', { path: [bin] }), NET, { argv0: 'macvlan' });
    await held;
    const back = install(bin);
    expect(back).toContain(
      `binary: ${join(bin, 'manifold-oneshot')} (now a link to manifold: one-shot mode)`,
    );
    drop();
    const fellBack = await waiting;
    expect(fellBack.status, fellBack.stdout).toBe(0);
    await stopStub();
    // manifold is the executable again; manifold-oneshot is a link to it
    expect(readFileSync(shim).equals(readFileSync(EXE))).toBe(true);
    expect(readlinkSync(join(bin, 'manifold-oneshot'))).toBe('manifold');
    const spawned = spawn(shim, ['--version'], { stdio: 'ignore' });
    expect(await new Promise((r) => spawned.on('close', r))).toBe(0);
  });
});

// ------------------------------------------------------------------------------ the real daemon

describe('the shim through the real `manifold daemon`', () => {
  let daemon: ChildProcess | undefined;
  let daemonErr = '';
  beforeAll(async () => {
    await stopStub();
    daemon = spawn(EXE, ['daemon', '--socket', SOCKET], {
      env: { ...ENV, PATH: process.env.PATH ?? '/usr/bin:/bin' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    daemon.stderr?.on('data', (b: Buffer) => {
      daemonErr += b.toString();
    });
    for (let i = 0; i < 400; i++) {
      try {
        if ((await httpCall(SOCKET, 'GET', '/readyz')).http === 200) return;
      } catch {
        // not yet
      }
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error(`the daemon did not start: ${daemonErr}`);
  });
  afterAll(async () => {
    if (!daemon || daemon.exitCode !== null) return;
    const exited = new Promise((r) => daemon?.on('exit', r));
    daemon.kill('SIGTERM');
    await exited;
  });

  it('a real macvlan ADD, STATUS and DEL: what the one-shot prints, and no fallback', async () => {
    const ns = newNetns('mfs');
    const before = logLines().length;
    const add = await execCni(SHIM, call('ADD', { netns: ns.path }), NET, { argv0: 'macvlan' });
    expect(add.status, add.stdout).toBe(0);
    expect(ipJson('-n', ns.name, 'addr', 'show', 'dev', 'net1')[0]).toMatchObject({
      addr_info: [{ local: '10.77.0.2' }],
    });
    const status = await execCni(SHIM, call('STATUS'), NET, { argv0: 'macvlan' });
    const del = await execCni(SHIM, call('DEL', { netns: ns.path }), NET, { argv0: 'macvlan' });
    expect(del).toMatchObject({ status: 0, stdout: '' });
    expect(ip('-n', ns.name, '-o', 'link', 'show')).not.toContain('net1');
    expect(logLines().length, daemonErr).toBe(before); // the daemon answered every call
    const exe = EXE.replace(/manifold$/, 'macvlan');
    const direct = await execCni(exe, call('ADD', { netns: ns.path }), NET);
    const directStatus = await execCni(exe, call('STATUS'), NET);
    await execCni(exe, call('DEL', { netns: ns.path }), NET);
    expect(masked(add.stdout)).toBe(masked(direct.stdout));
    expect({ status: status.status, stdout: status.stdout }).toEqual({
      status: directStatus.status,
      stdout: directStatus.stdout,
    });
    console.log(
      `through the daemon: ADD ${add.ms.toFixed(1)} ms, STATUS ${status.ms.toFixed(1)} ms, DEL ${del.ms.toFixed(1)} ms; one-shot ADD ${direct.ms.toFixed(1)} ms, STATUS ${directStatus.ms.toFixed(1)} ms`,
    );
  });
});
