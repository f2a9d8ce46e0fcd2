/**
 * containerd as the judge of manifold (issue 20): a real container runtime (Debian's
 * containerd 1.6 and runc) asked over CRI, as kubelet asks it, to run, stop and remove pod
 * sandboxes on a node where `manifold install` wrapped the node's primary network (Debian's
 * reference bridge + host-local, portmap, bandwidth). containerd chooses the config, reloads
 * it, builds CNI_ARGS and the capability args, makes the netns and handles failures with its
 * own go-cni; every assertion reads the real outcome: the pod's interfaces, addresses, MACs
 * and routes in its netns, the host side, the IPAM stores, manifold's cache, libcni's cache,
 * iptables/nftables, network-status and events on the API stand-in, and containerd's own view
 * (PodSandboxStatus, ListPodSandbox, Status).
 *
 * Runs alone (vitest project `runtime`, fileParallelism off): test/run-all.sh's runtime tier.
 * The same file again in daemon mode (vitest project `runtime-daemon`, MANIFOLD_MODE=daemon,
 * tier runtime-daemon): `install --mode daemon` and a `manifold daemon` beside containerd
 * (node.ts), every call of containerd's through the shim; after every test no call may have
 * fallen back, and at the end the daemon must have served them and exit 0 on SIGTERM.
 * Hot-plug (docs/hotplug.md) is tested here in daemon mode only (one-shot has none): the
 * daemon is restarted with watches (--kubeconfig to the stand-in, --node-name) for that test
 * alone, and without them after it, rather than run with watches throughout: with watches a
 * call reads NADs and pods from the daemon's watch cache, so the other tests (the API server
 * down, above all) would stop testing what they say; and the restart is itself what a node does.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { isolateHost } from '../helpers/host.ts';
import { MODE } from '../helpers/mode.ts';
import {
  DATA_MASTER,
  inNetns,
  Node,
  PRIMARY_FILE,
  PRIMARY_NAME,
  PRIMARY_SUBNET,
  type RunningPod,
  WRAPPER_NAME,
  withApiDown,
} from './node.ts';

const node = new Node(isolateHost());
const NETWORKS = 'k8s.v1.cni.cncf.io/networks';
const STATUS = 'k8s.v1.cni.cncf.io/network-status';
const SIDE_IP = '10.71.0.77/24';
const SIDE_MAC = '02:00:0a:47:00:4d';
/** Two NADs in the JSON form, the second with an interface name, a static IP and a MAC. */
const TWO_NADS = [
  { name: 'data' },
  { name: 'side', namespace: 'default', interface: 'side0', ips: [SIDE_IP], mac: SIDE_MAC },
];
/** The same with another static IP and MAC. */
const TWO_NADS_B = [
  { name: 'data' },
  { name: 'side', interface: 'side0', ips: ['10.71.0.78/24'], mac: '02:00:0a:47:00:4e' },
];

beforeAll(() => node.setUp(), 120_000);
// a failed test leaves no sandbox for the next one to trip over
afterEach(() => node.removeAll(), 60_000);
if (MODE === 'daemon') {
  afterEach(() => {
    expect(
      node.fallbacks(),
      'calls the shim ran one-shot (fallbacks.log): the daemon must serve them all',
    ).toEqual([]);
  });
}
afterAll(async () => {
  node.printTimings();
  try {
    if (MODE === 'daemon') {
      const served = await node.served();
      const { code, stderr } = await node.stopDaemon();
      console.log(`daemon mode: ${served} calls served by the daemon, ${node.fallbacks().length} fell back`);
      expect(code, `manifold daemon exited ${code} after SIGTERM: ${stderr}`).toBe(0);
      expect(served).toBeGreaterThan(0);
      expect(node.fallbacks()).toEqual([]);
    }
  } finally {
    await node.tearDown();
  }
}, 120_000);

const empty = {
  reservations: [],
  manifoldCache: [],
  libcniCache: [],
  deviceInfo: [],
  hostLinks: [],
  netns: [],
  rules: [],
  sandboxes: [],
};

async function expectNothingLeft(): Promise<void> {
  expect(await node.leftoversWithSandboxes()).toEqual(empty);
}

/** The pod's interfaces by name: [mac, addresses]. */
function interfaces(pod: RunningPod): Record<string, { mac: string; ips: string[] }> {
  return Object.fromEntries(
    node.podLinks(pod).map((l) => [
      l.ifname,
      {
        mac: l.address,
        ips: l.addr_info.filter((a) => a.family === 'inet').map((a) => `${a.local}/${a.prefixlen}`),
      },
    ]),
  );
}

/** Host-side veths of pods (the node's own macvlan master pair left out). */
function podVeths(): { ifname: string; master?: string }[] {
  return node
    .hostLinks()
    .filter((l) => l.linkinfo?.info_kind === 'veth' && !l.ifname.startsWith(DATA_MASTER));
}

function eventsOf(pod: string): { type: string; reason: string; message: string }[] {
  return node.api.events.filter(
    (e) => (e as { involvedObject?: { name?: string } }).involvedObject?.name === pod,
  ) as unknown as { type: string; reason: string; message: string }[];
}

function networkStatus(
  name: string,
): { name: string; interface: string; ips: string[]; mac: string; default?: boolean }[] {
  return JSON.parse(node.api.annotation('default', name, STATUS) ?? '[]');
}

describe('install, as on a node', () => {
  it('containerd runs the primary; manifold install wraps it and containerd reloads it without a restart', async () => {
    const pid = node.containerd.pid;
    await node.loaded(PRIMARY_NAME);
    expect((await node.containerd.cri.networkReady())?.status).toBe(true);

    const out = node.install();
    if (MODE === 'daemon') {
      // the shim where containerd runs manifold, the executable beside it as its fallback
      expect(out).toContain(`binary: ${node.binDir}/manifold-oneshot (installed)`);
      expect(out).toContain(`shim: ${node.binDir}/manifold for the daemon at ${node.socket}`);
    } else expect(out).toContain(`${node.binDir}/manifold (installed)`);
    const ms = await node.loaded(WRAPPER_NAME);
    console.log(`containerd loaded manifold's config ${ms.toFixed(0)} ms after install`);
    expect(node.containerd.pid).toBe(pid);
    expect(await node.containerd.cri.networkReady()).toMatchObject({ status: true });
    // exactly loopback and manifold's wrapper: the primary file is not read any more
    expect(await node.containerd.cri.loadedNetworks()).toEqual(['cni-loopback', WRAPPER_NAME]);
  });
});

describe('pods', () => {
  it('a pod with no networks annotation gets eth0 only', async () => {
    const pod = await node.runPod('plain');
    const ifs = interfaces(pod);
    expect(Object.keys(ifs)).toEqual(['eth0']);
    const ip = ifs.eth0?.ips[0] ?? '';
    expect(ip).toMatch(new RegExp(`^${PRIMARY_SUBNET.replaceAll('.', '\\.')}\\.\\d+/24$`));
    expect(node.podRoutes(pod, 'default')).toMatchObject([
      { dst: 'default', gateway: `${PRIMARY_SUBNET}.1`, dev: 'eth0' },
    ]);
    // containerd's view
    const status = await node.containerd.cri.podSandboxStatus(pod.id);
    expect(status.state).toBe('SANDBOX_READY');
    expect(status.ips).toEqual([ip.split('/')[0]]);
    // the host side: the pod's veth on the node's bridge
    const veths = podVeths();
    expect(veths.map((l) => l.master)).toEqual(['cni0']);
    expect(node.reservations()).toEqual([`${PRIMARY_NAME}/${ip.split('/')[0]}`]);
    expect(node.reservationOwner(`${PRIMARY_NAME}/${ip.split('/')[0]}`)).toBe(pod.id);
    // network-status: the primary only
    expect(networkStatus('plain').map((s) => [s.name, s.interface, s.ips, s.mac, s.default])).toEqual([
      [PRIMARY_NAME, 'eth0', [ip.split('/')[0]], ifs.eth0?.mac, true],
    ]);
    await node.stopAndRemove(pod);
    await expectNothingLeft();
  });

  it('a pod with two NADs (JSON form; one with interface, static IP and MAC): three interfaces, network-status, events', async () => {
    const pod = await node.runPod('two', { networks: TWO_NADS });
    const ifs = interfaces(pod);
    expect(Object.keys(ifs).sort()).toEqual(['eth0', 'net1', 'side0']);
    const eth0 = ifs.eth0?.ips[0]?.split('/')[0] ?? '';
    const net1 = ifs.net1?.ips[0]?.split('/')[0] ?? '';
    expect(eth0).toMatch(/^10\.88\.0\.\d+$/);
    expect(ifs.net1?.ips).toEqual([expect.stringMatching(/^10\.70\.0\.\d+\/24$/)]);
    expect(ifs.side0).toEqual({ mac: SIDE_MAC, ips: [SIDE_IP] });
    // kinds: net1 a macvlan of the node's mfdata0, side0 a veth on br-side
    const links = inNetns<{ ifname: string; linkinfo?: { info_kind?: string } }[]>(
      pod.netns,
      '-d',
      'link',
      'show',
    );
    expect(Object.fromEntries(links.map((l) => [l.ifname, l.linkinfo?.info_kind ?? '']))).toMatchObject({
      eth0: 'veth',
      net1: 'macvlan',
      side0: 'veth',
    });
    // one default route, the primary's; each NAD's subnet on its interface
    expect(node.podRoutes(pod, 'default')).toMatchObject([{ gateway: '10.88.0.1', dev: 'eth0' }]);
    const routes = node.podRoutes(pod).map((r) => `${r.dst} ${r.dev}`);
    expect(routes).toEqual(expect.arrayContaining(['10.70.0.0/24 net1', '10.71.0.0/24 side0']));
    // the host side: one veth on cni0, one on br-side
    expect(
      podVeths()
        .map((l) => l.master)
        .sort(),
    ).toEqual(['br-side', 'cni0']);
    // both IPAM stores hold the pod's addresses under its sandbox id
    const reserved = node.reservations();
    expect(reserved).toEqual([`${PRIMARY_NAME}/${eth0}`, `data/${net1}`, 'side/10.71.0.77']);
    for (const r of reserved) expect(node.reservationOwner(r)).toBe(pod.id);
    expect(node.files('varLib', 'cni/manifold').length).toBeGreaterThan(0);
    // containerd's own view: eth0's address, and the merged result it got
    const st = await node.containerd.cri.podSandboxStatus(pod.id);
    expect(st.ips).toEqual([eth0]);
    const cniResult = JSON.parse(st.info.info ?? '{}').cniResult as {
      Interfaces: Record<string, { IPConfigs: { IP: string }[] | null; Mac: string }>;
    };
    expect(cniResult.Interfaces.eth0?.IPConfigs?.map((c) => c.IP)).toEqual([eth0]);
    expect(cniResult.Interfaces.side0).toMatchObject({ Mac: SIDE_MAC, IPConfigs: [{ IP: '10.71.0.77' }] });
    expect(cniResult.Interfaces.net1?.IPConfigs?.map((c) => c.IP)).toEqual([net1]);
    // network-status lists all three, the primary as default
    expect(networkStatus('two').map((s) => [s.name, s.interface, s.ips, s.mac, s.default ?? false])).toEqual([
      [PRIMARY_NAME, 'eth0', [eth0], ifs.eth0?.mac, true],
      ['default/data', 'net1', [net1], ifs.net1?.mac, false],
      ['default/side', 'side0', ['10.71.0.77'], SIDE_MAC, false],
    ]);
    // events: AddedInterface per attachment, in Multus's words
    expect(
      eventsOf('two')
        .map((e) => [e.type, e.reason, e.message])
        .sort(),
    ).toEqual(
      [
        ['Normal', 'AddedInterface', `Add eth0 [${eth0}/24] from ${PRIMARY_NAME}`],
        ['Normal', 'AddedInterface', `Add net1 [${net1}/24] from default/data`],
        ['Normal', 'AddedInterface', `Add side0 [${SIDE_IP}] from default/side`],
      ].sort(),
    );
    // StopPodSandbox: the pod's interfaces go and the addresses are released at once
    await node.stopPod(pod);
    expect(node.reservations()).toEqual([]);
    expect(podVeths()).toEqual([]);
    await node.removePod(pod);
    await expectNothingLeft();
  });

  it('the capability args containerd passes reach manifold and its delegates: pod annotations, portMappings, bandwidth, dns (containerd 1.6 sends no cgroupPath)', async () => {
    const annotations = {
      'kubernetes.io/ingress-bandwidth': '2M',
      'kubernetes.io/egress-bandwidth': '3M',
      'example.com/owner': 'team-a',
    };
    const pod = await node.runPod('caps', {
      networks: 'data',
      annotations,
      portMappings: [{ containerPort: 80, hostPort: 18080, protocol: 'TCP' }],
      dns: { servers: ['10.96.0.10'], searches: ['default.svc.cluster.local'], options: ['ndots:5'] },
    });
    const eth0 = interfaces(pod).eth0?.ips[0]?.split('/')[0] ?? '';
    // the recording delegates: the master's (chained in the primary) and the NAD's
    const master = node.record('ADD', pod.id, 'eth0');
    const nad = node.record('ADD', pod.id, 'net1');
    for (const rec of [master, nad]) {
      expect(rec.env.CNI_ARGS?.split(';')).toEqual(
        expect.arrayContaining([
          'K8S_POD_NAMESPACE=default',
          'K8S_POD_NAME=caps',
          `K8S_POD_INFRA_CONTAINER_ID=${pod.id}`,
          'K8S_POD_UID=uid-caps',
        ]),
      );
    }
    const mrc = master.config.runtimeConfig as Record<string, unknown>;
    const nrc = nad.config.runtimeConfig as Record<string, unknown>;
    console.log(
      `runtimeConfig of the master's delegate: ${JSON.stringify(mrc)}\nruntimeConfig of the NAD's delegate: ${JSON.stringify(nrc)}`,
    );
    const podAnnotations = { ...annotations, [NETWORKS]: 'data' };
    // what containerd 1.6 passes, all of it to the master: the pod's annotations,
    // portMappings, bandwidth (from the annotations), dns
    // (in go-cni's field names: Go structs without JSON tags, which Go plugins read
    // case-insensitively; manifold hands them on as they came)
    expect(mrc).toEqual({
      'io.kubernetes.cri.pod-annotations': podAnnotations,
      portMappings: [{ HostPort: 18080, ContainerPort: 80, Protocol: 'tcp', HostIP: '' }],
      bandwidth: {
        IngressRate: 2_000_000,
        IngressBurst: 4294967295,
        EgressRate: 3_000_000,
        EgressBurst: 4294967295,
      },
      dns: { Servers: ['10.96.0.10'], Searches: ['default.svc.cluster.local'], Options: ['ndots:5'] },
    });
    // to a NAD's delegates only what is about the whole pod (cgroupPath too, were it passed:
    // containerd 1.6 does not)
    expect(nrc).toEqual({ 'io.kubernetes.cri.pod-annotations': podAnnotations });
    // the primary's own delegates (the reference portmap and bandwidth) got theirs from containerd
    const nat = spawnSync('iptables-save', ['-t', 'nat'], { encoding: 'utf8' }).stdout;
    expect(nat).toMatch(
      new RegExp(`--dport 18080 .*-j DNAT --to-destination ${eth0.replaceAll('.', '\\.')}:80`),
    );
    const [veth] = podVeths();
    const qdisc = spawnSync('tc', ['qdisc', 'show', 'dev', veth?.ifname ?? '?'], { encoding: 'utf8' }).stdout;
    expect(qdisc).toMatch(/tbf .*rate 2Mbit/);
    const ifb = node.hostLinks().filter((l) => l.linkinfo?.info_kind === 'ifb');
    expect(ifb.length).toBe(1);
    const ifbQdisc = spawnSync('tc', ['qdisc', 'show', 'dev', ifb[0]?.ifname ?? '?'], {
      encoding: 'utf8',
    }).stdout;
    expect(ifbQdisc).toMatch(/tbf .*rate 3Mbit/);
    await node.stopAndRemove(pod);
    expect(spawnSync('iptables-save', ['-t', 'nat'], { encoding: 'utf8' }).stdout).not.toContain('18080');
    await expectNothingLeft();
  });
});

// skipped one-shot: one-shot has no hot-plug, nobody watches the annotation (docs/hotplug.md)
describe('hot-plug (daemon mode only: one-shot has no hot-plug)', () => {
  /** Polls `ok` every 100 ms, for 20 s at most; the daemon's last words if it never holds. */
  async function until(what: string, ok: () => boolean): Promise<void> {
    const t0 = Date.now();
    while (!ok()) {
      if (Date.now() - t0 > 20_000) throw new Error(`never within 20 s: ${what}\n${node.daemonLog()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  it.skipIf(MODE !== 'daemon')(
    "a hot-plug into a containerd sandbox: the networks annotation gains a NAD and loses it, the sandbox's netns follows",
    async () => {
      // this test only: the daemon with its watches, on the pods of this node
      await node.restartDaemon({ watches: true });
      try {
        const pod = await node.runPod('hot');
        expect(Object.keys(interfaces(pod))).toEqual(['eth0']);
        const eth0 = interfaces(pod).eth0?.ips[0]?.split('/')[0] ?? '';

        // the annotation gains "data" (macvlan of mfdata0, host-local 10.70.0.0/24)
        node.api.setPodAnnotation('default', 'hot', NETWORKS, 'data');
        await until('network-status shows default/data', () =>
          networkStatus('hot').some((s) => s.name === 'default/data'),
        );
        const added = networkStatus('hot').find((s) => s.name === 'default/data');
        expect(added?.interface).toBe('net1');
        expect(added?.ips).toEqual([expect.stringMatching(/^10\.70\.0\.\d+$/)]);
        const net1 = added?.ips[0] ?? '';
        // the interface really is in the netns containerd reports for the sandbox
        expect(pod.netns).toBe(await node.containerd.netnsOf(pod.id));
        const ifs = interfaces(pod);
        expect(Object.keys(ifs).sort()).toEqual(['eth0', 'net1']);
        expect(ifs.net1).toEqual({ mac: added?.mac, ips: [`${net1}/24`] });
        const kinds = inNetns<{ ifname: string; linkinfo?: { info_kind?: string } }[]>(
          pod.netns,
          '-d',
          'link',
          'show',
        );
        expect(kinds.find((l) => l.ifname === 'net1')?.linkinfo?.info_kind).toBe('macvlan');
        expect(node.reservations()).toEqual([`${PRIMARY_NAME}/${eth0}`, `data/${net1}`]);
        expect(node.reservationOwner(`data/${net1}`)).toBe(pod.id);
        // eth0 untouched, as network-status says
        expect(networkStatus('hot')[0]).toMatchObject({ name: PRIMARY_NAME, interface: 'eth0', ips: [eth0] });
        // (the event is posted after network-status is written)
        await until(`the AddedInterface event for net1 [${net1}/24]`, () =>
          eventsOf('hot').some(
            (e) =>
              e.type === 'Normal' &&
              e.reason === 'AddedInterface' &&
              e.message === `Add net1 [${net1}/24] from default/data`,
          ),
        );

        // the annotation loses it: the interface goes, the address is released
        node.api.setPodAnnotation('default', 'hot', NETWORKS, undefined);
        await until('network-status without default/data', () =>
          networkStatus('hot').every((s) => s.name !== 'default/data'),
        );
        expect(Object.keys(interfaces(pod))).toEqual(['eth0']);
        expect(node.reservations()).toEqual([`${PRIMARY_NAME}/${eth0}`]);
        expect(networkStatus('hot').map((s) => [s.name, s.interface])).toEqual([[PRIMARY_NAME, 'eth0']]);
        await until(`the RemovedInterface event for net1 [${net1}/24]`, () =>
          eventsOf('hot').some(
            (e) =>
              e.type === 'Normal' &&
              e.reason === 'RemovedInterface' &&
              e.message === `Remove net1 [${net1}/24] from default/data`,
          ),
        );

        await node.stopAndRemove(pod);
        await expectNothingLeft();
      } finally {
        // the tests after this one: the daemon as setUp started it, without watches
        await node.removeAll();
        await node.restartDaemon({ watches: false });
      }
    },
    120_000,
  );
});

describe('failures', () => {
  it("API server unreachable: RunPodSandbox fails with manifold's message, nothing is left", async () => {
    const err = await withApiDown(node.api, () =>
      node.runPod('offline', { networks: 'data' }).then(
        () => undefined,
        (e: Error) => e,
      ),
    );
    expect(err).toBeInstanceOf(Error);
    console.log(`containerd's error (API down): ${err?.message}`);
    expect(err?.message).toMatch(
      /plugin type="manifold" failed \(add\): failed to read NetworkAttachmentDefinition default\/data: the API server https:\/\/127\.0\.0\.1:\d+ did not answer/,
    );
    expect(err?.message).toMatch(
      /the pod is not attached without the networks it asks for; the runtime will try again/,
    );
    await expectNothingLeft();
  });

  it('a NAD that does not exist: RunPodSandbox fails naming it, a Warning event, nothing is left', async () => {
    const err = await node.runPod('lost', { networks: 'data,nope' }).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(err).toBeInstanceOf(Error);
    console.log(`containerd's error (missing NAD): ${err?.message}`);
    expect(err?.message).toMatch(/default\/nope/);
    expect(eventsOf('lost').map((e) => [e.type, e.reason])).toEqual([['Warning', 'NoNetworkFound']]);
    await expectNothingLeft();
  });
});

describe('a node under load and change', () => {
  it('several pods at once: distinct addresses, all removed cleanly', async () => {
    const names = ['many0', 'many1', 'many2', 'many3'];
    const pods = await Promise.all(names.map((n, i) => node.runPod(n, i % 2 ? { networks: 'data' } : {})));
    const addrs = pods.map((p) => interfaces(p));
    const eth0s = addrs.map((a) => a.eth0?.ips[0]);
    expect(new Set(eth0s).size).toBe(4);
    const net1s = addrs.flatMap((a) => a.net1?.ips ?? []);
    expect(net1s.length).toBe(2);
    expect(new Set(net1s).size).toBe(2);
    expect(node.reservations().length).toBe(6);
    await Promise.all(pods.map((p) => node.stopAndRemove(p)));
    await expectNothingLeft();
  });

  it('containerd killed and restarted while pods run: their sandboxes stop and go cleanly', async () => {
    const a = await node.runPod('crash1', { networks: TWO_NADS });
    const b = await node.runPod('crash2');
    const before = node.containerd.pid;
    await node.containerd.stop('SIGKILL');
    await node.containerd.start();
    expect(node.containerd.pid).not.toBe(before);
    await node.loaded(WRAPPER_NAME);
    const listed = await node.containerd.cri.listPodSandbox();
    expect(listed.map((s) => [s.name, s.state]).sort()).toEqual([
      ['crash1', 'SANDBOX_READY'],
      ['crash2', 'SANDBOX_READY'],
    ]);
    expect(Object.keys(interfaces(a)).sort()).toEqual(['eth0', 'net1', 'side0']);
    await node.stopAndRemove(a);
    await node.stopAndRemove(b);
    await expectNothingLeft();
  });

  it("manifold uninstalled and installed again while pods run: each side removes the other side's pods", async () => {
    const before = await node.runPod('before', { networks: TWO_NADS });
    expect(Object.keys(interfaces(before)).sort()).toEqual(['eth0', 'net1', 'side0']);

    node.uninstall();
    await node.loaded(PRIMARY_NAME);
    const between = await node.runPod('between', { networks: TWO_NADS_B });
    // the primary alone: eth0 only, and nobody writes network-status
    expect(Object.keys(interfaces(between))).toEqual(['eth0']);
    expect(node.api.annotation('default', 'between', STATUS)).toBeUndefined();
    // a pod made through manifold, removed by the primary (the reference) directly
    await node.stopAndRemove(before);
    const stranded = node.reservations().filter((r) => node.reservationOwner(r) === before.id);
    // documented: the NAD attachments of a pod deleted while manifold is absent stay
    // reserved (no one could release them); the primary's address and rules do not
    expect(stranded.map((r) => r.split('/')[0])).toEqual(['data', 'side']);
    expect(node.rules().filter((l) => l.includes(before.id))).toEqual([]);

    node.install();
    await node.loaded(WRAPPER_NAME);
    // (TWO_NADS' static 10.71.0.77 is still held by the stranded reservation of 'before')
    const after = await node.runPod('after', { networks: TWO_NADS_B });
    expect(Object.keys(interfaces(after)).sort()).toEqual(['eth0', 'net1', 'side0']);
    // a pod made by the primary, removed through manifold (the wrapped primary runs the
    // reference's own binaries: manifold.exec), then manifold's own
    await node.stopAndRemove(between);
    await node.stopAndRemove(after);
    const left = await node.leftoversWithSandboxes();
    // what crossing the change strands, and nothing else: the NAD reservations and manifold's
    // cache of 'before' (documented: no one could release them), and one libcni result-cache
    // file per pod that crossed (containerd keys it by the network's name, which changed;
    // containerd 1.6 never collects these)
    expect(left).toEqual({
      ...empty,
      reservations: stranded,
      manifoldCache: [expect.stringContaining(before.id)],
      libcniCache: [`${PRIMARY_NAME}-${between.id}-eth0`, `${WRAPPER_NAME}-${before.id}-eth0`].sort(),
    });
    // what an operator does for them (docs/kubernetes.md): delete the files
    for (const r of stranded) rmSync(join(node.containerd.varLib, 'cni/networks', r));
    for (const c of left.manifoldCache ?? []) rmSync(join(node.containerd.varLib, 'cni/manifold', c));
    for (const c of left.libcniCache ?? []) rmSync(join(node.containerd.varLib, 'cni/results', c));
    await expectNothingLeft();
  });

  it('manifold uninstall hands the node back to its primary', async () => {
    const out = node.uninstall();
    expect(out).toContain(`config: ${node.confDir}/00-manifold.conflist (removed)`);
    await node.loaded(PRIMARY_NAME);
    expect(readdirSync(node.confDir).sort()).toEqual([PRIMARY_FILE, 'manifold.d']);
    expect((await node.containerd.cri.networkReady())?.status).toBe(true);
    const pod = await node.runPod('handed-back', { networks: 'data' });
    expect(Object.keys(interfaces(pod))).toEqual(['eth0']);
    await node.stopAndRemove(pod);
    await expectNothingLeft();
  });
});
