/**
 * Hot-plug latency (docs/hotplug.md, issue 23's goal: visible in network-status within 1 s p99
 * of the annotation update on an idle node). The built `manifold daemon` runs with its
 * Kubernetes watches against a local HTTPS stand-in of the API server (the one the tests use);
 * one pod is made running through the daemon's socket (its ADD, as the shim forwards it), then
 * its networks annotation is set and cleared, alternately adding and removing a macvlan +
 * host-local network, and each time the bench measures from the update in the API server to
 * network-status there showing the change.
 *
 *   node bench/hotplug.ts [--rounds 60] [--manifold BINDIR]
 *
 * Nothing asserts on time: it prints the median, p90, p99 and max of each direction. Needs root
 * and `./build.sh` (dist/bin). Everything runs in bench/world.ts's throwaway namespaces; the
 * daemon is stopped with SIGTERM and every temp dir goes at the end.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cniCall, httpCall } from '../test/helpers/daemon.ts';
import { FakeApiServer } from '../test/helpers/fake-apiserver.ts';
import { makePki } from '../test/helpers/pki.ts';
import { quantile } from './stats.ts';
import { die, MF_BIN, preconditions, World } from './world.ts';

const i = process.argv.indexOf('--rounds');
const ROUNDS = Math.max(4, Number(i >= 0 ? process.argv[i + 1] : (process.env.BENCH_ROUNDS ?? 60)));
const NETWORKS = 'k8s.v1.cni.cncf.io/networks';
const STATUS = 'k8s.v1.cni.cncf.io/network-status';
const NODE_NAME = 'bench-node';

preconditions();
const pki = makePki(mkdtempSync(join(tmpdir(), 'mf-bench-pki-')));
const world = new World(0);
const api = new FakeApiServer(pki);
let daemon: ChildProcess | undefined;

const network = (subnet: string) => ({
  cniVersion: '1.0.0',
  type: 'macvlan',
  master: 'bm0',
  mode: 'bridge',
  ipam: { type: 'host-local', dataDir: join(world.work, 'ipam'), ranges: [[{ subnet }]] },
});

async function until(what: string, ok: () => boolean, ms = 10_000): Promise<void> {
  const end = performance.now() + ms;
  while (!ok()) {
    if (performance.now() > end) throw new Error(`never: ${what}`);
    await new Promise((r) => setImmediate(r));
  }
}

try {
  await api.start();
  api.tokens.add('bench-token');
  writeFileSync(join(world.work, 'token'), 'bench-token\n');
  const kubeconfig = join(world.work, 'kubeconfig');
  api.writeKubeconfig(kubeconfig, { tokenFile: join(world.work, 'token') });
  api.addNad('default', 'hot-a', network('10.210.0.0/16'));
  const cniDir = join(world.work, 'mfcache');
  const socket = join(world.work, 'd', 'manifold.sock');
  daemon = spawn(
    join(MF_BIN, 'manifold'),
    ['daemon', '--socket', socket, '--kubeconfig', kubeconfig, '--node-name', NODE_NAME, '--cni-dir', cniDir],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let log = '';
  daemon.stderr?.on('data', (b: Buffer) => {
    log += b.toString();
  });
  await until('the daemon serves', () => log.includes('serving'), 30_000);
  const name = 'hot-bench-pod';
  const uid = 'hot-bench-uid';
  const cid = `hotbench${world.suffix}`;
  api.addPod({ namespace: 'default', name, uid, nodeName: NODE_NAME });
  await new Promise((r) => setTimeout(r, 500)); // the watch has the pod
  const env = {
    CNI_COMMAND: 'ADD',
    CNI_CONTAINERID: cid,
    CNI_NETNS: `/run/netns/${world.podNs}`,
    CNI_IFNAME: 'eth0',
    CNI_PATH: MF_BIN,
    CNI_ARGS: `IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=${name};K8S_POD_INFRA_CONTAINER_ID=${cid};K8S_POD_UID=${uid}`,
  };
  const conf = {
    cniVersion: '1.0.0',
    name: 'k8s-pods',
    type: 'manifold',
    cniDir,
    delegates: [{ ...network('10.200.0.0/16'), name: 'cluster' }],
  };
  const add = await cniCall(socket, 'manifold', env, conf);
  if (add.json?.status !== 0) die(`the pod's ADD failed: ${add.body}`);
  const has = () => (api.annotation('default', name, STATUS) ?? '').includes('"hot1"');
  const samples: Record<'attach' | 'detach', number[]> = { attach: [], detach: [] };
  for (let r = 0; r < ROUNDS; r++) {
    const attach = r % 2 === 0;
    const t0 = performance.now();
    api.setPodAnnotation(
      'default',
      name,
      NETWORKS,
      attach ? '[{"name":"hot-a","interface":"hot1"}]' : undefined,
    );
    await until(`round ${r}`, () => has() === attach);
    samples[attach ? 'attach' : 'detach'].push(performance.now() - t0);
    await new Promise((res) => setTimeout(res, 50)); // idle between updates
  }
  await cniCall(socket, 'manifold', { ...env, CNI_COMMAND: 'DEL' }, conf);
  const metrics = (await httpCall(socket, 'GET', '/metrics')).body;
  const f = (ms: number) => `${ms.toFixed(1)} ms`;
  console.log(`hot-plug latency, annotation update -> network-status (${ROUNDS} updates, built daemon)`);
  for (const [k, v] of Object.entries(samples)) {
    const s = [...v].sort((a, b) => a - b);
    console.log(
      `  ${k.padEnd(7)} n=${s.length}  median ${f(quantile(s, 0.5))}  p90 ${f(quantile(s, 0.9))}  p99 ${f(quantile(s, 0.99))}  max ${f(s.at(-1) ?? 0)}`,
    );
  }
  const failures = /manifold_hotplug_failures_total\{kind="(?:transient|permanent)"\} (\d+)/g;
  const failed = [...metrics.matchAll(failures)].reduce((n, m) => n + Number(m[1]), 0);
  console.log(`  failures counted by the daemon: ${failed}`);
} finally {
  if (daemon && daemon.exitCode === null) {
    daemon.kill('SIGTERM');
    await new Promise((r) => daemon?.once('close', r));
  }
  await api.stop().catch(() => undefined);
  world.close();
  rmSync(pki.dir, { recursive: true, force: true });
}
