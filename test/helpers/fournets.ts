/**
 * A pod on four built-in networks at once, for the fault, reboot, concurrency and soak tests:
 * bridge (with ipMasq: an nftables rule), macvlan, vxlan in bridge mode (shared host devices,
 * reference-counted) and sriov on a fake sysfs (veth ends as VFs), each with its own
 * host-local range. Built in whatever "host" netns the caller is in (isolateHost()).
 *
 * `leftovers()` lists everything an attachment could leave behind — pod links, host links
 * (temporary ones, the vxlan devices of a VNI nobody uses), reservations, caches, nftables
 * chains, VF records, a VF not back under its name, MAC and MTU — so "DEL left nothing" is
 * one assertion. `mirrorVfs()` does what the kernel does to a real sysfs: it lists each VF's
 * netdev under its current name when it is in the host, and nothing when it is not.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FakeSysfs } from './fake-sysfs.ts';
import { ip, ipJson } from './host.ts';

const PF_PCI = '0000:0a:00.0';
export const VNI = 4242;
export const BRIDGE = 'f4br0';

export interface Vf {
  readonly pci: string;
  readonly netdev: string;
  readonly mac: string;
  readonly mtu: number;
}

export interface World {
  readonly work: string;
  readonly cniDir: string;
  readonly ipamDir: string;
  readonly sriovDir: string;
  readonly fake: FakeSysfs;
  readonly vfs: readonly Vf[];
  /** Host links that exist before any pod (and the bridge the bridge plugin keeps). */
  readonly baseline: ReadonlySet<string>;
  /** The environment the executable needs (sysfs root, addon dir, PATH for nft). */
  readonly env: Readonly<Record<string, string>>;
}

interface IpLink {
  ifindex: number;
  ifname: string;
  address?: string;
  mtu: number;
  link_index?: number;
  link_netnsid?: number;
  /** The peer's name when it is in the same netns. */
  link?: string;
}

/** Sets the networks up in the current netns; `vfs` fake VFs. */
export function makeWorld(work: string, vfs: number): World {
  mkdirSync(work, { recursive: true });
  ip('link', 'add', 'f4u0', 'type', 'veth', 'peer', 'name', 'f4u0p');
  ip('addr', 'add', '192.168.94.1/24', 'dev', 'f4u0');
  ip('link', 'set', 'f4u0', 'up');
  ip('link', 'set', 'f4u0p', 'up');
  ip('link', 'add', 'f4m0', 'type', 'veth', 'peer', 'name', 'f4m0p');
  ip('link', 'set', 'f4m0', 'up');
  ip('link', 'set', 'f4m0p', 'up');
  const fake = new FakeSysfs(join(work, 'sys'));
  ip('link', 'add', 'f4pf', 'type', 'veth', 'peer', 'name', 'f4pfp');
  fake.addPf(PF_PCI, 'f4pf');
  const list: Vf[] = [];
  for (let n = 0; n < vfs; n++) {
    const vf: Vf = {
      pci: `0000:0a:${(0x10 + (n >> 3)).toString(16)}.${n & 7}`,
      netdev: `f4vf${n}`,
      mac: `02:f4:00:00:${(n >> 8).toString(16).padStart(2, '0')}:${(n & 255).toString(16).padStart(2, '0')}`,
      mtu: 1400,
    };
    makeVfNetdev(vf);
    fake.addVf(PF_PCI, n, vf.pci, { netdev: vf.netdev });
    list.push(vf);
  }
  const baseline = new Set([...ipJson<IpLink[]>('link', 'show').map((l) => l.ifname), BRIDGE]);
  return {
    work,
    cniDir: join(work, 'cache'),
    ipamDir: join(work, 'ipam'),
    sriovDir: join(work, 'sriov'),
    fake,
    vfs: list,
    baseline,
    env: {
      MANIFOLD_SYSFS_ROOT: fake.root,
      MANIFOLD_NATIVE_DIR: join(work, 'native'),
      PATH: '/usr/sbin:/usr/bin:/sbin:/bin',
    },
  };
}

const hostLocal = (w: World, n: number) => ({
  type: 'host-local',
  dataDir: w.ipamDir,
  ranges: [[{ subnet: `10.84.${n}.0/24` }]],
});

/** The meta config of a pod on the four networks, with VF `vf`. */
export function fourNets(w: World, vf: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const v = '1.1.0';
  return {
    cniVersion: v,
    name: 'four',
    type: 'manifold',
    cniDir: w.cniDir,
    ...extra,
    delegates: [
      {
        cniVersion: v,
        name: 'f4-bridge',
        type: 'bridge',
        bridge: BRIDGE,
        isGateway: true,
        ipMasq: true,
        ipam: hostLocal(w, 1),
      },
      { cniVersion: v, name: 'f4-macvlan', type: 'macvlan', master: 'f4m0', ipam: hostLocal(w, 2) },
      {
        cniVersion: v,
        name: 'f4-vxlan',
        type: 'vxlan',
        vni: VNI,
        mode: 'bridge',
        master: 'f4u0',
        remotes: ['192.168.94.2'],
        ipam: hostLocal(w, 3),
      },
      {
        cniVersion: v,
        name: 'f4-sriov',
        type: 'sriov',
        deviceID: w.vfs[vf]?.pci,
        dataDir: w.sriovDir,
        netdevReturnTimeout: 200,
        ipam: hostLocal(w, 4),
      },
    ],
  };
}

/** Lists each VF's netdev in the fake sysfs as the kernel would: its host name, or none. */
export function mirrorVfs(w: World): void {
  const host = ipJson<IpLink[]>('link', 'show');
  for (const vf of w.vfs) {
    // iproute2 names a veth's peer (`link`) when it is in the same netns, else gives its netnsid
    const peer = host.find((l) => l.ifname === `${vf.netdev}p`);
    w.fake.setNetdev(vf.pci, peer?.link_netnsid === undefined ? peer?.link : undefined);
  }
}

/**
 * A file's text, or undefined when it is gone. Calls running meanwhile (the soak's other
 * workers) legitimately release what a listing just showed: a vanished entry is not an error.
 */
function readIfThere(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

const files = (dir: string, re: RegExp): string[] => {
  try {
    return readdirSync(dir).filter((f) => re.test(f));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
};

function reservations(w: World): string[] {
  return files(w.ipamDir, /^[^.]/).flatMap((net) =>
    files(join(w.ipamDir, net), /^\d+\.\d+\.\d+\.\d+$/).flatMap((f) => {
      const text = readIfThere(join(w.ipamDir, net, f));
      return text === undefined ? [] : [`${net}/${f}=${text.split('\r\n')[0]}`];
    }),
  );
}

function nftChains(): string[] {
  const text = execFileSync('nft', ['list', 'ruleset'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  return [...text.matchAll(/chain (\S+) \{[^}]*?comment "([^"]*)"/g)].map((m) => `${m[1]} (${m[2]})`);
}

/** What is there now, for one line of the fault report. */
export function snapshot(w: World, pod: string | undefined): string {
  const podLinks = pod
    ? ipJson<IpLink[]>('-n', pod, 'link', 'show')
        .map((l) => l.ifname)
        .filter((n) => n !== 'lo')
    : [];
  const extra = ipJson<IpLink[]>('link', 'show')
    .map((l) => l.ifname)
    .filter((n) => !w.baseline.has(n));
  const records = files(w.sriovDir, /\.json$/).flatMap((f) => {
    const text = readIfThere(join(w.sriovDir, f));
    return text === undefined ? [] : [JSON.parse(text).phase as string];
  });
  return [
    `cache:${files(w.cniDir, /^[^.]/).length}`,
    `ips:${reservations(w).length}`,
    `pod:[${podLinks
      .map((n) => n.replace(/[0-9a-f]{8}$/, '*'))
      .sort()
      .join(',')}]`,
    `host:[${extra
      .map((n) => n.replace(/[0-9a-f]{8}$/, '*'))
      .sort()
      .join(',')}]`,
    `nft:${nftChains().length}`,
    `vf:[${records.join(',')}]`,
  ].join(' ');
}

/**
 * What one pod's DEL left in its namespace (empty means nothing). Safe while other calls run:
 * it reads only that pod's namespace.
 */
export function podLeftovers(pod: string): string[] {
  const podLinks = ipJson<IpLink[]>('-n', pod, 'link', 'show')
    .map((l) => l.ifname)
    .filter((n) => n !== 'lo');
  return podLinks.length ? [`pod links: ${podLinks.join(', ')}`] : [];
}

/**
 * Everything left behind, one line each: empty means nothing. Meant for a quiet moment (no
 * call running); while calls run, a file it lists may vanish before it is read, and is skipped.
 */
export function leftovers(w: World, pod: string | undefined): string[] {
  const out: string[] = pod ? podLeftovers(pod) : [];
  const host = ipJson<IpLink[]>('link', 'show');
  const extra = host.map((l) => l.ifname).filter((n) => !w.baseline.has(n));
  if (extra.length) out.push(`host links: ${extra.join(', ')}`);
  const res = reservations(w);
  if (res.length) out.push(`reservations: ${res.join(', ')}`);
  const caches = files(w.cniDir, /^[^.]/);
  if (caches.length) out.push(`caches: ${caches.join(', ')}`);
  const chains = nftChains();
  if (chains.length) out.push(`nft chains: ${chains.join(', ')}`);
  const recs = files(w.sriovDir, /\.json$/);
  if (recs.length) out.push(`VF records: ${recs.join(', ')}`);
  for (const vf of w.vfs) {
    const l = ipJson<IpLink[]>('-d', 'link', 'show').find((x) => x.ifname === vf.netdev);
    if (!l) out.push(`VF ${vf.pci}: ${vf.netdev} is not in the host`);
    else if (l.address !== vf.mac || l.mtu !== vf.mtu)
      out.push(`VF ${vf.pci}: ${vf.netdev} has ${l.address} mtu ${l.mtu}`);
  }
  const temps = [...files(w.cniDir, /\.tmp$/), ...files(w.sriovDir, /\.tmp$/)];
  if (temps.length) out.push(`temp files: ${temps.join(', ')}`);
  return out;
}

/** The veth end that stands in for a VF's netdev (its peer `<netdev>p`), with the VF's MAC and MTU. */
export function makeVfNetdev(vf: Vf): void {
  ip(
    'link',
    'add',
    vf.netdev,
    'address',
    vf.mac,
    'mtu',
    String(vf.mtu),
    'type',
    'veth',
    'peer',
    'name',
    `${vf.netdev}p`,
  );
}
