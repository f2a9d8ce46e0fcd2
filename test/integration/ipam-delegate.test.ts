/**
 * External IPAM: macvlan with an `ipam.type` that is not built in runs that plugin from
 * CNI_PATH (src/invoke/exec.ts). Proven with Debian's real host-local and static (linked
 * into a CNI_PATH directory under other names, so manifold cannot answer them in-process),
 * and with a recording stand-in for the verbs the 1.0.0 reference does not speak.
 * Also: manifold's static and host-local give the same result JSON as Debian's.
 */
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execCni } from '../helpers/exec-plugin.ts';
import { ip, isolateHost, newNetns, requireRoot, uniq } from '../helpers/host.ts';
import { addrs, type Call, cni, ok, podLinks, reservation, reservations, routes } from '../helpers/inproc.ts';
import { REFERENCE_PLUGIN_DIR, requireReferencePlugins } from '../helpers/reference.ts';

requireRoot();
requireReferencePlugins('host-local', 'static');
isolateHost();

const MASTER = 'dmst0';
let work: string;
let bin: string; // CNI_PATH: ref-host-local, ref-static, recorder
let dataDir: string;
let recordLog: string;

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'manifold-it-ipam-'));
  bin = join(work, 'bin');
  dataDir = join(work, 'ipam');
  recordLog = join(work, 'recorder.log');
  mkdirSync(bin);
  symlinkSync(join(REFERENCE_PLUGIN_DIR, 'host-local'), join(bin, 'ref-host-local'));
  symlinkSync(join(REFERENCE_PLUGIN_DIR, 'static'), join(bin, 'ref-static'));
  // a stand-in IPAM that speaks 1.1.0: records verb, env and stdin; answers ADD with an address
  writeFileSync(
    join(bin, 'recorder'),
    [
      '#!/bin/sh',
      'in=$(cat)',
      `printf '%s %s %s %s %s|%s\\n' "$CNI_COMMAND" "$CNI_CONTAINERID" "$CNI_NETNS" "$CNI_IFNAME" "$CNI_PATH" "$in" >> ${recordLog}`,
      'if [ "$CNI_COMMAND" = VERSION ]; then echo \'{"cniVersion":"1.1.0","supportedVersions":["1.0.0","1.1.0"]}\'; exit 0; fi',
      'if [ "$CNI_COMMAND" = ADD ]; then echo \'{"cniVersion":"1.1.0","ips":[{"address":"10.79.0.9/24","gateway":"10.79.0.1"}],"routes":[{"dst":"10.78.0.0/16"}]}\'; fi',
      'if [ "$CNI_COMMAND" = STATUS ] && [ -e ' +
        join(work, 'unhealthy') +
        ' ]; then echo \'{"cniVersion":"1.1.0","code":50,"msg":"pool is gone"}\'; exit 1; fi',
      'exit 0',
    ].join('\n'),
  );
  chmodSync(join(bin, 'recorder'), 0o755);
  ip('link', 'add', MASTER, 'type', 'veth', 'peer', 'name', `${MASTER}p`);
  ip('link', 'set', MASTER, 'up');
  ip('link', 'set', `${MASTER}p`, 'up');
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

let seq = 0;
function conf(ipam: Record<string, unknown>, cniVersion = '1.0.0') {
  const n = ++seq;
  return { cniVersion, name: `dl${n}`, type: 'macvlan', master: MASTER, ipam, n };
}
function pod(): Call & { name: string } {
  const p = newNetns();
  return { name: p.name, netns: p.path, containerId: uniq('ctr'), ifname: 'net1', path: [bin] };
}

describe('macvlan with Debian’s host-local executed from CNI_PATH', () => {
  it.each(['0.3.1', '0.4.0', '1.0.0'])('ADD, CHECK, DEL (cniVersion %s)', async (cniVersion) => {
    const c = conf(
      {
        type: 'ref-host-local',
        dataDir,
        ranges: [[{ subnet: '10.75.0.0/24' }]],
        routes: [{ dst: '0.0.0.0/0' }],
      },
      cniVersion,
    );
    const p = pod();
    const result = ok(await cni('macvlan', 'ADD', c, p));
    expect(result).toMatchObject({
      cniVersion,
      ips: [{ interface: 0, address: '10.75.0.2/24', gateway: '10.75.0.1' }],
      routes: [{ dst: '0.0.0.0/0' }],
    });
    // the reference binary wrote the store; manifold configured the kernel from its result
    expect(reservations(dataDir, c.name)).toEqual(['10.75.0.2']);
    expect(reservation(dataDir, c.name, '10.75.0.2')).toBe(`${p.containerId}\r\nnet1`);
    expect(addrs(p.name, 'net1')).toEqual(['10.75.0.2/24']);
    expect(routes(p.name, 'net1').find((r) => r.dst === 'default')?.gateway).toBe('10.75.0.1');
    if (cniVersion !== '0.3.1') {
      expect(await cni('macvlan', 'CHECK', { ...c, prevResult: result }, p)).toMatchObject({ code: 0 });
    }
    expect(await cni('macvlan', 'DEL', { ...c, prevResult: result }, p)).toMatchObject({
      code: 0,
      stdout: '',
    });
    expect(reservations(dataDir, c.name)).toEqual([]);
    expect(podLinks(p.name)).toEqual([]);
  });

  it('passes the environment on: CNI_ARGS IP= reaches the reference and picks the address', async () => {
    const c = conf({ type: 'ref-host-local', dataDir, ranges: [[{ subnet: '10.75.1.0/24' }]] });
    const p = { ...pod(), args: 'IgnoreUnknown=1;IP=10.75.1.77' };
    const result = ok(await cni('macvlan', 'ADD', c, p));
    expect(result.ips).toEqual([{ interface: 0, address: '10.75.1.77/24', gateway: '10.75.1.1' }]);
    ok(await cni('macvlan', 'DEL', c, p));
  });

  it('passes the reference’s error on, and removes the link (exhausted pool)', async () => {
    const c = conf({
      type: 'ref-host-local',
      dataDir,
      ranges: [[{ subnet: '10.75.2.0/24', rangeStart: '10.75.2.5', rangeEnd: '10.75.2.5' }]],
    });
    const p1 = pod();
    ok(await cni('macvlan', 'ADD', c, p1));
    const p2 = pod();
    const r = await cni('macvlan', 'ADD', c, p2);
    expect(r.json).toEqual({
      cniVersion: '1.0.0',
      code: 999,
      msg: 'failed to allocate for range 0: no IP addresses available in range set: 10.75.2.5-10.75.2.5',
    });
    expect(podLinks(p2.name)).toEqual([]);
    ok(await cni('macvlan', 'DEL', c, p1));
  });

  it('runs IPAM DEL when a later step fails, so the reference’s reservation goes too', async () => {
    const c = conf({
      type: 'ref-host-local',
      dataDir,
      ranges: [[{ subnet: '10.75.3.0/24' }]],
      routes: [{ dst: '10.99.0.0/16', gw: '203.0.113.1' }],
    });
    const p = pod();
    const r = await cni('macvlan', 'ADD', c, p);
    expect(r.json?.msg).toMatch(/^failed to add route 10\.99\.0\.0\/16 via 203\.0\.113\.1/);
    expect(reservations(dataDir, c.name)).toEqual([]);
    expect(podLinks(p.name)).toEqual([]);
  });

  it('releases the address on DEL with an empty CNI_NETNS and with the netns gone', async () => {
    const c = conf({ type: 'ref-host-local', dataDir, ranges: [[{ subnet: '10.75.4.0/24' }]] });
    const p = pod();
    ok(await cni('macvlan', 'ADD', c, p));
    ok(await cni('macvlan', 'DEL', c, { ...p, netns: '' }));
    expect(reservations(dataDir, c.name)).toEqual([]);
    const p2 = pod();
    ok(await cni('macvlan', 'ADD', c, p2));
    ip('netns', 'del', p2.name);
    ok(await cni('macvlan', 'DEL', c, p2));
    expect(reservations(dataDir, c.name)).toEqual([]);
  });
});

describe('macvlan with Debian’s static executed from CNI_PATH', () => {
  it('ADD, CHECK, DEL', async () => {
    const c = conf({
      type: 'ref-static',
      addresses: [{ address: '10.76.0.5/24', gateway: '10.76.0.1' }, { address: 'fd76::5/64' }],
      routes: [{ dst: '0.0.0.0/0' }],
      dns: { nameservers: ['10.76.0.53'] },
    });
    const p = pod();
    const result = ok(await cni('macvlan', 'ADD', c, p));
    expect(result).toMatchObject({
      ips: [
        { interface: 0, address: '10.76.0.5/24', gateway: '10.76.0.1' },
        { interface: 0, address: 'fd76::5/64' },
      ],
      routes: [{ dst: '0.0.0.0/0' }],
      dns: { nameservers: ['10.76.0.53'] },
    });
    expect(addrs(p.name, 'net1').sort()).toEqual(['10.76.0.5/24', 'fd76::5/64']);
    expect(await cni('macvlan', 'CHECK', { ...c, prevResult: result }, p)).toMatchObject({ code: 0 });
    ok(await cni('macvlan', 'DEL', { ...c, prevResult: result }, p));
    expect(podLinks(p.name)).toEqual([]);
  });

  it('passes a CNI_ARGS parse error of the reference on (it needs IgnoreUnknown)', async () => {
    const c = conf({ type: 'ref-static', addresses: [{ address: '10.76.1.5/24' }] });
    const p = { ...pod(), args: 'K8S_POD_NAME=x' };
    const r = await cni('macvlan', 'ADD', c, p);
    expect(r.code).toBe(1);
    expect(r.json?.msg).toMatch(/unknown args \["K8S_POD_NAME/i);
    expect(podLinks(p.name)).toEqual([]);
  });
});

describe('delegation mechanics', () => {
  it('forwards every verb with the attachment’s env and the whole config (recording stand-in, 1.1.0)', async () => {
    writeFileSync(recordLog, '');
    const c = conf({ type: 'recorder', some: 'field' }, '1.1.0');
    const p = pod();
    const result = ok(await cni('macvlan', 'ADD', c, p));
    expect(result.ips).toEqual([{ interface: 0, address: '10.79.0.9/24', gateway: '10.79.0.1' }]);
    expect(routes(p.name, 'net1').find((r) => r.dst === '10.78.0.0/16')?.gateway).toBe('10.79.0.1');
    ok(await cni('macvlan', 'CHECK', { ...c, prevResult: result }, p));
    ok(await cni('macvlan', 'STATUS', c, { ...p, netns: '', containerId: '', ifname: '' }));
    ok(
      await cni(
        'macvlan',
        'GC',
        { ...c, 'cni.dev/valid-attachments': [{ containerID: p.containerId, ifname: 'net1' }] },
        { ...p, netns: '', containerId: '', ifname: '' },
      ),
    );
    ok(await cni('macvlan', 'DEL', c, p));
    const lines = readFileSync(recordLog, 'utf8').trim().split('\n');
    // STATUS asks VERSION first (an IPAM older than 1.1.0 cannot answer STATUS)
    expect(lines.map((l) => l.split(' ')[0])).toEqual(['ADD', 'CHECK', 'VERSION', 'STATUS', 'GC', 'DEL']);
    const [head, stdin] = (lines[0] ?? '').split('|');
    expect(head).toBe(`ADD ${p.containerId} ${p.netns} net1 ${bin}`);
    expect(JSON.parse(stdin ?? '')).toEqual({
      cniVersion: '1.1.0',
      name: c.name,
      type: 'macvlan',
      master: MASTER,
      ipam: c.ipam,
      n: c.n,
    });
    expect(JSON.parse((lines[1] ?? '').split('|')[1] ?? '').prevResult).toEqual(result);
    expect(JSON.parse((lines[4] ?? '').split('|')[1] ?? '')['cni.dev/valid-attachments']).toEqual([
      { containerID: p.containerId, ifname: 'net1' },
    ]);
    // an IPAM that cannot serve: STATUS says so with its own code
    writeFileSync(join(work, 'unhealthy'), '');
    expect((await cni('macvlan', 'STATUS', c, { ...p, netns: '' })).json).toMatchObject({
      code: 50,
      msg: 'pool is gone',
    });
    rmSync(join(work, 'unhealthy'));
  });

  it('the 1.0.0 reference does not know the 1.1.0 verbs: STATUS skips it, ADD passes its refusal on', async () => {
    const c = conf({ type: 'ref-host-local', dataDir, ranges: [[{ subnet: '10.75.9.0/24' }]] }, '1.1.0');
    const r = await cni('macvlan', 'STATUS', c, { ...pod(), netns: '' });
    expect([r.code, r.stdout]).toEqual([0, '']);
    // and it refuses a 1.1.0 config for ADD: nothing is created
    const p = pod();
    const add = await cni('macvlan', 'ADD', c, p);
    expect(add.json).toMatchObject({ code: 1, msg: 'incompatible CNI versions' });
    expect(podLinks(p.name)).toEqual([]);
  });

  it('refuses an ipam.type with "/" or ".." (code 7), and says where it looked for a missing one', async () => {
    for (const type of ['../bin/ref-host-local', `${bin}/ref-host-local`, '..']) {
      const p = pod();
      const r = await cni('macvlan', 'ADD', conf({ type }), p);
      expect(r.json).toMatchObject({
        code: 7,
        msg: expect.stringMatching(/^ipam\.type: invalid plugin type/),
      });
      expect(podLinks(p.name)).toEqual([]);
    }
    const p = pod();
    const missing = await cni('macvlan', 'ADD', conf({ type: 'no-such-ipam' }), p);
    expect(missing.json?.msg).toBe(`failed to find plugin "no-such-ipam" in path [${bin}]`);
    expect(podLinks(p.name)).toEqual([]);
    const { path: _none, ...noPath } = pod();
    const empty = await cni('macvlan', 'ADD', conf({ type: 'ref-host-local' }), noPath);
    expect(empty.json?.msg).toBe('failed to find plugin "ref-host-local": CNI_PATH is empty');
    expect(podLinks(noPath.name)).toEqual([]);
  });
});

describe('manifold’s IPAM plugins print what Debian’s print', () => {
  const callIpam = async (which: 'ref' | 'mf', type: 'static' | 'host-local', c: object, args?: string) => {
    const call = {
      containerId: uniq('c'),
      netns: '/run/netns/none',
      ifname: 'eth0',
      ...(args ? { args } : {}),
    };
    if (which === 'ref') {
      const r = await execCni(
        join(REFERENCE_PLUGIN_DIR, type),
        { command: 'ADD', ...call, path: [REFERENCE_PLUGIN_DIR] },
        c,
      );
      return r.json;
    }
    return (await cni(type, 'ADD', c, call)).json;
  };

  it.each([
    [{ addresses: [{ address: '10.1.2.3/24', gateway: '10.1.2.1' }, { address: 'fd00::5/64' }] }, undefined],
    [
      {
        addresses: [{ address: 'FD00:0::0005/64', gateway: 'FD00::1' }],
        routes: [{ dst: 'FD09::/64', gw: 'FD00::1' }],
      },
      undefined,
    ],
    [
      {
        addresses: [{ address: '10.1.2.3/8' }],
        routes: [{ dst: '0.0.0.0/0' }, { dst: '10.9.0.0/16', gw: '10.1.2.254' }],
      },
      undefined,
    ],
    [
      {
        addresses: [{ address: '10.1.2.3/24' }],
        dns: { nameservers: ['10.0.0.53'], domain: 'x', search: ['a'], options: ['o'] },
      },
      undefined,
    ],
    [
      { addresses: [{ address: '10.1.2.3/24' }] },
      'IgnoreUnknown=1;IP=10.2.0.5/24,fd02::5/64;GATEWAY=10.2.0.1',
    ],
  ])('static %j %s', async (ipam, args) => {
    for (const cniVersion of ['0.3.1', '0.4.0', '1.0.0']) {
      const c = { cniVersion, name: 'cmp', type: 'static', ipam: { type: 'static', ...ipam } };
      expect(await callIpam('mf', 'static', c, args), cniVersion).toEqual(
        await callIpam('ref', 'static', c, args),
      );
    }
  });

  it('static with args.cni.ips and runtimeConfig.ips', async () => {
    const c = {
      cniVersion: '1.0.0',
      name: 'cmp',
      type: 'static',
      args: { cni: { ips: ['10.3.0.5/24'] } },
      runtimeConfig: { ips: ['10.4.0.5/24'] },
      ipam: { type: 'static', addresses: [{ address: '10.1.2.3/24' }] },
    };
    expect(await callIpam('mf', 'static', c)).toEqual(await callIpam('ref', 'static', c));
  });
});
