/**
 * manifold inspect on a planted node: attachments from the meta-plugin's caches (written by
 * the cache's own writer), a leaked host-local reservation in a dataDir a cache names and one
 * in a dataDir a conf dir names, a reservation the runtime's own libcni cache claims (not a
 * leak), a cache whose netns is gone, a cache that cannot be read.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli } from '../../../test/helpers/cli.ts';
import { scratchDir } from '../../../test/helpers/scratch.ts';
import { writeCache } from '../../meta/cache.ts';
import type { Inspection } from './survey.ts';

const root = scratchDir('mf-inspect-');
const cniDir = join(root, 'cache');
const dataDir = join(root, 'ipam');
const confDir = join(root, 'net.d');
const otherData = join(root, 'ipam-other');
const libcni = join(root, 'libcni');

function reserve(dir: string, network: string, ip: string, owner: string): void {
  mkdirSync(join(dir, network), { recursive: true });
  writeFileSync(join(dir, network, ip), owner);
}

const net = {
  cniVersion: '1.0.0',
  name: 'mv',
  type: 'macvlan',
  master: 'eth1',
  ipam: { type: 'host-local', dataDir, subnet: '10.1.0.0/24' },
};
const result = {
  cniVersion: '1.0.0',
  interfaces: [{ name: 'eth0', sandbox: '/x' }],
  ips: [{ address: '10.1.0.2/24', gateway: '10.1.0.1', interface: 0 }],
};

function plant(): void {
  const entry = (ifname: string, withResult: boolean) => ({
    source: 'delegates[0]',
    ifname,
    master: true,
    defaultRoute: false,
    network: net,
    ...(withResult ? { result } : {}),
  });
  writeCache(cniDir, {
    kind: 'manifoldCacheV2',
    networkName: 'pod-nets',
    containerId: 'c-alive',
    ifname: 'eth0',
    netns: '/proc/self/ns/net',
    cniVersion: '1.1.0',
    delegates: [entry('eth0', true)],
  });
  writeCache(cniDir, {
    kind: 'manifoldCacheV2',
    networkName: 'pod-nets',
    containerId: 'c-gone',
    ifname: 'eth0',
    netns: join(root, 'netns-that-is-gone'),
    cniVersion: '1.1.0',
    delegates: [entry('eth0', false)],
  });
  writeFileSync(join(cniDir, 'pod-nets-c-broken-eth0'), '{"kind": "manifoldCacheV2", "trunc');
  reserve(dataDir, 'mv', '10.1.0.2', 'c-alive\r\neth0');
  reserve(dataDir, 'mv', '10.1.0.3', 'c-gone\r\neth0');
  reserve(dataDir, 'mv', '10.1.0.66', 'ghost-pod\r\nnet1');
  reserve(dataDir, 'mv', '10.1.0.7', 'rt-pod\r\neth0');
  writeFileSync(join(dataDir, 'mv', 'last_reserved_ip.0'), '10.1.0.66');
  writeFileSync(join(dataDir, 'mv', 'lock'), '');
  // the runtime runs "mv" itself for rt-pod: libcni's cache claims that one
  mkdirSync(join(libcni, 'results'), { recursive: true });
  writeFileSync(
    join(libcni, 'results', 'mv-rt-pod-eth0'),
    JSON.stringify({ kind: 'cniCacheV1', containerId: 'rt-pod', ifName: 'eth0', networkName: 'mv' }),
  );
  // a network of the conf dir, with its own store and a leak in it
  mkdirSync(confDir, { recursive: true });
  writeFileSync(
    join(confDir, '10-other.conf'),
    JSON.stringify({
      ...net,
      name: 'other',
      ipam: { type: 'host-local', dataDir: otherData, subnet: '10.2.0.0/24' },
    }),
  );
  reserve(otherData, 'other', '10.2.0.9', 'old-pod\r\neth0');
}
plant();

const args = ['--cni-dir', cniDir, '--conf-dir', confDir, '--cache-dir', libcni];

describe('inspect', () => {
  it('finds the attachments, the planted leaks, the GC candidate and the unreadable cache', async () => {
    const r = await cli(['inspect', '--json', ...args]);
    expect(r.code, r.err).toBe(0);
    const j = JSON.parse(r.out) as Inspection;
    expect(j.attachments.map((a) => [a.containerId, a.netnsState])).toEqual([
      ['c-alive', 'alive'],
      ['c-gone', 'gone'],
    ]);
    expect(j.attachments[0]?.interfaces).toEqual([
      { ifname: 'eth0', network: 'mv', types: ['macvlan'], ips: ['10.1.0.2/24'], incomplete: false },
    ]);
    expect(j.attachments[1]?.interfaces[0]?.incomplete).toBe(true);
    expect(j.leaks.map((l) => [l.file, l.containerId, l.ifname])).toEqual([
      [join(dataDir, 'mv', '10.1.0.66'), 'ghost-pod', 'net1'],
      [join(otherData, 'other', '10.2.0.9'), 'old-pod', 'eth0'],
    ]);
    expect(j.gcCandidates.map((a) => a.containerId)).toEqual(['c-gone']);
    expect(j.unreadable).toEqual([
      { file: join(cniDir, 'pod-nets-c-broken-eth0'), reason: expect.stringMatching(/^not JSON: /) },
    ]);
    expect(j.dataDirs).toEqual(expect.arrayContaining([dataDir, otherData, '/var/lib/cni/networks']));
  });

  it('in text', async () => {
    const r = await cli(['inspect', ...args]);
    expect(r.out).toMatch(
      /^attachments: 2 \(caches in .*cache\)\n {2}pod-nets: container c-alive, eth0, netns \/proc\/self\/ns\/net \(alive\), age \d+s\n {4}eth0 {3}mv \(macvlan\): 10\.1\.0\.2\/24\n/,
    );
    expect(r.out).toMatch(/\n {4}eth0 {3}mv \(macvlan\): no address — its ADD never completed\n/);
    expect(r.out).toMatch(/\nleaked addresses: 2 \(host-local reservations no attachment claims; stores in /);
    expect(r.out).toMatch(/\n {2}\S+\/mv\/10\.1\.0\.66: container ghost-pod, net1, age \d+s\n/);
    expect(r.out).toMatch(
      /\ncaches whose netns is gone \(GC candidates\): 1\n {2}\S+pod-nets-c-gone-eth0: container c-gone, eth0, netns /,
    );
    expect(r.out).toMatch(/\ncaches that cannot be read: 1\n/);
  });

  it('nothing to report on an empty node', async () => {
    const empty = scratchDir('mf-inspect-empty-');
    const r = await cli(['inspect', '--json', '--cni-dir', empty, '--conf-dir', empty, '--cache-dir', empty]);
    const j = JSON.parse(r.out) as Inspection;
    expect([j.attachments, j.gcCandidates, j.unreadable]).toEqual([[], [], []]);
  });
});
