/**
 * manifold inspect on a node the meta-plugin really attached pods on: the attachment with its
 * interfaces and addresses and a live netns; a leak the test plants (a reservation whose pod
 * left no cache) found; the pod's netns deleted without DEL makes its cache a GC candidate;
 * DEL (with the netns gone) leaves only the planted leak, found through the conf dir's config.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Inspection } from '../../src/cli/inspect/survey.ts';
import { cli } from '../helpers/cli.ts';
import { delNetns, ip, isolateHost, newNetns, requireRoot } from '../helpers/host.ts';
import { scratchDir } from '../helpers/scratch.ts';
import { builtinLoader, runWith } from '../helpers/skel.ts';

requireRoot();
isolateHost();
const tmp = scratchDir('mf-inspect-int-');
const cniDir = join(tmp, 'cache');
const dataDir = join(tmp, 'ipam');
const conf = {
  cniVersion: '1.1.0',
  name: 'pod-nets',
  type: 'manifold',
  cniDir,
  delegates: [
    {
      cniVersion: '1.0.0',
      name: 'ia',
      type: 'macvlan',
      master: 'in0',
      ipam: { type: 'host-local', dataDir, subnet: '10.95.0.0/24' },
    },
    {
      cniVersion: '1.0.0',
      name: 'ib',
      type: 'macvlan',
      master: 'in0',
      ipam: { type: 'host-local', dataDir, subnet: '10.96.0.0/24' },
    },
  ],
};

beforeAll(() => {
  ip('link', 'add', 'in0', 'type', 'veth', 'peer', 'name', 'in0p');
  ip('link', 'set', 'in0', 'up');
  // the node's conf dir names the networks, hence their dataDirs, also once no cache is left
  writeFileSync(join(tmp, '00-pod.conf'), JSON.stringify(conf));
});

const inspect = async () => {
  const r = await cli([
    'inspect',
    '--json',
    '--cni-dir',
    cniDir,
    '--conf-dir',
    tmp,
    '--cache-dir',
    join(tmp, 'libcni'),
  ]);
  expect(r.code, r.err).toBe(0);
  return JSON.parse(r.out) as Inspection;
};

describe('inspect on a real node', () => {
  it('an attachment, a planted leak, a GC candidate after the netns died', async () => {
    const pod = newNetns();
    const env = { CNI_CONTAINERID: 'insp-1', CNI_NETNS: pod.path, CNI_IFNAME: 'eth0' };
    const add = await runWith(
      builtinLoader('manifold'),
      { ...env, CNI_COMMAND: 'ADD' },
      JSON.stringify(conf),
    );
    expect(add.code, add.stdout).toBe(0);
    let j = await inspect();
    expect(j.attachments).toEqual([
      expect.objectContaining({
        network: 'pod-nets',
        containerId: 'insp-1',
        netns: pod.path,
        netnsState: 'alive',
        interfaces: [
          { ifname: 'eth0', network: 'ia', types: ['macvlan'], ips: ['10.95.0.2/24'], incomplete: false },
          { ifname: 'net1', network: 'ib', types: ['macvlan'], ips: ['10.96.0.2/24'], incomplete: false },
        ],
      }),
    ]);
    expect(j.leaks).toEqual([]);
    // a pod that is gone without DEL and without its cache: its address leaks
    writeFileSync(join(dataDir, 'ib', '10.96.0.77'), 'vanished-pod\r\nnet1');
    j = await inspect();
    expect(j.leaks.map((l) => [l.network, l.ip, l.containerId, l.ifname])).toEqual([
      ['ib', '10.96.0.77', 'vanished-pod', 'net1'],
    ]);
    // the pod's netns goes away without DEL: its cache is a GC candidate
    delNetns(pod.name);
    j = await inspect();
    expect(j.gcCandidates.map((a) => [a.containerId, a.netnsState])).toEqual([['insp-1', 'gone']]);
    const del = await runWith(
      builtinLoader('manifold'),
      { ...env, CNI_COMMAND: 'DEL' },
      JSON.stringify(conf),
    );
    expect(del.code, del.stdout).toBe(0);
    j = await inspect();
    expect([j.attachments, j.gcCandidates]).toEqual([[], []]);
    expect(j.leaks.map((l) => l.ip)).toEqual(['10.96.0.77']);
  });
});
