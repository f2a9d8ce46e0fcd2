/**
 * The daemon's server in this process, on a real unix socket: the same macvlan ADD, CHECK and
 * DEL answered byte for byte as one-shot (`node src/main.ts` as a process) prints them; the
 * scheduler as clients see it (one container in order, others at once, a budget ending in
 * code 11 at once); hostile input (oversized, malformed, not HTTP, stalled) answered with a
 * CNI error or a closed connection while others are served; the drain after SIGTERM.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CniRequest, CniResponse } from '../../src/daemon/protocol.ts';
import { callRunner, type Plugins } from '../../src/daemon/runner.ts';
import { Daemon, type DaemonOptions } from '../../src/daemon/server.ts';
import { invoker, loaderFor } from '../../src/registry.ts';
import { MANIFOLD_VERSION } from '../../src/util/version.ts';
import { cniCall, httpCall, rawCall } from '../helpers/daemon.ts';
import { execSource } from '../helpers/exec-plugin.ts';
import { ip, isolateHost, newNetns, requireRoot } from '../helpers/host.ts';
import { scratchDir } from '../helpers/scratch.ts';

requireRoot();
isolateHost();
const tmp = scratchDir('mf-it-daemon-');

(globalThis as { __manifoldNoAutorun?: boolean }).__manifoldNoAutorun = true;
const { pluginTypeFor } = await import('../../src/main.ts');
const plugins: Plugins = { typeFor: pluginTypeFor, load: loaderFor, invoker, version: MANIFOLD_VERSION };

let seq = 0;
const daemons: Daemon[] = [];
async function startDaemon(
  opts: Partial<DaemonOptions> & Pick<DaemonOptions, 'run'>,
): Promise<{ d: Daemon; sock: string }> {
  const sock = join(tmp, `d${++seq}`, 'manifold.sock');
  const d = new Daemon({ socket: sock, ...opts });
  await d.start();
  daemons.push(d);
  return { d, sock };
}
afterAll(async () => {
  for (const d of daemons) await d.close();
});

/** A runner whose calls wait until the test lets each go (by its CNI_ARGS tag). */
function gatedRunner() {
  const started: string[] = [];
  const finished: string[] = [];
  const gates = new Map<string, () => void>();
  const waiting = new Map<string, () => void>();
  const run = async (req: CniRequest): Promise<CniResponse> => {
    const tag = req.env.CNI_ARGS ?? '?';
    started.push(tag);
    waiting.get(tag)?.();
    await new Promise<void>((r) => gates.set(tag, r));
    finished.push(tag);
    return { status: 0, stdout: `{"tag":"${tag}"}\n` };
  };
  /** Resolves once `tag` has started. */
  const startedP = (tag: string) =>
    started.includes(tag) ? Promise.resolve() : new Promise<void>((r) => waiting.set(tag, r));
  const release = (tag: string) => {
    const g = gates.get(tag);
    if (!g) throw new Error(`${tag} has not started`);
    g();
  };
  return { run, started, finished, release, startedP };
}

const env = (verb: string, id: string, tag: string) => ({
  CNI_COMMAND: verb,
  CNI_CONTAINERID: id,
  CNI_NETNS: '/run/netns/x',
  CNI_IFNAME: 'eth0',
  CNI_ARGS: tag,
});
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('the same skel and plugin as one-shot', () => {
  const MASTER = 'dm0';
  beforeAll(() => {
    ip('link', 'add', MASTER, 'type', 'veth', 'peer', 'name', `${MASTER}p`);
    ip('link', 'set', MASTER, 'up');
  });

  it('macvlan + host-local ADD, CHECK, DEL: stdout and status byte for byte as one-shot prints them', async () => {
    const { sock } = await startDaemon({
      run: callRunner(plugins, { path: process.env.PATH, stderr: () => {} }),
    });
    const dataDir = join(tmp, 'ipam');
    const conf = JSON.stringify({
      cniVersion: '1.0.0',
      name: 'dmv',
      type: 'macvlan',
      master: MASTER,
      ipam: { type: 'host-local', dataDir, subnet: '10.77.0.0/24', routes: [{ dst: '0.0.0.0/0' }] },
    });
    const pod = newNetns();
    const call = {
      containerId: 'ctr-daemon-1',
      netns: pod.path,
      ifname: 'net1',
      args: 'IgnoreUnknown=1;MAC=0a:58:0a:4d:00:0a',
    };
    const envOf = (command: string) => ({
      CNI_COMMAND: command,
      CNI_CONTAINERID: call.containerId,
      CNI_NETNS: call.netns,
      CNI_IFNAME: call.ifname,
      CNI_ARGS: call.args,
    });
    const rounds: Record<string, { status: number | null; stdout: string }[]> = { oneShot: [], daemon: [] };
    for (const how of ['oneShot', 'daemon'] as const) {
      rmSync(dataDir, { recursive: true, force: true }); // host-local starts after its last reservation
      for (const verb of ['ADD', 'CHECK', 'DEL', 'DEL'] as const) {
        if (how === 'oneShot') {
          const r = await execSource('macvlan', { command: verb, ...call }, conf);
          rounds[how]?.push({ status: r.status, stdout: r.stdout });
        } else {
          const r = await cniCall(sock, 'macvlan', envOf(verb), conf);
          expect(r.http).toBe(200);
          rounds[how]?.push({ status: r.json?.status ?? null, stdout: r.json?.stdout ?? '' });
        }
        if (verb === 'ADD')
          expect(ip('-n', pod.name, '-br', 'link', 'show', 'net1')).toMatch(/0a:58:0a:4d:00:0a/);
      }
      expect(ip('-n', pod.name, '-br', 'link', 'show')).not.toMatch(/net1/);
    }
    expect(rounds.daemon).toEqual(rounds.oneShot);
    expect(rounds.daemon?.[0]?.status).toBe(0);
    expect(rounds.daemon?.[0]?.stdout).toMatch(/"address": "10\.77\.0\.2\/24"/);
    // a failure is the same CNI error JSON too
    const bad = conf.replace(MASTER, 'no-such-master');
    const one = await execSource('macvlan', { command: 'ADD', ...call }, bad);
    const d = await cniCall(sock, 'macvlan', envOf('ADD'), bad);
    expect({ status: d.json?.status, stdout: d.json?.stdout }).toEqual({
      status: one.status,
      stdout: one.stdout,
    });
    expect(d.json?.status).toBe(1);
    expect(d.json?.stdout).toMatch(/no-such-master/);
  });
});

describe('who runs when', () => {
  it('one container in arrival order, different containers at once', async () => {
    const g = gatedRunner();
    const { sock } = await startDaemon({ run: g.run });
    const a1 = cniCall(sock, 'macvlan', env('ADD', 'A', 'a1'), '{}');
    await g.startedP('a1');
    const a2 = cniCall(sock, 'macvlan', env('DEL', 'A', 'a2'), '{}');
    const b1 = cniCall(sock, 'macvlan', env('ADD', 'B', 'b1'), '{}');
    await g.startedP('b1'); // B runs while A's first call still holds A
    await sleep(100);
    expect(g.started).toEqual(['a1', 'b1']); // A's DEL waits for A's ADD
    g.release('a1');
    await g.startedP('a2');
    g.release('a2');
    g.release('b1');
    const answers = await Promise.all([a1, a2, b1]);
    expect(answers.map((a) => [a.http, a.json?.stdout])).toEqual([
      [200, '{"tag":"a1"}\n'],
      [200, '{"tag":"a2"}\n'],
      [200, '{"tag":"b1"}\n'],
    ]);
    expect(g.finished).toEqual(['a1', 'a2', 'b1']);
  });

  it('beyond --max-concurrent calls wait in FIFO; one past its budget gets 503 + code 11 at once', async () => {
    const g = gatedRunner();
    const { d, sock } = await startDaemon({ run: g.run, maxConcurrent: 2, queueBudgetMs: 300 });
    const c1 = cniCall(sock, 'macvlan', env('ADD', 'C1', 'c1'), '{"cniVersion":"0.4.0"}');
    const c2 = cniCall(sock, 'macvlan', env('ADD', 'C2', 'c2'), '{}');
    await g.startedP('c1');
    await g.startedP('c2');
    const t0 = performance.now();
    const late = await cniCall(sock, 'macvlan', env('ADD', 'C3', 'c3'), '{"cniVersion":"0.4.0"}');
    const waited = performance.now() - t0;
    expect(late.http).toBe(503);
    expect(late.json?.status).toBe(1);
    expect(JSON.parse(late.json?.stdout ?? '')).toEqual({
      cniVersion: '0.4.0',
      code: 11,
      msg: expect.stringMatching(
        /^the manifold daemon is busy: waited \d+ ms for a turn \(budget 300 ms\); try again later$/,
      ),
    });
    expect(waited).toBeGreaterThanOrEqual(290);
    expect(waited).toBeLessThan(2000); // at once: not when a slot frees (never, here)
    // STATUS has its own budget (90 ms), whatever --queue-budget-ms says
    const s0 = performance.now();
    const status = await cniCall(sock, 'macvlan', { CNI_COMMAND: 'STATUS' }, '{}');
    expect(status).toMatchObject({ http: 503, code: 11 });
    expect(performance.now() - s0).toBeLessThan(300);
    // the queue is FIFO: c4 then c5, as slots free
    const c4 = cniCall(sock, 'macvlan', env('ADD', 'C4', 'c4'), '{}');
    await sleep(20);
    const c5 = cniCall(sock, 'macvlan', env('ADD', 'C5', 'c5'), '{}');
    await sleep(50);
    expect(d.scheduler.waiting).toBe(2);
    expect(d.scheduler.running).toBe(2);
    const metrics = (await httpCall(sock, 'GET', '/metrics')).body;
    expect(metrics).toMatch(/\nmanifold_requests_in_flight 2\n/);
    expect(metrics).toMatch(/\nmanifold_queue_length 2\n/);
    g.release('c2');
    await g.startedP('c4');
    expect(g.started).toEqual(['c1', 'c2', 'c4']);
    g.release('c1');
    await g.startedP('c5');
    g.release('c4');
    g.release('c5');
    expect((await Promise.all([c1, c2, c4, c5])).map((a) => a.http)).toEqual([200, 200, 200, 200]);
    const after = (await httpCall(sock, 'GET', '/metrics')).body;
    expect(after).toMatch(
      /\nmanifold_request_duration_seconds_count\{verb="ADD",outcome="ok",code="0"\} 4\n/,
    );
    expect(after).toMatch(
      /\nmanifold_request_duration_seconds_count\{verb="ADD",outcome="error",code="11"\} 1\n/,
    );
    expect(after).toMatch(
      /\nmanifold_request_duration_seconds_count\{verb="STATUS",outcome="error",code="11"\} 1\n/,
    );
    expect(after).toMatch(/\nmanifold_queue_wait_seconds_count\{verb="ADD"\} 5\n/);
  });
});

describe('hostile input: a CNI error or a closed connection, and the daemon keeps serving', () => {
  const OK = { status: 0, stdout: 'ok\n' };
  const stillServes = async (sock: string) => {
    expect((await httpCall(sock, 'GET', '/healthz')).body).toBe('{"ok":true}');
    expect((await cniCall(sock, 'macvlan', env('ADD', 'Z', 'z'), '{}')).json).toEqual(OK);
  };
  const head = (len: number | 'chunked') =>
    `POST /cni HTTP/1.1\r\nHost: manifold\r\nContent-Type: application/json\r\n${
      len === 'chunked' ? 'Transfer-Encoding: chunked' : `Content-Length: ${len}`
    }\r\n\r\n`;

  it('a body over 4 MiB: 413 with code 6, declared or streamed', async () => {
    const { sock } = await startDaemon({ run: async () => OK });
    const declared = await rawCall(sock, [head(4 * 1024 * 1024 + 1)]);
    expect(declared.answer).toMatchObject({ http: 413, code: 6 });
    expect(JSON.parse(declared.answer?.json?.stdout ?? '').msg).toBe(
      'failed to decode request: body larger than 4194304 bytes',
    );
    const chunk = 'a'.repeat(1024 * 1024);
    const chunks = [head('chunked')];
    for (let i = 0; i < 5; i++) chunks.push(`${chunk.length.toString(16)}\r\n${chunk}\r\n`);
    const streamed = await rawCall(sock, chunks);
    expect(streamed.answer).toMatchObject({ http: 413, code: 6 });
    await stillServes(sock);
  });

  it('malformed JSON: 400 code 6; a missing or wrong field: 400 code 7 naming it; not HTTP: 400 code 6', async () => {
    const { sock } = await startDaemon({ run: async () => OK });
    const notJson = await httpCall(sock, 'POST', '/cni', '{"name": "macvlan", ');
    expect(notJson).toMatchObject({ http: 400, code: 6 });
    const noEnv = await httpCall(sock, 'POST', '/cni', JSON.stringify({ name: 'macvlan', stdin: '' }));
    expect(noEnv).toMatchObject({ http: 400, code: 7 });
    expect(JSON.parse(noEnv.json?.stdout ?? '').msg).toBe(
      'invalid request: env must be an object (got missing)',
    );
    const noStdin = await httpCall(sock, 'POST', '/cni', JSON.stringify({ name: 'macvlan', env: {} }));
    expect(JSON.parse(noStdin.json?.stdout ?? '').msg).toMatch(
      /^invalid request: stdin must be a base64 string/,
    );
    const badB64 = await httpCall(sock, 'POST', '/cni', JSON.stringify({ name: 'm', env: {}, stdin: '%%%' }));
    expect(badB64).toMatchObject({ http: 400, code: 6 });
    const garbage = await rawCall(sock, ['\x00\x01 GARBAGE \r\n\r\n']);
    expect(garbage.answer).toMatchObject({ http: 400, code: 6 });
    expect((await httpCall(sock, 'GET', '/nope')).http).toBe(404);
    await stillServes(sock);
  });

  it('a client that stalls loses its connection at the deadline and holds up no one', async () => {
    const { sock } = await startDaemon({ run: async () => OK, requestDeadlineMs: 600, maxConcurrent: 1 });
    const silent = rawCall(sock, []);
    const halfHeaders = rawCall(sock, ['POST /cni HTTP/1.1\r\nHost: man']);
    const halfBody = rawCall(sock, [`${head(100)}{"name":`]);
    await sleep(50);
    const t0 = performance.now();
    await stillServes(sock); // meanwhile, others are served at once
    expect(performance.now() - t0).toBeLessThan(400);
    for (const s of await Promise.all([silent, halfHeaders, halfBody])) {
      expect(s.error).toBeUndefined(); // closed by the daemon, not by our give-up timer
      expect(s.closedAfterMs).toBeGreaterThanOrEqual(550);
      expect(s.closedAfterMs).toBeLessThan(3000);
    }
    await stillServes(sock);
  });
});

describe('drain (what SIGTERM starts)', () => {
  it('readyz 503, new ADD/CHECK/GC get 503 + code 11, DEL and STATUS served, the call in flight finishes', async () => {
    const g = gatedRunner();
    const { d, sock } = await startDaemon({ run: g.run });
    expect((await httpCall(sock, 'GET', '/readyz')).http).toBe(200);
    const inFlight = cniCall(sock, 'macvlan', env('ADD', 'P', 'p-add'), '{}');
    await g.startedP('p-add');
    const drained = d.drain(10_000);
    let done = false;
    void drained.then(() => {
      done = true;
    });
    expect((await httpCall(sock, 'GET', '/readyz')).http).toBe(503);
    expect((await httpCall(sock, 'GET', '/healthz')).http).toBe(200);
    for (const verb of ['ADD', 'CHECK', 'GC']) {
      const r = await cniCall(sock, 'macvlan', env(verb, 'Q', `q-${verb}`), '{}');
      expect(r).toMatchObject({ http: 503, code: 11 });
    }
    const del = cniCall(sock, 'macvlan', env('DEL', 'Q', 'q-del'), '{}');
    await g.startedP('q-del');
    g.release('q-del');
    expect((await del).json).toEqual({ status: 0, stdout: '{"tag":"q-del"}\n' });
    const status = cniCall(sock, 'macvlan', { CNI_COMMAND: 'STATUS', CNI_ARGS: 'q-status' }, '{}');
    await g.startedP('q-status');
    g.release('q-status');
    expect((await status).http).toBe(200);
    await sleep(50);
    expect(done).toBe(false); // p-add is still running
    g.release('p-add');
    expect((await inFlight).json).toEqual({ status: 0, stdout: '{"tag":"p-add"}\n' });
    expect(await drained).toBe(true);
    expect(g.started).not.toContain('q-ADD');
  });

  it('a drain that runs out of time says so', async () => {
    const g = gatedRunner();
    const { d, sock } = await startDaemon({ run: g.run });
    void cniCall(sock, 'macvlan', env('ADD', 'R', 'r'), '{}').catch(() => undefined);
    await g.startedP('r');
    expect(await d.drain(200)).toBe(false);
    g.release('r');
  });
});
