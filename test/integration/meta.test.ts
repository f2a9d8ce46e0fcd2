/**
 * The meta-plugin on the real kernel: built-in delegates in-process, Debian's reference
 * plugins (ptp, tuning, host-local) as real external delegates, one merged result, rollback,
 * the cache, CHECK/STATUS/GC across attachments.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { delNetns, ip, ipJson, isolateHost, newNetns } from '../helpers/host.ts';
import { REFERENCE_PLUGIN_DIR, requireReferencePlugins } from '../helpers/reference.ts';
import { scratchDir } from '../helpers/scratch.ts';
import { builtinLoader, runWith } from '../helpers/skel.ts';

isolateHost();
const tmp = scratchDir('mf-meta-');
const dataDir = join(tmp, 'ipam');
const cniDir = join(tmp, 'cache');

const meta = builtinLoader('manifold');

function hostLocal(subnet: string, routes: object[] = []) {
  return { type: 'host-local', dataDir, subnet, routes };
}

const MASTER = {
  cniVersion: '1.0.0',
  name: 'mv-main',
  type: 'macvlan',
  master: 'mst0',
  ipam: hostLocal('10.50.0.0/24', [{ dst: '0.0.0.0/0' }]),
};
const PTP = {
  cniVersion: '1.0.0',
  name: 'p2p',
  type: 'ptp',
  ipam: hostLocal('10.51.0.0/24', [{ dst: '0.0.0.0/0' }]),
};
const CHAIN = {
  cniVersion: '1.0.0',
  name: 'mv-tuned',
  plugins: [
    { type: 'macvlan', master: 'mst1', ipam: hostLocal('10.52.0.0/24') },
    { type: 'tuning', mtu: 1400, promisc: true },
  ],
};

function metaConf(delegates: object[], extra: object = {}) {
  return { cniVersion: '1.1.0', name: 'pod-nets', type: 'manifold', cniDir, delegates, ...extra };
}

let n = 0;
function attachment() {
  const pod = newNetns();
  const env = {
    CNI_CONTAINERID: `meta${++n}`,
    CNI_NETNS: pod.path,
    CNI_IFNAME: 'eth0',
    CNI_PATH: REFERENCE_PLUGIN_DIR,
  };
  const call = (command: string, conf: object, prev?: object) =>
    runWith(
      meta,
      { ...env, CNI_COMMAND: command },
      JSON.stringify(prev ? { ...conf, prevResult: prev } : conf),
    );
  return { pod, env, call };
}

function podLinks(nsName: string): string[] {
  return ipJson<{ ifname: string }[]>('-n', nsName, 'link', 'show').map((l) => l.ifname);
}

function reservations(): string[] {
  if (!existsSync(dataDir)) return [];
  return readdirSync(dataDir).flatMap((net) =>
    readdirSync(join(dataDir, net))
      .filter((f) => /^[0-9a-f.:]+$/.test(f) && f.includes('.'))
      .map((f) => `${net}/${f}`),
  );
}

beforeAll(() => {
  requireReferencePlugins('ptp', 'tuning', 'host-local');
  for (const m of ['mst0', 'mst1']) {
    ip('link', 'add', m, 'type', 'veth', 'peer', 'name', `${m}p`);
    ip('link', 'set', m, 'up');
  }
});

describe('ADD', () => {
  it('attaches built-in and external delegates and returns one merged result', async () => {
    const a = attachment();
    const conf = metaConf([MASTER, PTP, CHAIN]);
    const r = await a.call('ADD', conf);
    expect(r.code, r.stdout).toBe(0);
    const res = r.json as {
      interfaces: { name: string; sandbox?: string }[];
      ips: { address: string; interface: number }[];
      routes: { dst: string }[];
    };
    expect(res.interfaces.map((i) => i.name)).toEqual(expect.arrayContaining(['eth0', 'net1', 'net2']));
    expect(res.interfaces[0]?.name).toBe('eth0');
    // every IP points at the merged interface that carries it
    for (const ipc of res.ips) {
      const iface = res.interfaces[ipc.interface];
      expect(iface?.sandbox).toBe(a.env.CNI_NETNS);
      const onLink = ip('-n', a.pod.name, 'addr', 'show', 'dev', iface?.name ?? '?');
      expect(onLink).toContain(ipc.address);
    }
    expect(res.ips.map((i) => i.address.split('.').slice(0, 3).join('.')).sort()).toEqual([
      '10.50.0',
      '10.51.0',
      '10.52.0',
    ]);
    // only the master's default route is in the result
    expect(res.routes.filter((rt) => rt.dst === '0.0.0.0/0')).toHaveLength(1);
    expect(podLinks(a.pod.name)).toEqual(expect.arrayContaining(['eth0', 'net1', 'net2']));
    expect(ipJson<{ mtu: number }[]>('-n', a.pod.name, 'link', 'show', 'net2')[0]?.mtu).toBe(1400);
    const cache = JSON.parse(readFileSync(join(cniDir, `pod-nets-${a.env.CNI_CONTAINERID}-eth0`), 'utf8'));
    expect(cache.delegates.map((d: { ifname: string }) => d.ifname)).toEqual(['eth0', 'net1', 'net2']);

    const check = await a.call('CHECK', conf, r.json);
    expect(check.code, check.stdout).toBe(0);

    const del = await a.call('DEL', conf);
    expect(del.code, del.stdout).toBe(0);
    expect(podLinks(a.pod.name)).toEqual(['lo']);
    expect(reservations()).toEqual([]);
    expect(existsSync(join(cniDir, `pod-nets-${a.env.CNI_CONTAINERID}-eth0`))).toBe(false);
    expect((await a.call('DEL', conf)).code).toBe(0);
  });

  it('refuses before creating anything when an interface name is taken', async () => {
    const a = attachment();
    ip('-n', a.pod.name, 'link', 'add', 'net1', 'type', 'veth', 'peer', 'name', 'x1');
    const r = await a.call('ADD', metaConf([MASTER, PTP]));
    expect(r.code).toBe(1);
    expect(String(r.json?.msg)).toMatch(/delegate "p2p" \(ptp\): interface "net1" already exists/);
    expect(podLinks(a.pod.name).sort()).toEqual(['lo', 'net1', 'x1']);
    expect(reservations()).toEqual([]);
  });

  const broken = [
    { ...MASTER, name: 'broken-master', master: 'does-not-exist' },
    { ...PTP, name: 'broken-ptp', ipam: hostLocal('10.59.0.0/30'), mtu: 'big' },
    {
      ...CHAIN,
      name: 'broken-chain',
      plugins: [CHAIN.plugins[0], { type: 'tuning', sysctl: { 'no.such.key': '1' } }],
    },
  ];
  it.each([0, 1, 2])(
    'a failure of delegate %i leaves no interface, no reservation and no cache',
    async (k) => {
      const a = attachment();
      const list: object[] = [MASTER, PTP, CHAIN];
      list[k] = broken[k] as object;
      const r = await a.call('ADD', metaConf(list));
      expect(r.code).toBe(1);
      expect(String(r.json?.msg)).toMatch(/^delegate "broken-/);
      expect(podLinks(a.pod.name)).toEqual(['lo']);
      expect(reservations()).toEqual([]);
      expect(existsSync(join(cniDir, `pod-nets-${a.env.CNI_CONTAINERID}-eth0`))).toBe(false);
      expect(ipJson<{ ifname: string }[]>('link', 'show').filter((l) => l.ifname.startsWith('veth'))).toEqual(
        [],
      );
    },
  );

  it('waits for the readiness indicator file, and gives up with a clear error', async () => {
    const flag = join(tmp, 'ready');
    const a = attachment();
    let written = false;
    const late = setTimeout(() => {
      writeFileSync(flag, '');
      written = true;
    }, 400);
    const r = await a.call(
      'ADD',
      metaConf([MASTER], { readinessindicatorfile: flag, readinessTimeoutSeconds: 5 }),
    );
    clearTimeout(late);
    expect(r.code, r.stdout).toBe(0);
    expect(written, 'ADD returned before the readiness file appeared').toBe(true);
    expect((await a.call('DEL', metaConf([MASTER]))).code).toBe(0);

    const b = attachment();
    const t = await b.call(
      'ADD',
      metaConf([MASTER], { readinessindicatorfile: join(tmp, 'never'), readinessTimeoutSeconds: 0.3 }),
    );
    expect(t.json).toMatchObject({ code: 11 });
    expect(String(t.json?.msg)).toContain('readinessindicatorfile');
    expect(podLinks(b.pod.name)).toEqual(['lo']);
  });
});

describe('DEL', () => {
  it('uses the cache when the config changed, and succeeds when the netns is gone', async () => {
    const a = attachment();
    expect((await a.call('ADD', metaConf([MASTER, PTP]))).code).toBe(0);
    expect(reservations()).toHaveLength(2);
    // the runtime now sends a config without the second delegate: the cache still knows it
    delNetns(a.pod.name);
    const del = await a.call('DEL', metaConf([MASTER]));
    expect(del.code, del.stdout).toBe(0);
    expect(reservations()).toEqual([]);
    // the host end of ptp's veth goes when the kernel destroys the namespace, asynchronously
    await expect
      .poll(() => ipJson<{ ifname: string }[]>('link', 'show').filter((l) => l.ifname.startsWith('veth')), {
        timeout: 5000,
      })
      .toEqual([]);
  });
});

describe('CHECK', () => {
  it('catches a deleted secondary interface', async () => {
    const a = attachment();
    const conf = metaConf([MASTER, CHAIN]);
    const r = await a.call('ADD', conf);
    expect(r.code).toBe(0);
    ip('-n', a.pod.name, 'link', 'del', 'net1');
    const check = await a.call('CHECK', conf, r.json);
    expect(check.code).toBe(1);
    expect(String(check.json?.msg)).toMatch(/^delegate "mv-tuned" \(macvlan, tuning\) failed CHECK: .*net1/);
    expect((await a.call('DEL', conf)).code).toBe(0);
    expect(reservations()).toEqual([]);
  });
});

describe('STATUS and GC', () => {
  it('reports a missing readiness file as code 50', async () => {
    const a = attachment();
    const r = await a.call('STATUS', metaConf([MASTER], { readinessindicatorfile: join(tmp, 'absent') }));
    expect(r.json).toMatchObject({ code: 50 });
  });

  it('GC deletes attachments the runtime no longer has', async () => {
    const keep = attachment();
    const drop = attachment();
    const conf = metaConf([MASTER, PTP]);
    expect((await keep.call('ADD', conf)).code).toBe(0);
    expect((await drop.call('ADD', conf)).code).toBe(0);
    expect(reservations()).toHaveLength(4);
    const gc = await runWith(
      meta,
      { CNI_COMMAND: 'GC', CNI_PATH: REFERENCE_PLUGIN_DIR },
      JSON.stringify({
        ...conf,
        'cni.dev/valid-attachments': [{ containerID: keep.env.CNI_CONTAINERID, ifname: 'eth0' }],
      }),
    );
    expect(gc.code, gc.stdout).toBe(0);
    expect(reservations()).toHaveLength(2);
    expect(podLinks(drop.pod.name)).toEqual(['lo']);
    expect(podLinks(keep.pod.name)).toEqual(expect.arrayContaining(['eth0', 'net1']));
    expect((await keep.call('DEL', conf)).code).toBe(0);
  });
});
