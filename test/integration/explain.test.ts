/**
 * manifold explain's prediction equals what ADD then does, on the real kernel: explain first
 * (it must create no link and leave the host-local store byte for byte as it was), then ADD of
 * the same config, container, netns and CNI_ARGS, and the merged result compared — interface
 * names and sandboxes (but the names explain says only ADD chooses), every address with its
 * gateway and interface index, every route, the DNS — for a meta config of four delegates
 * (bridge as the default gateway, macvlan whose default route the merge drops, vxlan in bridge
 * mode with static IPAM, an external ptp) over a store that already holds reservations, and
 * for a plain network with a requested address.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Explanation } from '../../src/cli/explain/explanation.ts';
import { isDecidedAtAdd } from '../../src/cni/explain.ts';
import type { Result } from '../../src/cni/result.ts';
import { cli } from '../helpers/cli.ts';
import { ip, ipJson, isolateHost, newNetns, requireRoot } from '../helpers/host.ts';
import { REFERENCE_PLUGIN_DIR, requireReferencePlugins } from '../helpers/reference.ts';
import { scratchDir } from '../helpers/scratch.ts';
import { builtinLoader, runWith } from '../helpers/skel.ts';

requireRoot();
isolateHost();
const tmp = scratchDir('mf-explain-int-');
const dataDir = join(tmp, 'ipam');
const cniDir = join(tmp, 'cache');

beforeAll(() => {
  requireReferencePlugins('ptp', 'host-local');
  ip('link', 'add', 'xm0', 'type', 'veth', 'peer', 'name', 'xm0p');
  ip('link', 'set', 'xm0', 'up');
  ip('addr', 'add', '192.0.2.1/24', 'dev', 'xm0');
  // the macvlan network's store already holds two reservations: ADD and explain must skip them
  mkdirSync(join(dataDir, 'mv'), { recursive: true });
  writeFileSync(join(dataDir, 'mv', '10.71.0.10'), 'someone\r\neth0');
  writeFileSync(join(dataDir, 'mv', '10.71.0.12'), 'someone-else\r\nnet1');
  writeFileSync(join(dataDir, 'mv', 'last_reserved_ip.0'), '10.71.0.11');
});

function snapshot(d: string): string[] {
  if (!existsSync(d)) return [];
  return readdirSync(d, { recursive: true, withFileTypes: true })
    .map((e) => {
      const p = join(e.parentPath, e.name);
      return `${p} ${statSync(p).mtimeMs} ${e.isFile() ? readFileSync(p, 'utf8') : '/'}`;
    })
    .sort();
}

const hostLinks = () =>
  ipJson<{ ifname: string }[]>('link', 'show')
    .map((l) => l.ifname)
    .sort();

/** What explain can know of a result: names (but the ones ADD picks), sandboxes, addresses, routes, DNS. */
function comparable(r: Result): unknown {
  return {
    interfaces: (r.interfaces ?? []).map((i) => ({
      name: isDecidedAtAdd(i.name) ? '<at ADD>' : i.name,
      sandbox: i.sandbox ?? null,
    })),
    ips: (r.ips ?? []).map((i) => ({
      address: i.address,
      gateway: i.gateway ?? null,
      interface: i.interface ?? null,
    })),
    routes: (r.routes ?? []).map((x) => ({ dst: x.dst, gw: x.gw ?? null })),
    dns: r.dns ?? {},
  };
}

function placeholders(actual: Result, predicted: Result): Result {
  return {
    ...actual,
    interfaces: (actual.interfaces ?? []).map((i, k) => {
      const p = predicted.interfaces?.[k]?.name;
      return p && isDecidedAtAdd(p) ? { ...i, name: p } : i;
    }),
  };
}

async function explainThenAdd(
  type: string,
  conf: object,
  env: Record<string, string>,
): Promise<{ predicted: Explanation; actual: Result }> {
  const file = join(tmp, `${(conf as { name: string }).name}.conf`);
  writeFileSync(file, JSON.stringify(conf));
  const before = { store: snapshot(dataDir), caches: snapshot(cniDir), links: hostLinks() };
  const r = await cli(
    [
      'explain',
      '--json',
      '--container-id',
      env.CNI_CONTAINERID as string,
      '--netns',
      env.CNI_NETNS as string,
      '--ifname',
      env.CNI_IFNAME as string,
      file,
    ],
    { env: { CNI_PATH: env.CNI_PATH ?? '', ...(env.CNI_ARGS ? { CNI_ARGS: env.CNI_ARGS } : {}) } },
  );
  expect(r.code, r.out + r.err).toBe(0);
  // a dry run: no link made, the store untouched, no cache written
  expect(hostLinks()).toEqual(before.links);
  expect(snapshot(dataDir)).toEqual(before.store);
  expect(snapshot(cniDir)).toEqual(before.caches);
  const add = await runWith(builtinLoader(type), { ...env, CNI_COMMAND: 'ADD' }, JSON.stringify(conf), type);
  expect(add.code, add.stdout).toBe(0);
  return { predicted: JSON.parse(r.out) as Explanation, actual: add.json as unknown as Result };
}

describe('explain, then ADD', () => {
  it('a meta config of four delegates over a store with reservations', async () => {
    const pod = newNetns();
    const conf = {
      cniVersion: '1.1.0',
      name: 'pod-nets',
      type: 'manifold',
      cniDir,
      delegates: [
        {
          cniVersion: '1.0.0',
          name: 'br',
          type: 'bridge',
          bridge: 'xbr0',
          isDefaultGateway: true,
          ipam: {
            type: 'host-local',
            dataDir,
            ranges: [[{ subnet: '10.70.0.0/24', rangeStart: '10.70.0.10' }]],
            routes: [{ dst: '10.170.0.0/16' }],
          },
        },
        {
          cniVersion: '1.0.0',
          name: 'mv',
          type: 'macvlan',
          master: 'xm0',
          ipam: {
            type: 'host-local',
            dataDir,
            ranges: [
              [
                {
                  subnet: '10.71.0.0/24',
                  rangeStart: '10.71.0.10',
                  rangeEnd: '10.71.0.20',
                  gateway: '10.71.0.1',
                },
              ],
            ],
            routes: [{ dst: '0.0.0.0/0' }, { dst: '10.171.0.0/16', gw: '10.71.0.254' }],
          },
        },
        {
          cniVersion: '1.0.0',
          name: 'vx',
          type: 'vxlan',
          mode: 'bridge',
          vni: 71,
          port: 4789,
          master: 'xm0',
          remotes: ['192.0.2.2'],
          manifold: { ifname: 'ovl0' },
          ipam: {
            type: 'static',
            addresses: [{ address: '10.72.0.5/24', gateway: '10.72.0.1' }],
            routes: [{ dst: '10.172.0.0/16' }],
            dns: { nameservers: ['10.72.0.53'] },
          },
        },
        {
          cniVersion: '1.0.0',
          name: 'pp',
          type: 'ptp',
          ipam: { type: 'host-local', dataDir, subnet: '10.73.0.0/24' },
        },
      ],
    };
    const env = {
      CNI_CONTAINERID: 'explain-c1',
      CNI_NETNS: pod.path,
      CNI_IFNAME: 'eth0',
      CNI_PATH: REFERENCE_PLUGIN_DIR,
    };
    const { predicted, actual } = await explainThenAdd('manifold', conf, env);
    // ptp runs from CNI_PATH: its part is known only at ADD — everything else is predicted
    expect(predicted.complete).toBe(false);
    expect(predicted.attachments.map((a) => a.complete)).toEqual([true, true, true, false]);
    const known = (r: Result): Result => ({
      ...r,
      interfaces: (r.interfaces ?? []).slice(0, 7),
      ips: (r.ips ?? []).filter((i) => (i.interface ?? 99) < 7),
      routes: (r.routes ?? []).filter((x) => !x.dst.startsWith('10.73.')),
    });
    expect(comparable(known(placeholders(actual, predicted.result)))).toEqual(
      comparable(known(predicted.result)),
    );
    // the planted reservations were skipped by both: after 10.71.0.11 comes .12 (taken), then .13
    expect(actual.ips?.map((i) => i.address)).toEqual(
      expect.arrayContaining(['10.70.0.10/24', '10.71.0.13/24', '10.72.0.5/24']),
    );
    const del = await runWith(
      builtinLoader('manifold'),
      { ...env, CNI_COMMAND: 'DEL' },
      JSON.stringify(conf),
    );
    expect(del.code, del.stdout).toBe(0);
  });

  it('multi-homing options: the default route moved to a marked delegate, policy routing, a MAC from IPv4', async () => {
    const pod = newNetns();
    const hl = (subnet: string) => ({ type: 'host-local', dataDir, subnet, routes: [{ dst: '0.0.0.0/0' }] });
    const conf = {
      cniVersion: '1.1.0',
      name: 'mh-nets',
      type: 'manifold',
      cniDir,
      policyRouting: true,
      delegates: [
        { cniVersion: '1.0.0', name: 'mh0', type: 'macvlan', master: 'xm0', ipam: hl('10.75.0.0/24') },
        {
          cniVersion: '1.0.0',
          name: 'mh1',
          type: 'macvlan',
          master: 'xm0',
          manifold: { defaultRoute: true, macFromIPv4: '0a:58' },
          ipam: hl('10.76.0.0/24'),
        },
      ],
    };
    const env = { CNI_CONTAINERID: 'explain-mh', CNI_NETNS: pod.path, CNI_IFNAME: 'eth0' };
    const { predicted, actual } = await explainThenAdd('manifold', conf, env);
    expect(comparable(actual)).toEqual(comparable(predicted.result));
    expect(predicted.result.routes).toEqual([{ dst: '0.0.0.0/0', gw: '10.76.0.1' }]);
    const mac = (r: Result) => r.interfaces?.find((i) => i.name === 'net1')?.mac;
    expect(mac(predicted.result)).toBe('0a:58:0a:4c:00:02');
    expect(mac(actual)).toBe(mac(predicted.result));
    const del = await runWith(
      builtinLoader('manifold'),
      { ...env, CNI_COMMAND: 'DEL' },
      JSON.stringify(conf),
    );
    expect(del.code, del.stdout).toBe(0);
  });

  it('a plain macvlan network with a requested address (CNI_ARGS IP=)', async () => {
    const pod = newNetns();
    const conf = {
      cniVersion: '1.0.0',
      name: 'mv',
      type: 'macvlan',
      master: 'xm0',
      ipam: {
        type: 'host-local',
        dataDir,
        ranges: [
          [
            {
              subnet: '10.71.0.0/24',
              rangeStart: '10.71.0.10',
              rangeEnd: '10.71.0.20',
              gateway: '10.71.0.1',
            },
          ],
        ],
      },
    };
    const env = {
      CNI_CONTAINERID: 'explain-c2',
      CNI_NETNS: pod.path,
      CNI_IFNAME: 'net7',
      CNI_ARGS: 'IP=10.71.0.17',
    };
    const { predicted, actual } = await explainThenAdd('macvlan', conf, env);
    expect(predicted.complete).toBe(true);
    expect(comparable(actual)).toEqual(comparable(predicted.result));
    expect(actual.ips?.[0]?.address).toBe('10.71.0.17/24');
    await runWith(builtinLoader('macvlan'), { ...env, CNI_COMMAND: 'DEL' }, JSON.stringify(conf));
  });

  it('the next address, twice in a row: explain, ADD, explain again, ADD again', async () => {
    const conf = {
      cniVersion: '1.0.0',
      name: 'seq',
      type: 'macvlan',
      master: 'xm0',
      ipam: { type: 'host-local', dataDir, ranges: [[{ subnet: '10.74.0.0/29' }]] },
    };
    for (const n of [1, 2, 3]) {
      const pod = newNetns();
      const env = { CNI_CONTAINERID: `explain-seq${n}`, CNI_NETNS: pod.path, CNI_IFNAME: 'eth0' };
      const { predicted, actual } = await explainThenAdd('macvlan', conf, env);
      expect(comparable(actual)).toEqual(comparable(predicted.result));
    }
  });
});
