/**
 * A call that comes back into the daemon from inside one of its own calls: the meta-plugin
 * executes Debian's reference ptp, whose IPAM type (host-local) resolves in CNI_PATH to the
 * shim, so ptp's IPAM ADD reaches the daemon with the same container id while the meta ADD
 * still holds that container's turn. The daemon marks the environment of each call it runs
 * (MANIFOLD_DAEMON_CALL) and lets a request carrying a running call's mark through at once;
 * without that, the nested call waited behind its parent until its queue budget ran out
 * (code 11) and the pod never started.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpCall } from '../helpers/daemon.ts';
import { type DaemonProc, serving, spawnDaemon, writeShim } from '../helpers/daemon-proc.ts';
import { execCni } from '../helpers/exec-plugin.ts';
import { ipJson, isolateHost, newNetns, requireRoot } from '../helpers/host.ts';
import { REFERENCE_PLUGIN_DIR, requireReferencePlugins } from '../helpers/reference.ts';
import { scratchDir } from '../helpers/scratch.ts';

requireRoot();
isolateHost();
const tmp = scratchDir('mf-it-nested-');
const bin = join(tmp, 'bin');
const socket = join(tmp, 'run', 'manifold.sock');
const dataDir = join(tmp, 'ipam');
let daemon: DaemonProc;

beforeAll(async () => {
  requireReferencePlugins('ptp', 'host-local');
  mkdirSync(bin, { recursive: true });
  writeShim(bin, socket);
  // the node's IPAM type is the shim too: what install --mode daemon would do for a built-in
  symlinkSync('manifold', join(bin, 'host-local'));
  // a short queue budget: a nested call left waiting behind its parent fails in 3 s, not 30
  daemon = spawnDaemon(socket, ['--queue-budget-ms', '3000']);
  await serving(socket, daemon);
}, 60_000);

afterAll(() => {
  if (daemon && daemon.child.exitCode === null) daemon.child.kill('SIGKILL');
});

/** The calls the shim ran one-shot (it appends a line to fallbacks.log beside the socket for each). */
function fallbacks(): string[] {
  const log = join(tmp, 'run', 'fallbacks.log');
  return existsSync(log) ? readFileSync(log, 'utf8').split('\n').filter(Boolean) : [];
}

describe('a nested call for the same container', () => {
  it('an executed delegate whose IPAM is the shim is served beside its parent', async () => {
    const pod = newNetns();
    const conf = {
      cniVersion: '1.0.0',
      name: 'nested',
      type: 'manifold',
      cniDir: join(tmp, 'cache'),
      delegates: [{ name: 'pp', type: 'ptp', ipam: { type: 'host-local', dataDir, subnet: '10.63.0.0/24' } }],
    };
    const call = {
      containerId: 'nested1',
      netns: pod.path,
      ifname: 'eth0',
      path: [bin, REFERENCE_PLUGIN_DIR],
      timeoutMs: 20_000,
    };
    const add = await execCni(join(bin, 'manifold'), { ...call, command: 'ADD' }, conf);
    expect(add.status, add.stdout + add.stderr).toBe(0);
    expect((add.json?.ips as { address: string }[] | undefined)?.[0]?.address).toMatch(
      /^10\.63\.0\.\d+\/24$/,
    );
    expect(ipJson<{ ifname: string }[]>('-n', pod.name, 'link', 'show').map((l) => l.ifname)).toContain(
      'eth0',
    );
    // the IPAM call really went through the daemon (as a nested call), not one-shot
    expect(fallbacks()).toEqual([]);
    const metrics = await fetchMetrics();
    expect(metrics).toMatch(/manifold_request_duration_seconds_count\{verb="ADD",outcome="ok",code="0"\} 2/);
    // the meta-plugin's delegate, timed by its type
    expect(metrics).toContain(
      'manifold_delegate_duration_seconds_count{type="ptp",verb="ADD",outcome="ok"} 1\n',
    );

    const del = await execCni(join(bin, 'manifold'), { ...call, command: 'DEL' }, conf);
    expect(del.status, del.stdout + del.stderr).toBe(0);
    expect(ipJson<{ ifname: string }[]>('-n', pod.name, 'link', 'show').map((l) => l.ifname)).toEqual(['lo']);
    const left = readdirSync(dataDir).flatMap((n) =>
      readdirSync(join(dataDir, n)).filter((f) => /^\d+\.\d+/.test(f)),
    );
    expect(left).toEqual([]);
    expect(fallbacks()).toEqual([]);
  }, 60_000);
});

async function fetchMetrics(): Promise<string> {
  return (await httpCall(socket, 'GET', '/metrics')).body;
}
