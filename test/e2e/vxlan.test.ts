/**
 * The built vxlan (dist/bin) driven by libcni, as containerd and CRI-O drive it: both modes
 * through ADD/CHECK/DEL for every result version libcni speaks, from .conf and .conflist
 * files, with the kernel state checked after each verb. No reference plugin exists to
 * compare with; the integration tier covers the rest (failures, GC, two hosts).
 */
import { execFileSync } from 'node:child_process';
import { accessSync, constants, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ip, ipJson, isolateHost, newNetns, requireRoot, uniq } from '../helpers/host.ts';
import {
  buildCnitest,
  type CniResult,
  cniAdd,
  cniCheck,
  cniDel,
  type LibcniOptions,
  writeNetworkFile,
} from '../helpers/libcni.ts';

requireRoot();
const OURS_PATH = resolve(import.meta.dirname, '../../dist/bin');
try {
  accessSync(join(OURS_PATH, 'vxlan'), constants.X_OK);
} catch {
  throw new Error(`${OURS_PATH}/vxlan is missing: run ./build.sh first`);
}
isolateHost();

const UNDERLAY = 'ul0';
const PEER = '192.168.91.2';
let work: string;

beforeAll(async () => {
  await buildCnitest();
  work = mkdtempSync(join(tmpdir(), 'manifold-e2e-vxlan-'));
  const peer = newNetns('mfhb');
  ip('link', 'add', UNDERLAY, 'type', 'veth', 'peer', 'name', 'ul0p', 'netns', peer.name);
  ip('addr', 'add', '192.168.91.1/24', 'dev', UNDERLAY);
  ip('link', 'set', UNDERLAY, 'up');
  ip('-n', peer.name, 'addr', 'add', `${PEER}/24`, 'dev', 'ul0p');
  ip('-n', peer.name, 'link', 'set', 'ul0p', 'up');
});

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

const VERSIONS = ['0.3.1', '0.4.0', '1.0.0'] as const;
const MODES = ['direct', 'bridge'] as const;
let seq = 0;

interface LinkJson {
  ifname: string;
  mtu: number;
  address: string;
  master?: string;
  link_netnsid?: number;
  linkinfo?: { info_kind?: string; info_data?: Record<string, unknown> };
}

const linkNames = (ns?: string) =>
  ipJson<LinkJson[]>(...(ns ? ['-n', ns] : []), 'link', 'show').map((l) => l.ifname);
const linkShow = (ns: string | undefined, dev: string) =>
  ipJson<LinkJson[]>(...(ns ? ['-n', ns] : []), '-d', 'link', 'show', 'dev', dev)[0];
const fdb = (ns: string | undefined, dev: string): string[] =>
  (
    JSON.parse(
      execFileSync('bridge', [...(ns ? ['-n', ns] : []), '-j', 'fdb', 'show', 'dev', dev], {
        encoding: 'utf8',
      }) || '[]',
    ) as { mac: string; dst?: string }[]
  )
    .filter((e) => e.dst)
    .map((e) => `${e.mac} ${e.dst}`)
    .sort();

function network(cniVersion: string, mode: (typeof MODES)[number], form: 'conf' | 'conflist', vni: number) {
  const net24 = `10.93.${++seq}`;
  const name = uniq('vx-');
  const plugin = {
    type: 'vxlan',
    vni,
    master: UNDERLAY,
    remotes: [PEER],
    fdb: [{ mac: '0a:58:00:00:00:09', dst: '192.168.91.9' }],
    ...(mode === 'bridge' ? { mode } : {}),
    capabilities: { mac: true },
    ipam: {
      type: 'host-local',
      dataDir: join(work, 'ipam'),
      ranges: [[{ subnet: `${net24}.0/24` }]],
      routes: [{ dst: '192.0.2.0/24' }],
    },
  };
  const file = writeNetworkFile(form, { cniVersion, name }, plugin, work);
  return { name, net24, file };
}

function options(file: string, extra: Partial<LibcniOptions> = {}): LibcniOptions & { pod: string } {
  const pod = newNetns();
  return {
    conf: file,
    netns: pod.path,
    ifname: 'net1',
    containerId: uniq('ctr'),
    cniPath: OURS_PATH,
    cacheDir: join(work, 'libcni'),
    pod: pod.name,
    ...extra,
  };
}

describe.each(MODES)('vxlan %s mode through libcni', (mode) => {
  describe.each(VERSIONS)('cniVersion %s', (cniVersion) => {
    it.each(['conf', 'conflist'] as const)('ADD, CHECK, DEL from a .%s file', async (form) => {
      const vni = 500 + seq;
      const net = network(cniVersion, mode, form, vni);
      const opts = options(net.file, { capArgs: { mac: '0a:58:00:00:00:05' } });
      const podIndex = mode === 'bridge' ? 2 : 0;

      const added = await cniAdd(opts);
      if (!added.ok) expect.fail(`ADD failed: ${JSON.stringify(added.error)}\n${added.stderr}`);
      const result: CniResult = added.result;
      expect(result.cniVersion).toBe(cniVersion);
      expect(result.interfaces).toHaveLength(podIndex + 1);
      expect(result.interfaces?.[podIndex]).toMatchObject({
        name: 'net1',
        sandbox: opts.netns,
        mac: '0a:58:00:00:00:05',
      });
      if (mode === 'bridge') expect(result.interfaces?.[0]?.name).toBe(`vxbr${vni}`);
      expect(result.ips?.[0]?.interface).toBe(podIndex);
      expect(result.ips?.[0]?.version).toBe(cniVersion === '1.0.0' ? undefined : '4');
      expect(result.ips?.[0]?.address.startsWith(`${net.net24}.`)).toBe(true);

      const podLink = linkShow(opts.pod, 'net1');
      expect(podLink?.address).toBe('0a:58:00:00:00:05');
      expect(podLink?.mtu).toBe(1450);
      const vxName = mode === 'bridge' ? `vxlan${vni}` : 'net1';
      const vxNs = mode === 'bridge' ? undefined : opts.pod;
      const vx = linkShow(vxNs, vxName);
      expect(vx?.linkinfo?.info_kind).toBe('vxlan');
      expect(vx?.linkinfo?.info_data).toMatchObject({ id: vni, port: 4789, learning: false });
      if (mode === 'direct') expect(vx?.link_netnsid).toBeTypeOf('number');
      else expect(vx?.master).toBe(`vxbr${vni}`);
      expect(fdb(vxNs, vxName)).toEqual([`00:00:00:00:00:00 ${PEER}`, '0a:58:00:00:00:09 192.168.91.9']);
      const routes = ipJson<{ dst: string }[]>('-n', opts.pod, 'route', 'show', 'dev', 'net1').map(
        (r) => r.dst,
      );
      expect(routes).toContain('192.0.2.0/24');
      const [addr] = (result.ips?.[0]?.address ?? '').split('/');
      const reservation = join(work, 'ipam', net.name, addr ?? '');
      expect(readFileSync(reservation, 'utf8')).toBe(`${opts.containerId}\r\nnet1`);

      const checked = await cniCheck(opts);
      if (cniVersion === '0.3.1') expect(checked).toMatchObject({ ok: false, error: { code: 0 } });
      else expect(checked).toMatchObject({ ok: true });
      if (cniVersion !== '0.3.1') {
        execFileSync('bridge', [
          ...(vxNs ? ['-n', vxNs] : []),
          'fdb',
          'del',
          '0a:58:00:00:00:09',
          'dev',
          vxName,
          'dst',
          '192.168.91.9',
        ]);
        expect(await cniCheck(opts)).toMatchObject({
          ok: false,
          error: { code: 999, msg: `vxlan "${vxName}" lacks FDB entry 0a:58:00:00:00:09 dst 192.168.91.9` },
        });
      }

      expect(await cniDel(opts)).toMatchObject({ ok: true });
      expect(linkNames(opts.pod)).toEqual(['lo']);
      expect(existsSync(reservation)).toBe(false);
      if (mode === 'bridge') {
        expect(linkNames()).not.toContain(`vxbr${vni}`);
        expect(linkNames()).not.toContain(`vxlan${vni}`);
      }
      expect(await cniDel(opts)).toMatchObject({ ok: true });
    });
  });
});

describe('vxlan bridge mode through libcni: the shared devices live as long as their pods', () => {
  it('keeps the bridge for the remaining pod and removes it with the last; MAC from CNI_ARGS', async () => {
    const vni = 600;
    const net = network('1.0.0', 'bridge', 'conflist', vni);
    const a = options(net.file, { args: { IgnoreUnknown: '1', MAC: '0a:58:00:00:00:0a' } });
    const b = options(net.file);
    const ra = await cniAdd(a);
    const rb = await cniAdd(b);
    expect(ra.ok && rb.ok).toBe(true);
    expect(linkShow(a.pod, 'net1')?.address).toBe('0a:58:00:00:00:0a');
    expect(ipJson<LinkJson[]>('link', 'show', 'master', `vxbr${vni}`)).toHaveLength(3);
    expect(await cniDel(a)).toMatchObject({ ok: true });
    expect(ipJson<LinkJson[]>('link', 'show', 'master', `vxbr${vni}`)).toHaveLength(2);
    expect(await cniCheck(b)).toMatchObject({ ok: true });
    expect(await cniDel(b)).toMatchObject({ ok: true });
    expect(linkNames()).not.toContain(`vxbr${vni}`);
    expect(linkNames()).not.toContain(`vxlan${vni}`);
  });
});
