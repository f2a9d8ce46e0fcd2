/**
 * Multi-homing through the built executable driven by libcni: the packet socket of the
 * native addon as the single executable extracts it, policy rules, one default route with an
 * external delegate (Debian's ptp) whose IPAM gives one too, CHECK and DEL from libcni's own
 * result cache, and an address conflict refused with everything rolled back.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ip, ipJson, isolateHost, newNetns } from '../helpers/host.ts';
import { cniAdd, cniCheck, cniDel, writeConfFile } from '../helpers/libcni.ts';
import { REFERENCE_PLUGIN_DIR, requireReferencePlugins } from '../helpers/reference.ts';
import { scratchDir } from '../helpers/scratch.ts';

const BIN = resolve('dist/bin');
isolateHost();
const tmp = scratchDir('mf-e2e-mh-');
const dataDir = join(tmp, 'ipam');
let holder = '';

beforeAll(() => {
  if (!existsSync(join(BIN, 'manifold')))
    throw new Error('dist/bin/manifold is missing: run ./build.sh first');
  requireReferencePlugins('ptp', 'host-local');
  // mh0: eth0's master, its peer in a namespace holding 10.64.0.77
  holder = newNetns('mfh').name;
  ip('link', 'add', 'mh0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', holder);
  ip('link', 'set', 'mh0', 'up');
  ip('-n', holder, 'addr', 'add', '10.64.0.77/24', 'dev', 'eth0');
  ip('-n', holder, 'link', 'set', 'address', '02:00:00:00:64:77', 'dev', 'eth0');
  ip('-n', holder, 'link', 'set', 'eth0', 'up');
});

function conf(name: string, range: object, extra: object = {}) {
  return {
    cniVersion: '1.0.0',
    name,
    plugins: [
      {
        type: 'manifold',
        cniDir: join(tmp, 'cache'),
        logFile: join(tmp, 'manifold.log'),
        delegates: [
          {
            name: 'mv',
            type: 'macvlan',
            master: 'mh0',
            ipam: { type: 'host-local', dataDir, ranges: [[range]], routes: [{ dst: '0.0.0.0/0' }] },
          },
          {
            name: 'pp',
            type: 'ptp',
            ipam: { type: 'host-local', dataDir, subnet: '10.65.0.0/24', routes: [{ dst: '0.0.0.0/0' }] },
          },
        ],
        ...extra,
      },
    ],
  };
}

function opts(file: string, netns: string, id: string) {
  return {
    conf: file,
    netns,
    ifname: 'eth0',
    containerId: id,
    cniPath: [BIN, REFERENCE_PLUGIN_DIR],
    cacheDir: join(tmp, 'libcni'),
  };
}

function reservations(): string[] {
  if (!existsSync(dataDir)) return [];
  return readdirSync(dataDir).flatMap((n) =>
    readdirSync(join(dataDir, n)).filter((f) => /^\d+\.\d+/.test(f)),
  );
}

function sourceRules(ns: string): { src: string; table: string }[] {
  return ipJson<{ src: string; table: string }[]>('-n', ns, 'rule', 'show').filter((r) => r.src !== 'all');
}

describe('multi-homing through libcni', () => {
  it('every option on: one default route, a table for ptp, CHECK passes, DEL leaves no rule', async () => {
    const pod = newNetns();
    const c = conf(
      'mh-on',
      { subnet: '10.64.0.0/24', rangeStart: '10.64.0.10' },
      {
        policyRouting: true,
        addressConflictCheck: true,
        announce: true,
        gatewayCheck: 'warn',
        multihomeSysctls: true,
        macFromIPv4: '0a:58',
      },
    );
    const o = opts(writeConfFile(c, tmp), pod.path, 'e2emh1');
    const add = await cniAdd(o);
    expect(add.ok, JSON.stringify(add)).toBe(true);
    if (!add.ok) return;
    const routes = add.result.routes ?? [];
    expect(routes.filter((r) => r.dst === '0.0.0.0/0')).toHaveLength(1);
    expect(ipJson<{ dev: string }[]>('-n', pod.name, 'route', 'show', 'default').map((r) => r.dev)).toEqual([
      'eth0',
    ]);
    const eth0 = add.result.interfaces?.find((i) => i.name === 'eth0' && i.sandbox);
    expect(eth0?.mac).toMatch(/^0a:58:0a:40:00:/);
    const net1 = add.result.ips?.find((i) => i.address.startsWith('10.65.'))?.address.split('/')[0];
    expect(sourceRules(pod.name)).toEqual([expect.objectContaining({ src: net1 })]);
    const check = await cniCheck(o);
    expect(check.ok, JSON.stringify(check)).toBe(true);
    const del = await cniDel(o);
    expect(del.ok, JSON.stringify(del)).toBe(true);
    expect(sourceRules(pod.name)).toEqual([]);
    expect(reservations()).toEqual([]);
  });

  it('addressConflictCheck refuses an address another host holds and rolls everything back', async () => {
    const pod = newNetns();
    const c = conf(
      'mh-dup',
      { subnet: '10.64.0.0/24', rangeStart: '10.64.0.77', rangeEnd: '10.64.0.77' },
      {
        addressConflictCheck: true,
      },
    );
    const add = await cniAdd(opts(writeConfFile(c, tmp), pod.path, 'e2emh2'));
    expect(add.ok).toBe(false);
    if (add.ok) return;
    expect(add.error.msg).toBe(
      'failed to claim address "10.64.0.77" on interface "eth0": already in use by 02:00:00:00:64:77',
    );
    expect(ipJson<{ ifname: string }[]>('-n', pod.name, 'link', 'show').map((l) => l.ifname)).toEqual(['lo']);
    expect(reservations()).toEqual([]);
  });
});
