/**
 * vxlan on the real kernel: both modes through ADD/CHECK/DEL/GC via the skel, in-process,
 * asserting what `ip`, `bridge` and `ss` see. The isolated test host has an underlay veth
 * `ul0` (192.168.90.1) whose peer lives in a second "host" netns (192.168.90.2); the
 * two-host tests run the plugin there in a child process and ping across the overlay.
 */
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Env } from '../../src/cni/plugin.ts';
import * as kinds from '../../src/kernel/kinds.ts';
import * as link from '../../src/kernel/link.ts';
import { NetNS } from '../../src/kernel/netns.ts';
import { Rtnl } from '../../src/kernel/socket.ts';
import { ip, ipJson, isolateHost, newNetns, requireRoot, uniq } from '../helpers/host.ts';
import { builtinLoader, runWith, type SkelRun } from '../helpers/skel.ts';

requireRoot();
isolateHost();

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const execFileAsync = promisify(execFile);
const UNDERLAY = 'ul0';
const LOCAL = '192.168.90.1';
const PEER = '192.168.90.2';
let peerHost: { name: string; path: string };
let work: string;
let dataDir: string;

const loadVxlan = builtinLoader('vxlan');

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'manifold-vxlan-'));
  dataDir = join(work, 'ipam');
  peerHost = newNetns('mfhb');
  ip('link', 'add', UNDERLAY, 'type', 'veth', 'peer', 'name', 'ul0p', 'netns', peerHost.name);
  ip('addr', 'add', `${LOCAL}/24`, 'dev', UNDERLAY);
  ip('link', 'set', UNDERLAY, 'up');
  ip('-n', peerHost.name, 'addr', 'add', `${PEER}/24`, 'dev', 'ul0p');
  ip('-n', peerHost.name, 'link', 'set', 'ul0p', 'up');
  ip('-n', peerHost.name, 'link', 'set', 'lo', 'up');
});

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

type Conf = Record<string, unknown> & { name: string };
interface Call {
  netns: string;
  ctr: string;
  ifname?: string;
}

function env(command: string, c: Call): Env {
  return { CNI_COMMAND: command, CNI_CONTAINERID: c.ctr, CNI_NETNS: c.netns, CNI_IFNAME: c.ifname ?? 'net1' };
}

let subnets = 0;
function conf(extra: Record<string, unknown>): Conf {
  const n = ++subnets;
  return {
    cniVersion: '1.0.0',
    name: uniq('vx-'),
    type: 'vxlan',
    master: UNDERLAY,
    ipam: {
      type: 'host-local',
      dataDir,
      ranges: [[{ subnet: `10.50.${n}.0/24` }]],
      routes: [{ dst: `10.60.${n}.0/24` }],
    },
    ...extra,
  };
}

async function cni(command: string, c: Conf, call: Call, prevResult?: unknown): Promise<SkelRun> {
  const body = prevResult === undefined ? c : { ...c, prevResult };
  return runWith(loadVxlan, env(command, call), JSON.stringify(body));
}

async function add(c: Conf, call: Call): Promise<Record<string, unknown>> {
  const r = await cni('ADD', c, call);
  if (r.code !== 0) expect.fail(`ADD failed: ${r.stdout}`);
  return r.json ?? {};
}

function pod(): Call & { name: string } {
  const p = newNetns();
  return { name: p.name, netns: p.path, ctr: uniq('ctr') };
}

interface LinkJson {
  ifname: string;
  mtu: number;
  address: string;
  master?: string;
  link_netnsid?: number;
  ifalias?: string;
  operstate: string;
  linkinfo?: { info_kind?: string; info_data?: Record<string, unknown>; info_slave_kind?: string };
}
interface FdbJson {
  mac: string;
  dst?: string;
  flags?: string[];
  state?: string;
}

const linkShow = (ns: string | undefined, dev: string) =>
  ipJson<LinkJson[]>(...(ns ? ['-n', ns] : []), '-d', 'link', 'show', 'dev', dev)[0];
const linkNames = (ns?: string) =>
  ipJson<LinkJson[]>(...(ns ? ['-n', ns] : []), 'link', 'show').map((l) => l.ifname);
const fdb = (ns: string | undefined, dev: string): string[] =>
  (
    JSON.parse(
      execFileSync('bridge', [...(ns ? ['-n', ns] : []), '-j', 'fdb', 'show', 'dev', dev], {
        encoding: 'utf8',
      }) || '[]',
    ) as FdbJson[]
  )
    .filter((e) => e.dst)
    .map((e) => `${e.mac} ${e.dst}`)
    .sort();
const bridgeCmd = (...args: string[]) => execFileSync('bridge', args, { encoding: 'utf8' });
const addrs = (ns: string, dev: string) =>
  ipJson<{ addr_info: { family: string; local: string; prefixlen: number }[] }[]>(
    '-n',
    ns,
    'addr',
    'show',
    'dev',
    dev,
  )[0]
    ?.addr_info.filter((a) => a.family === 'inet')
    .map((a) => `${a.local}/${a.prefixlen}`) ?? [];
const routes = (ns: string, dev: string) =>
  ipJson<{ dst: string }[]>('-n', ns, 'route', 'show', 'dev', dev).map((r) => r.dst);
const reservations = (network: string) =>
  existsSync(join(dataDir, network)) ? readdirSync(join(dataDir, network)).filter((f) => /^\d/.test(f)) : [];
const udpListeners = (ns?: string) =>
  execFileSync(ns ? 'ip' : 'ss', ns ? ['netns', 'exec', ns, 'ss', '-H', '-uln'] : ['-H', '-uln'], {
    encoding: 'utf8',
  });

/** The underlay index IFLA_VXLAN_LINK holds, read through our own decoder from inside the pod. */
async function underlayIndexIn(
  nsPath: string,
  dev: string,
): Promise<{ underlay: number | undefined; linkNetnsId: number | undefined }> {
  const ns = NetNS.open(nsPath);
  const h = Rtnl.open(ns);
  try {
    const l = await link.mustByName(h, dev);
    return { underlay: kinds.vxlanInfo(l).underlay, linkNetnsId: l.linkNetnsId };
  } finally {
    h.close();
    ns.close();
  }
}

/**
 * One CNI call of the vxlan plugin in a separate process, as a runtime makes it: in this
 * host, or with `hostNs` inside that netns (the other host). Calls in separate processes are
 * what the host-wide lock serialises (one process's calls share one netlink socket).
 */
async function inChild(
  hostNs: string | undefined,
  command: string,
  c: Conf,
  call: Call,
  prevResult?: unknown,
  startAt = 0,
) {
  const mod = (p: string) => JSON.stringify(pathToFileURL(join(ROOT, p)).href);
  const script = [
    `const { builtinLoader, runWith } = await import(${mod('test/helpers/skel.ts')});`,
    'const load = builtinLoader("vxlan");',
    'await load();',
    // a barrier: every child has loaded its code, so their critical sections really overlap
    'const wait = Number(process.env.MF_START_AT) - Date.now();',
    'if (wait > 0) await new Promise((r) => setTimeout(r, wait));',
    'const r = await runWith(load, JSON.parse(process.env.MF_ENV), process.env.MF_CONF);',
    'process.stdout.write(JSON.stringify(r));',
    'process.exit(0);',
  ].join('\n');
  const node = [process.execPath, '--input-type=module', '-e', script];
  const [file, ...args] = hostNs ? ['ip', 'netns', 'exec', hostNs, ...node] : node;
  const body = prevResult === undefined ? c : { ...c, prevResult };
  const { stdout } = await execFileAsync(file ?? '', args, {
    encoding: 'utf8',
    env: {
      ...process.env,
      MF_ENV: JSON.stringify(env(command, call)),
      MF_CONF: JSON.stringify(body),
      MF_START_AT: String(startAt),
    },
  });
  return JSON.parse(stdout) as SkelRun;
}

describe('direct mode: the vxlan device is the pod interface', () => {
  it('ADD creates it in the pod bound to the host underlay, with FDB, addresses and routes', async () => {
    const p = pod();
    const c = conf({
      vni: 4242,
      local: LOCAL,
      ttl: 64,
      remotes: [PEER, '192.168.90.3', LOCAL], // this host's own address is skipped
      fdb: [{ mac: '0a:58:00:00:00:09', dst: '192.168.90.9' }],
      mac: '0a:58:00:00:00:01',
    });
    const r = await add(c, p);
    expect(r.interfaces).toEqual([{ name: 'net1', mac: '0a:58:00:00:00:01', mtu: 1450, sandbox: p.netns }]);
    const ips = r.ips as { address: string; interface: number }[];
    expect(ips[0]?.interface).toBe(0);

    const l = linkShow(p.name, 'net1');
    expect(l?.linkinfo?.info_kind).toBe('vxlan');
    expect(l?.linkinfo?.info_data).toMatchObject({
      id: 4242,
      port: 4789,
      learning: false,
      ttl: 64,
      local: LOCAL,
    });
    expect(l?.mtu).toBe(1450); // 1500 − 50
    expect(l?.address).toBe('0a:58:00:00:00:01');
    expect(l?.operstate).not.toBe('DOWN');
    // the device's link netns is the host: it shows a link_netnsid, and its underlay is ul0's host index
    expect(l?.link_netnsid).toBeTypeOf('number');
    const ul = await link.mustByName(Rtnl.open(), UNDERLAY);
    expect(await underlayIndexIn(p.netns, 'net1')).toMatchObject({
      underlay: ul.index,
      linkNetnsId: expect.any(Number),
    });
    // ... and so the UDP socket is the host's, not the pod's
    expect(udpListeners()).toMatch(/:4789\b/);
    expect(udpListeners(p.name)).not.toMatch(/:4789\b/);

    expect(fdb(p.name, 'net1')).toEqual([
      `00:00:00:00:00:00 ${PEER}`,
      '00:00:00:00:00:00 192.168.90.3',
      '0a:58:00:00:00:09 192.168.90.9',
    ]);
    expect(addrs(p.name, 'net1')).toEqual([ips[0]?.address]);
    expect(routes(p.name, 'net1')).toContain(`10.60.${subnets}.0/24`);
    expect(reservations(c.name)).toHaveLength(1);

    expect((await cni('CHECK', c, p, r)).code).toBe(0);

    expect((await cni('DEL', c, p, r)).code).toBe(0);
    expect(linkNames(p.name)).not.toContain('net1');
    expect(reservations(c.name)).toHaveLength(0);
    expect(udpListeners()).not.toMatch(/:4789\b/);
    expect((await cni('DEL', c, p, r)).code).toBe(0);
  });

  it('CHECK fails when an FDB entry is removed or learning is switched on, and passes when repaired', async () => {
    const p = pod();
    const c = conf({ vni: 4243, remotes: [PEER], fdb: [{ mac: '0a:58:00:00:00:09', dst: '192.168.90.9' }] });
    const r = await add(c, p);
    expect((await cni('CHECK', c, p, r)).code).toBe(0);

    ip('netns', 'exec', p.name, 'bridge', 'fdb', 'del', '00:00:00:00:00:00', 'dev', 'net1', 'dst', PEER);
    const noFlood = await cni('CHECK', c, p, r);
    expect(noFlood.json?.code).toBe(999);
    expect(noFlood.json?.msg).toBe(`vxlan "net1" lacks FDB entry 00:00:00:00:00:00 dst ${PEER}`);
    bridgeCmd('-n', p.name, 'fdb', 'append', '00:00:00:00:00:00', 'dev', 'net1', 'dst', PEER);
    expect((await cni('CHECK', c, p, r)).code).toBe(0);

    bridgeCmd('-n', p.name, 'fdb', 'del', '0a:58:00:00:00:09', 'dev', 'net1', 'dst', '192.168.90.9');
    expect((await cni('CHECK', c, p, r)).json?.msg).toMatch(
      /lacks FDB entry 0a:58:00:00:00:09 dst 192\.168\.90\.9/,
    );
    bridgeCmd('-n', p.name, 'fdb', 'add', '0a:58:00:00:00:09', 'dev', 'net1', 'dst', '192.168.90.9');
    expect((await cni('CHECK', c, p, r)).code).toBe(0);

    ip('-n', p.name, 'link', 'set', 'net1', 'type', 'vxlan', 'learning');
    expect((await cni('CHECK', c, p, r)).json?.msg).toBe('vxlan "net1" has learning on, config says off');
    ip('-n', p.name, 'link', 'set', 'net1', 'type', 'vxlan', 'nolearning');
    expect((await cni('CHECK', c, p, r)).code).toBe(0);

    ip('-n', p.name, 'link', 'set', 'net1', 'mtu', '1400');
    expect((await cni('CHECK', c, p, r)).json?.msg).toBe('vxlan "net1" has MTU 1400, expected 1450');
    expect((await cni('CHECK', { ...c, vni: 4244 }, p, r)).json?.msg).toBe(
      'vxlan "net1" has VNI 4243, config says 4244',
    );
    expect((await cni('CHECK', { ...c, port: 8472 }, p, r)).json?.msg).toBe(
      'vxlan "net1" has UDP port 4789, config says 8472',
    );
    expect((await cni('DEL', c, p, r)).code).toBe(0);
  });

  it('joins a multicast group instead of replicating to remotes', async () => {
    const p = pod();
    const c = conf({ vni: 4250, group: '239.1.1.42', srcPortRange: [40000, 40100], udpCsum: false });
    const r = await add(c, p);
    expect(linkShow(p.name, 'net1')?.linkinfo?.info_data).toMatchObject({
      id: 4250,
      group: '239.1.1.42',
      port_range: { low: 40000, high: 40100 },
      udp_csum: false,
    });
    // the kernel's default destination is the group: one all-zeros entry, no remotes
    expect(fdb(p.name, 'net1')).toEqual(['00:00:00:00:00:00 239.1.1.42']);
    expect((await cni('CHECK', c, p, r)).code).toBe(0);
    expect((await cni('CHECK', { ...c, group: '239.1.1.43' }, p, r)).json?.msg).toBe(
      'vxlan "net1" has group "239.1.1.42", config says "239.1.1.43"',
    );
    expect((await cni('DEL', c, p, r)).code).toBe(0);
  });

  it('runs over an IPv6 underlay with a 70-byte overhead', async () => {
    ip('addr', 'add', 'fd90::1/64', 'dev', UNDERLAY, 'nodad');
    try {
      const p = pod();
      const c = conf({ vni: 4251, local: 'fd90::1', remotes: ['fd90::2'] });
      const r = await add(c, p);
      const l = linkShow(p.name, 'net1');
      expect(l?.mtu).toBe(1430);
      expect(JSON.stringify(l?.linkinfo?.info_data)).toContain('fd90::1');
      expect(fdb(p.name, 'net1')).toEqual(['00:00:00:00:00:00 fd90::2']);
      expect((await cni('CHECK', c, p, r)).code).toBe(0);
      expect((await cni('DEL', c, p, r)).code).toBe(0);
    } finally {
      ip('addr', 'del', 'fd90::1/64', 'dev', UNDERLAY);
    }
  });

  it('takes the default-route interface as underlay when master is not set', async () => {
    ip('route', 'add', 'default', 'via', PEER, 'dev', UNDERLAY);
    try {
      const p = pod();
      const c = conf({ vni: 4245, master: undefined, mtu: 1400 });
      const r = await add(c, p);
      const ul = await link.mustByName(Rtnl.open(), UNDERLAY);
      expect((await underlayIndexIn(p.netns, 'net1')).underlay).toBe(ul.index);
      expect(linkShow(p.name, 'net1')?.mtu).toBe(1400);
      expect((await cni('CHECK', c, p, r)).code).toBe(0);
      expect((await cni('DEL', c, p, r)).code).toBe(0);
    } finally {
      ip('route', 'del', 'default');
    }
  });

  it('refuses a second pod on the same VNI and port on this host, leaving nothing behind', async () => {
    const p1 = pod();
    const p2 = pod();
    const c = conf({ vni: 4246, remotes: [PEER] });
    const r1 = await add(c, p1);
    const second = await cni('ADD', c, p2);
    expect(second.json?.code).toBe(999);
    expect(second.json?.msg).toBe('failed to create vxlan "net1" (VNI 4246) on master "ul0": file exists');
    expect(second.json?.details).toMatch(/already uses VNI 4246 on UDP port 4789.*use "mode": "bridge"/);
    expect(linkNames(p2.name)).toEqual(['lo']);
    expect(reservations(c.name)).toHaveLength(1); // only p1's
    // another port is another socket: allowed
    const r3 = await add({ ...c, port: 4790 }, p2);
    expect(linkShow(p2.name, 'net1')?.linkinfo?.info_data?.port).toBe(4790);
    expect((await cni('DEL', { ...c, port: 4790 }, p2, r3)).code).toBe(0);
    expect((await cni('DEL', c, p1, r1)).code).toBe(0);
  });

  it('fails ADD when the interface exists, or the mtu is too large, creating nothing', async () => {
    const p = pod();
    ip('-n', p.name, 'link', 'add', 'net1', 'type', 'veth', 'peer', 'name', 'x1');
    const c = conf({ vni: 4247 });
    const exists = await cni('ADD', c, p);
    expect(exists.json?.msg).toMatch(
      /^failed to create interface "net1" in netns ".*": an interface with that name already exists$/,
    );
    const q = pod();
    const big = await cni('ADD', conf({ vni: 4247, mtu: 1451 }), q);
    expect(big.json?.code).toBe(7);
    expect(big.json?.msg).toMatch(/^mtu: 1451 is larger than 1450/);
    expect(linkNames(q.name)).toEqual(['lo']);
    const nomaster = await cni('ADD', conf({ vni: 4247, master: 'nope0' }), q);
    expect(nomaster.json?.msg).toBe('failed to find master "nope0" in the host netns: no such device');
    expect(reservations(c.name)).toHaveLength(0);
  });

  it('undoes a part-way ADD: device deleted and the address released', async () => {
    const p = pod();
    const c = conf({ vni: 4248, remotes: [PEER] });
    (c.ipam as Record<string, unknown>).routes = [{ dst: '10.201.0.0/16', gw: '10.66.66.1' }]; // unreachable gw
    const r = await cni('ADD', c, p);
    expect(r.code).not.toBe(0);
    expect(r.json?.msg).toMatch(/add route 10\.201\.0\.0\/16 via 10\.66\.66\.1/);
    expect(linkNames(p.name)).toEqual(['lo']);
    expect(reservations(c.name)).toHaveLength(0);
    expect(udpListeners()).not.toMatch(/:4789\b/);
    // and the VNI is free again
    const ok = await add(conf({ vni: 4248 }), p);
    expect(ok.interfaces).toHaveLength(1);
  });

  it('DEL succeeds with the netns gone or CNI_NETNS empty, and still releases the address', async () => {
    const p = pod();
    const c = conf({ vni: 4249 });
    const r = await add(c, p);
    expect(reservations(c.name)).toHaveLength(1);
    ip('netns', 'del', p.name);
    expect((await cni('DEL', c, p, r)).code).toBe(0);
    expect(reservations(c.name)).toHaveLength(0);
    expect((await cni('DEL', c, { ...p, netns: '' }, r)).code).toBe(0);
    // the kernel frees the VNI when its asynchronous netns cleanup has run; ADD waits for it
    const next = pod();
    const r2 = await add(c, next);
    expect((await cni('DEL', c, next, r2)).code).toBe(0);
  });
});

describe('STATUS', () => {
  it('answers 50 when the underlay is missing from the host', async () => {
    const status = (extra: Record<string, unknown>) =>
      runWith(
        loadVxlan,
        { CNI_COMMAND: 'STATUS' },
        JSON.stringify({ ...conf({ vni: 90, ...extra }), cniVersion: '1.1.0' }),
      );
    expect((await status({})).code).toBe(0);
    const missing = await status({ master: 'gone0' });
    expect(missing.json).toMatchObject({
      code: 50,
      msg: 'failed to find master "gone0" in the host netns: no such device',
    });
  });
});

describe('bridge mode: a shared host bridge and vxlan device per VNI, pods on veths', () => {
  const shared = (vni: number, bridge = `vxbr${vni}`) => ({ bridge, vxlan: `vxlan${vni}` });

  it('ADD builds the shared devices once; DEL keeps them for the other pod and removes them with the last', async () => {
    const c = conf({
      vni: 77,
      mode: 'bridge',
      remotes: [LOCAL, PEER],
      fdb: [{ mac: '0a:58:00:00:00:09', dst: '192.168.90.9' }],
    });
    const { bridge, vxlan } = shared(77);
    const p1 = pod();
    const p2 = pod();
    const r1 = await add(c, p1);
    const r2 = await add({ ...c, mac: '0a:58:00:00:00:02' }, p2);

    const ifaces = r1.interfaces as { name: string; sandbox?: string; mtu?: number }[];
    expect(ifaces.map((i) => i.name)).toEqual([bridge, expect.stringMatching(/^vxv[0-9a-f]{8}$/), 'net1']);
    expect(ifaces[2]).toMatchObject({ sandbox: p1.netns, mtu: 1450 });
    expect((r1.ips as { interface: number }[])[0]?.interface).toBe(2);

    const vx = linkShow(undefined, vxlan);
    expect(vx?.linkinfo?.info_kind).toBe('vxlan');
    expect(vx?.linkinfo?.info_data).toMatchObject({ id: 77, port: 4789, learning: false, link: UNDERLAY });
    expect(vx?.master).toBe(bridge);
    expect(vx?.mtu).toBe(1450);
    expect(vx?.ifalias).toBe('manifold-vxlan vni=77');
    expect(linkShow(undefined, bridge)?.linkinfo?.info_kind).toBe('bridge');
    expect(fdb(undefined, vxlan)).toEqual([`00:00:00:00:00:00 ${PEER}`, '0a:58:00:00:00:09 192.168.90.9']);
    const hostEnd = linkShow(undefined, ifaces[1]?.name ?? '');
    expect(hostEnd?.master).toBe(bridge);
    expect(hostEnd?.ifalias).toBe(`manifold-vxlan net=${c.name} ctr=${p1.ctr} if=net1`);
    const podEnd = linkShow(p1.name, 'net1');
    expect(podEnd?.linkinfo?.info_kind).toBe('veth');
    expect(podEnd?.mtu).toBe(1450);
    expect(linkShow(p2.name, 'net1')?.address).toBe('0a:58:00:00:00:02');
    expect(addrs(p1.name, 'net1')).toEqual([(r1.ips as { address: string }[])[0]?.address]);
    expect(routes(p1.name, 'net1')).toContain(`10.60.${subnets}.0/24`);
    const ports = ipJson<LinkJson[]>('link', 'show', 'master', bridge).map((l) => l.ifname);
    expect(ports).toHaveLength(3);

    expect((await cni('CHECK', c, p1, r1)).code).toBe(0);
    expect((await cni('CHECK', c, p2, r2)).code).toBe(0);

    expect((await cni('DEL', c, p1, r1)).code).toBe(0);
    expect(linkNames(p1.name)).toEqual(['lo']);
    expect(linkNames()).toEqual(expect.arrayContaining([bridge, vxlan]));
    expect(ipJson<LinkJson[]>('link', 'show', 'master', bridge)).toHaveLength(2);
    expect((await cni('CHECK', c, p2, r2)).code).toBe(0);

    expect((await cni('DEL', c, p2, r2)).code).toBe(0);
    expect(linkNames()).not.toContain(bridge);
    expect(linkNames()).not.toContain(vxlan);
    expect(linkNames().filter((n) => n.startsWith('vxv'))).toEqual([]);
    expect(reservations(c.name)).toHaveLength(0);
    expect((await cni('DEL', c, p2, r2)).code).toBe(0);
  });

  it('CHECK fails when the shared FDB loses an entry or learning is switched on', async () => {
    const c = conf({ vni: 78, mode: 'bridge', remotes: [PEER] });
    const p = pod();
    const r = await add(c, p);
    expect((await cni('CHECK', c, p, r)).code).toBe(0);
    bridgeCmd('fdb', 'del', '00:00:00:00:00:00', 'dev', 'vxlan78', 'dst', PEER);
    expect((await cni('CHECK', c, p, r)).json?.msg).toBe(
      `vxlan "vxlan78" lacks FDB entry 00:00:00:00:00:00 dst ${PEER}`,
    );
    bridgeCmd('fdb', 'append', '00:00:00:00:00:00', 'dev', 'vxlan78', 'dst', PEER);
    expect((await cni('CHECK', c, p, r)).code).toBe(0);
    ip('link', 'set', 'vxlan78', 'type', 'vxlan', 'learning');
    expect((await cni('CHECK', c, p, r)).json?.msg).toBe('vxlan "vxlan78" has learning on, config says off');
    ip('link', 'set', 'vxlan78', 'type', 'vxlan', 'nolearning');
    ip('link', 'set', 'vxlan78', 'nomaster');
    expect((await cni('CHECK', c, p, r)).json?.msg).toBe('vxlan "vxlan78" is not a port of bridge "vxbr78"');
    // a new ADD adopts manifold's detached device again
    const p2 = pod();
    const r2 = await add(c, p2);
    expect(linkShow(undefined, 'vxlan78')?.master).toBe('vxbr78');
    expect((await cni('CHECK', c, p, r)).code).toBe(0);
    expect((await cni('DEL', c, p, r)).code).toBe(0);
    expect((await cni('DEL', c, p2, r2)).code).toBe(0);
    expect(linkNames()).not.toContain('vxbr78');
  });

  it('refuses to share a vxlan device that differs from the config', async () => {
    const c = conf({ vni: 79, mode: 'bridge' });
    const p1 = pod();
    const r1 = await add(c, p1);
    const p2 = pod();
    const other = await cni('ADD', { ...c, name: uniq('vx-'), port: 4790 }, p2);
    expect(other.json?.msg).toBe(
      'failed to share vxlan "vxlan79" in the host: it has UDP port 4789, config says 4790',
    );
    expect(linkNames(p2.name)).toEqual(['lo']);
    expect(ipJson<LinkJson[]>('link', 'show', 'master', 'vxbr79')).toHaveLength(2);
    expect((await cni('DEL', c, p1, r1)).code).toBe(0);
    expect(linkNames()).not.toContain('vxbr79');
  });

  it('undoes a part-way ADD: the first pod leaves no bridge, a later one leaves the shared devices', async () => {
    const good = conf({ vni: 80, mode: 'bridge', bridge: 'ovl80' });
    const bad = {
      ...good,
      ipam: { ...(good.ipam as object), routes: [{ dst: '10.201.0.0/16', gw: '10.66.66.1' }] },
    };
    const p1 = pod();
    const failed = await cni('ADD', bad, p1);
    expect(failed.code).not.toBe(0);
    expect(linkNames(p1.name)).toEqual(['lo']);
    expect(linkNames()).not.toContain('ovl80');
    expect(linkNames()).not.toContain('vxlan80');
    expect(reservations(good.name)).toHaveLength(0);

    const p2 = pod();
    const r2 = await add(good, p2);
    expect((await cni('ADD', bad, p1)).code).not.toBe(0);
    expect(linkNames(p1.name)).toEqual(['lo']);
    expect(ipJson<LinkJson[]>('link', 'show', 'master', 'ovl80')).toHaveLength(2);
    expect(reservations(good.name)).toHaveLength(1);
    expect((await cni('DEL', good, p2, r2)).code).toBe(0);
    expect(linkNames()).not.toContain('ovl80');
  });

  it('leaves a bridge it did not make, but takes its own vxlan device off it', async () => {
    ip('link', 'add', 'mine0', 'type', 'bridge');
    const c = conf({ vni: 81, mode: 'bridge', bridge: 'mine0' });
    const p = pod();
    const r = await add(c, p);
    expect(linkShow(undefined, 'vxlan81')?.master).toBe('mine0');
    expect((await cni('DEL', c, p, r)).code).toBe(0);
    expect(linkNames()).toContain('mine0');
    expect(linkNames()).not.toContain('vxlan81');
    ip('link', 'del', 'mine0');
  });

  it('removes the shared devices a call killed while creating them left (under their staging names)', async () => {
    const c = conf({ vni: 84, mode: 'bridge' });
    // a kill after the bridge was made but before its naming request; another after the
    // vxlan device joined the (named, marked) bridge but before its own naming request
    ip('link', 'add', 'mfvb84', 'type', 'bridge');
    const p = pod();
    const r = await add(c, p);
    expect(linkNames()).not.toContain('mfvb84');
    expect(linkShow(undefined, 'vxbr84')?.ifalias).toBe('manifold-vxlan vni=84');
    expect(linkShow(undefined, 'vxlan84')?.ifalias).toBe('manifold-vxlan vni=84');
    ip('link', 'add', 'mfvx84', 'type', 'vxlan', 'id', '8484', 'dstport', '4789', 'dev', UNDERLAY);
    ip('link', 'set', 'mfvx84', 'master', 'vxbr84');
    expect((await cni('DEL', c, p, r)).code).toBe(0);
    expect(linkNames().filter((n) => /^(mfv[bx]|vxbr|vxlan)84$/.test(n))).toEqual([]);
  });

  it('pins the MAC of the bridge it makes: a port with a lower MAC does not change it', async () => {
    const c = conf({ vni: 89, mode: 'bridge' });
    const p = pod();
    const r = await add(c, p);
    const mac = linkShow(undefined, 'vxbr89')?.address;
    expect((r.interfaces as { mac?: string }[])[0]?.mac).toBe(mac);
    const low = uniq('low');
    ip('link', 'add', low, 'address', '00:00:00:00:00:01', 'type', 'veth', 'peer', 'name', uniq('lp'));
    ip('link', 'set', low, 'master', 'vxbr89', 'up');
    expect(linkShow(undefined, 'vxbr89')?.address).toBe(mac);
    ip('link', 'del', low);
    expect((await cni('DEL', c, p, r)).code).toBe(0);
    expect(linkNames()).not.toContain('vxbr89');
  });

  it('DEL of the last pod with its netns gone still removes the shared devices', async () => {
    const c = conf({ vni: 82, mode: 'bridge' });
    const p = pod();
    const r = await add(c, p);
    ip('netns', 'del', p.name);
    expect((await cni('DEL', c, p, r)).code).toBe(0);
    expect(linkNames()).not.toContain('vxbr82');
    expect(linkNames()).not.toContain('vxlan82');
    expect(reservations(c.name)).toHaveLength(0);
  });

  it('keeps the count right under concurrent ADDs and DELs from separate processes', async () => {
    const c = conf({ vni: 83, mode: 'bridge', remotes: [PEER] });
    const ok = (runs: SkelRun[]) => runs.map((r) => (r.code === 0 ? 0 : r.stdout));
    const soon = () => Date.now() + 1500;
    // first pods racing to create the shared devices
    const first = [pod(), pod(), pod(), pod()];
    const t1 = soon();
    const added = await Promise.all(first.map((p) => inChild(undefined, 'ADD', c, p, undefined, t1)));
    expect(ok(added)).toEqual([0, 0, 0, 0]);
    expect(ipJson<LinkJson[]>('link', 'show', 'master', 'vxbr83')).toHaveLength(5);
    expect(fdb(undefined, 'vxlan83')).toEqual([`00:00:00:00:00:00 ${PEER}`]);
    // the last pods leaving while new ones arrive: the newcomers must keep working devices
    const next = [pod(), pod()];
    const t2 = soon();
    const churn = await Promise.all([
      ...first.map((p, i) => inChild(undefined, 'DEL', c, p, added[i]?.json, t2)),
      ...next.map((p) => inChild(undefined, 'ADD', c, p, undefined, t2)),
    ]);
    expect(ok(churn)).toEqual([0, 0, 0, 0, 0, 0]);
    expect(ipJson<LinkJson[]>('link', 'show', 'master', 'vxbr83')).toHaveLength(3);
    for (const [i, p] of next.entries()) expect((await cni('CHECK', c, p, churn[4 + i]?.json)).code).toBe(0);
    const t3 = soon();
    const dels = await Promise.all(
      next.map((p, i) => inChild(undefined, 'DEL', c, p, churn[4 + i]?.json, t3)),
    );
    expect(ok(dels)).toEqual([0, 0]);
    expect(linkNames()).not.toContain('vxbr83');
    expect(linkNames()).not.toContain('vxlan83');
    expect(reservations(c.name)).toHaveLength(0);
  });

  it('GC removes the host veths of attachments the runtime no longer has, then unused devices', async () => {
    const c = { ...conf({ vni: 84, mode: 'bridge' }), cniVersion: '1.1.0' };
    const p1 = pod();
    const p2 = pod();
    await add(c, p1);
    await add(c, p2);
    const gc = (valid: { containerID: string; ifname: string }[]) =>
      runWith(
        loadVxlan,
        { CNI_COMMAND: 'GC', CNI_PATH: '/nonexistent' },
        JSON.stringify({ ...c, 'cni.dev/valid-attachments': valid }),
      );
    expect((await gc([{ containerID: p1.ctr, ifname: 'net1' }])).code).toBe(0);
    expect(linkNames(p2.name)).toEqual(['lo']); // the pair went with its host end
    expect(linkNames(p1.name)).toContain('net1');
    expect(reservations(c.name)).toHaveLength(1);
    expect(ipJson<LinkJson[]>('link', 'show', 'master', 'vxbr84')).toHaveLength(2);
    expect((await gc([])).code).toBe(0);
    expect(linkNames()).not.toContain('vxbr84');
    expect(linkNames()).not.toContain('vxlan84');
    expect(reservations(c.name)).toHaveLength(0);
  });
});

describe('two hosts, one overlay: pods ping each other across the underlay', () => {
  const busybox = ['/usr/bin/busybox', '/bin/busybox'].find((b) => existsSync(b));

  const ping = (ns: string, to: string, count: number, waitSeconds: number) => {
    if (!busybox) throw new Error('busybox (for ping) is not installed: apt-get install busybox');
    try {
      execFileSync(
        'ip',
        ['netns', 'exec', ns, busybox, 'ping', '-c', String(count), '-W', String(waitSeconds), to],
        {
          stdio: 'pipe',
        },
      );
      return true;
    } catch {
      return false;
    }
  };

  it.each(['direct', 'bridge'] as const)('%s mode on VNI 42', async (mode) => {
    const vni = 42;
    const base = {
      cniVersion: '1.0.0',
      name: `ovl-${mode}`,
      type: 'vxlan',
      vni,
      ...(mode === 'bridge' ? { mode } : {}),
    };
    const static_ = (a: string) => ({ type: 'static', addresses: [{ address: `${a}/24` }] });
    const a = pod();
    const b = newNetns('mfpb');
    const bCall = { netns: b.path, ctr: uniq('ctr') };
    // one remote list for both hosts, as one NAD serves every node: each skips its own address
    const confA = { ...base, master: UNDERLAY, remotes: [LOCAL, PEER], ipam: static_('10.42.0.1') };
    const confB = { ...base, master: 'ul0p', remotes: [LOCAL, PEER], ipam: static_('10.42.0.2') };
    const rA = await add(confA, a);
    const rB = await inChild(peerHost.name, 'ADD', confB, bCall);
    expect(rB.code, rB.stdout).toBe(0);
    // host B's vxlan socket is in host B (the peer netns), not in this host
    expect(udpListeners(peerHost.name)).toMatch(/:4789\b/);

    expect(ping(a.name, '10.42.0.2', 2, 3)).toBe(true);

    // the traffic really takes the tunnel: without the flood entry ARP cannot reach B
    const dev =
      mode === 'direct'
        ? ['-n', a.name, 'fdb', 'del', '00:00:00:00:00:00', 'dev', 'net1', 'dst', PEER]
        : ['fdb', 'del', '00:00:00:00:00:00', 'dev', `vxlan${vni}`, 'dst', PEER];
    bridgeCmd(...dev);
    ip('-n', a.name, 'neigh', 'flush', 'dev', 'net1');
    if (mode === 'bridge') bridgeCmd('fdb', 'flush', 'dev', `vxlan${vni}`, 'dynamic');
    expect(ping(a.name, '10.42.0.2', 1, 1)).toBe(false);
    expect((await cni('CHECK', confA, a, rA)).json?.msg).toMatch(/lacks FDB entry 00:00:00:00:00:00/);

    expect((await cni('DEL', confA, a, rA)).code).toBe(0);
    expect((await inChild(peerHost.name, 'DEL', confB, bCall, rB.json)).code).toBe(0);
    expect(udpListeners(peerHost.name)).not.toMatch(/:4789\b/);
  });
});
