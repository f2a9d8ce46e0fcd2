import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { fuzzSkel } from '../../test/helpers/fuzz.ts';
import { builtinLoader, cniErrorOf, cniRejectionOf, runWith } from '../../test/helpers/skel.ts';
import {
  type HostLocal,
  hostLocalAdd,
  hostLocalCheck,
  hostLocalDel,
  hostLocalGc,
  hostLocalStatus,
  loadHostLocal,
} from './host-local.ts';

const root = mkdtempSync(join(tmpdir(), 'manifold-hl-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

let dataDir: string;
let seq = 0;
beforeEach(() => {
  dataDir = join(root, `d${++seq}`);
});

const NET = 'hlnet';
const args = (s: Record<string, string> = {}) => new Map(Object.entries(s));

function conf(ipam: Record<string, unknown>, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    cniVersion: '1.0.0',
    name: NET,
    type: 'host-local',
    ...extra,
    ipam: { type: 'host-local', dataDir, ...ipam },
  };
}
const load = (ipam: Record<string, unknown>, extra: Record<string, unknown> = {}, cniArgs = args()) =>
  loadHostLocal(conf(ipam, extra), cniArgs);

const dir = () => join(dataDir, NET);
const file = (name: string) => readFileSync(join(dir(), name), 'utf8');
const ipFiles = () =>
  readdirSync(dir())
    .filter((f) => /^[0-9a-f:.]+$/.test(f) && f !== 'lock')
    .sort();

async function addrOf(hl: HostLocal, id: string, ifname = 'eth0'): Promise<string[]> {
  const r = await hostLocalAdd(hl, id, ifname, '1.0.0');
  return (r.ips ?? []).map((i) => i.address);
}

describe('loadHostLocal', () => {
  it('orders range sets as the reference: runtime ipRanges, the legacy range, then ranges', () => {
    const hl = load(
      { subnet: '10.1.0.0/24', ranges: [[{ subnet: '10.2.0.0/24' }]] },
      { runtimeConfig: { ipRanges: [[{ subnet: '10.3.0.0/24' }]] } },
    );
    expect(hl.sets.map((s) => s.map((r) => `${r.subnet.ip.bytes[1]}`).join())).toEqual(['3', '1', '2']);
  });

  it('takes requested IPs from CNI_ARGS IP=, args.cni.ips and runtimeConfig.ips', () => {
    const hl = load(
      { ranges: [[{ subnet: '10.1.0.0/24' }], [{ subnet: 'fd00::/64' }]] },
      { args: { cni: { ips: ['fd00::9'] } }, runtimeConfig: { ips: ['10.1.0.9/24'] } },
      args({ IP: '10.1.0.8' }),
    );
    expect(hl.requested.length).toBe(3);
  });

  it.each([
    [{ ranges: [] }, {}, 'ipam.ranges: no IP ranges specified'],
    [{}, {}, 'ipam.ranges: no IP ranges specified'],
    [
      { ranges: [[{ subnet: '10.1.0.0/24' }], [{ subnet: '10.1.0.0/25' }]] },
      {},
      /^ipam\.ranges\[1\]: range set 1 overlaps/,
    ],
    [{ ranges: [[{ subnet: 'nope' }]] }, {}, /^ipam\.ranges\[0\]\[0\]\.subnet: /],
    [
      { ranges: [[{ subnet: '10.1.0.0/24', rangeStart: 7 }]] },
      {},
      /^ipam\.ranges\[0\]\[0\]\.rangeStart: expected string/,
    ],
    [
      { ranges: [[{ subnet: '10.1.0.0/24' }]], dataDir: 'relative/dir' },
      {},
      /^ipam\.dataDir: must be an absolute path/,
    ],
    [
      { ranges: [[{ subnet: '10.1.0.0/24' }]], routes: [{ dst: '0.0.0.0' }] },
      {},
      /^ipam\.routes\[0\]\.dst: /,
    ],
    [{ subnet: '10.1.0.5/24' }, {}, /^ipam\.subnet: .*host bits/],
    [
      { ranges: [[{ subnet: '10.1.0.0/24' }]] },
      { runtimeConfig: { ips: ['x'] } },
      /^runtimeConfig\.ips\[0\]: /,
    ],
    [
      { ranges: [[{ subnet: '10.1.0.0/24' }]] },
      { runtimeConfig: { ipRanges: [[]] } },
      /^runtimeConfig\.ipRanges\[0\]: empty range set/,
    ],
  ])('refuses %j %j with code 7 naming the field', (ipam, extra, msg) => {
    const e = cniErrorOf(() => load(ipam, extra));
    expect(e.code).toBe(7);
    expect(e.message).toMatch(msg);
  });

  it('refuses a bad CNI_ARGS IP', () => {
    const e = cniErrorOf(() => load({ subnet: '10.1.0.0/24' }, {}, args({ IP: '10.1.0.300' })));
    expect(e).toMatchObject({ code: 7, message: expect.stringMatching(/^CNI_ARGS IP: /) });
  });
});

describe('hostLocalAdd / Del on disk, in the reference format', () => {
  it('hands out addresses in order, one file per IP holding "containerID\\r\\nifname"', async () => {
    const hl = load({ ranges: [[{ subnet: '10.5.0.0/29' }]] });
    expect(await addrOf(hl, 'c1')).toEqual(['10.5.0.2/29']);
    expect(await addrOf(hl, 'c2', 'net1')).toEqual(['10.5.0.3/29']);
    expect(file('10.5.0.2')).toBe('c1\r\neth0');
    expect(file('10.5.0.3')).toBe('c2\r\nnet1');
    expect(file('last_reserved_ip.0')).toBe('10.5.0.3');
    expect(existsSync(join(dir(), 'lock'))).toBe(true);
    expect(statSync(join(dir(), '10.5.0.2')).mode & 0o777).toBe(0o600);
    expect(readdirSync(dir()).filter((f) => f.startsWith('.'))).toEqual([]); // no temp files left
    await hostLocalDel(hl, 'c1', 'eth0');
    expect(ipFiles()).toEqual(['10.5.0.3']);
    // round robin: the freed .2 comes back only after the rest of the range
    expect(await addrOf(hl, 'c3')).toEqual(['10.5.0.4/29']);
  });

  it('returns the gateway, the routes and the resolv.conf DNS', async () => {
    const resolv = join(root, `resolv${seq}.conf`);
    writeFileSync(resolv, 'nameserver 10.0.0.53\nsearch a.example b.example\noptions ndots:2\n');
    const hl = load({
      ranges: [[{ subnet: '10.5.0.0/24', gateway: '10.5.0.254' }]],
      routes: [{ dst: '0.0.0.0/0' }, { dst: '10.9.0.0/16', gw: '10.5.0.1', mtu: 1400 }],
      resolvConf: resolv,
    });
    const r = await hostLocalAdd(hl, 'c1', 'eth0', '0.4.0');
    expect(r).toEqual({
      cniVersion: '0.4.0',
      ips: [{ address: '10.5.0.1/24', gateway: '10.5.0.254' }],
      routes: [{ dst: '0.0.0.0/0' }, { dst: '10.9.0.0/16', gw: '10.5.0.1', mtu: 1400 }],
      dns: { nameservers: ['10.0.0.53'], search: ['a.example', 'b.example'], options: ['ndots:2'] },
    });
  });

  it('fails on an unreadable resolvConf before reserving anything', async () => {
    const hl = load({ ranges: [[{ subnet: '10.5.0.0/24' }]], resolvConf: join(root, 'no-such-resolv.conf') });
    const e = await cniRejectionOf(hostLocalAdd(hl, 'c1', 'eth0', '1.0.0'));
    expect(e.message).toMatch(/^failed to read resolvConf ".*no-such-resolv\.conf": /);
    expect(existsSync(dir()) ? ipFiles() : []).toEqual([]);
  });

  it('gives one address per range set (dual stack), tracked per set', async () => {
    const hl = load({ ranges: [[{ subnet: '10.5.0.0/24' }], [{ subnet: 'fd05::/64' }]] });
    expect(await addrOf(hl, 'c1')).toEqual(['10.5.0.2/24', 'fd05::2/64']);
    expect(file('last_reserved_ip.0')).toBe('10.5.0.2');
    expect(file('last_reserved_ip.1')).toBe('fd05::2');
    expect(file('fd05::2')).toBe('c1\r\neth0');
  });

  it('gives requested addresses, from any source, in the range set they belong to', async () => {
    const hl = load(
      { ranges: [[{ subnet: '10.5.0.0/24' }], [{ subnet: 'fd05::/64' }]] },
      { args: { cni: { ips: ['fd05::99'] } } },
      args({ IP: '10.5.0.77' }),
    );
    expect(await addrOf(hl, 'c1')).toEqual(['10.5.0.77/24', 'fd05::99/64']);
    expect(file('last_reserved_ip.0')).toBe('10.5.0.77');
  });

  it('rewrites last_reserved_ip in place: a shorter address leaves nothing of the longer one', async () => {
    const ranges = [[{ subnet: '10.5.0.0/24' }]];
    expect(await addrOf(load({ ranges }, {}, args({ IP: '10.5.0.177' })), 'c1')).toEqual(['10.5.0.177/24']);
    expect(file('last_reserved_ip.0')).toBe('10.5.0.177');
    expect(await addrOf(load({ ranges }, {}, args({ IP: '10.5.0.7' })), 'c2')).toEqual(['10.5.0.7/24']);
    expect(file('last_reserved_ip.0')).toBe('10.5.0.7');
  });

  it('leaves no reservation behind when it cannot record last_reserved_ip', async () => {
    const hl = load({ ranges: [[{ subnet: '10.5.0.0/24' }]] });
    mkdirSync(join(dir(), 'last_reserved_ip.0'), { recursive: true }); // rename onto a directory fails
    const e = await cniRejectionOf(hostLocalAdd(hl, 'c1', 'eth0', '1.0.0'));
    expect(e.message).toMatch(/^failed to write ".*last_reserved_ip\.0": /);
    expect(ipFiles()).toEqual([]);
    expect(readdirSync(dir()).filter((f) => f.startsWith('.'))).toEqual([]);
  });

  it('reads a requested IPv4-mapped IPv6 address as the IPv4 address (as the reference)', async () => {
    const hl = load(
      { ranges: [[{ subnet: '10.5.0.0/24' }]] },
      { args: { cni: { ips: ['::ffff:10.5.0.66'] } } },
    );
    expect(await addrOf(hl, 'c1')).toEqual(['10.5.0.66/24']);
    expect(file('10.5.0.66')).toBe('c1\r\neth0');
  });

  it('refuses a requested gateway, a taken address, and an address outside every set', async () => {
    const hl = load({ ranges: [[{ subnet: '10.5.0.0/24' }]] });
    await addrOf(hl, 'c0'); // 10.5.0.2
    const gw = await cniRejectionOf(
      hostLocalAdd(
        load({ ranges: [[{ subnet: '10.5.0.0/24' }]] }, {}, args({ IP: '10.5.0.1' })),
        'c1',
        'eth0',
        '1.0.0',
      ),
    );
    expect(gw.message).toBe("failed to allocate for range 0: requested ip 10.5.0.1 is subnet's gateway");
    const taken = await cniRejectionOf(
      hostLocalAdd(
        load({ ranges: [[{ subnet: '10.5.0.0/24' }]] }, {}, args({ IP: '10.5.0.2' })),
        'c1',
        'eth0',
        '1.0.0',
      ),
    );
    expect(taken.message).toBe(
      'failed to allocate for range 0: requested IP address 10.5.0.2 is not available in range set 10.5.0.1-10.5.0.254',
    );
    const outside = await cniRejectionOf(
      hostLocalAdd(
        load({ ranges: [[{ subnet: '10.5.0.0/24' }]] }, {}, args({ IP: '10.6.0.2' })),
        'c1',
        'eth0',
        '1.0.0',
      ),
    );
    expect(outside.message).toBe('failed to allocate all requested IPs: 10.6.0.2');
    expect(ipFiles()).toEqual(['10.5.0.2']); // nothing of c1 left behind
    expect(file('10.5.0.2')).toBe('c0\r\neth0');
  });

  it('refuses a second allocation for the same attachment and keeps the first one', async () => {
    const hl = load({ ranges: [[{ subnet: '10.5.0.0/24' }], [{ subnet: 'fd05::/64' }]] });
    expect(await addrOf(hl, 'c1')).toEqual(['10.5.0.2/24', 'fd05::2/64']);
    const e = await cniRejectionOf(hostLocalAdd(hl, 'c1', 'eth0', '1.0.0'));
    expect(e.message).toBe(
      'failed to allocate for range 0: 10.5.0.2 has been allocated to c1, duplicate allocation is not allowed',
    );
    // the live attachment keeps its addresses: a failed repeat must not release them
    expect(ipFiles()).toEqual(['10.5.0.2', 'fd05::2']);
    // another ifname of the same container is another attachment
    expect(await addrOf(hl, 'c1', 'net1')).toEqual(['10.5.0.3/24', 'fd05::3/64']);
  });

  it('undoes the allocations of earlier sets when a later set is exhausted', async () => {
    const hl = load({ ranges: [[{ subnet: '10.5.0.0/24' }], [{ subnet: '10.6.0.0/30' }]] });
    expect(await addrOf(hl, 'c1')).toEqual(['10.5.0.2/24', '10.6.0.2/30']);
    const e = await cniRejectionOf(hostLocalAdd(hl, 'c2', 'eth0', '1.0.0'));
    expect(e).toMatchObject({
      code: 999,
      message: 'failed to allocate for range 1: no IP addresses available in range set: 10.6.0.1-10.6.0.2',
    });
    expect(ipFiles()).toEqual(['10.5.0.2', '10.6.0.2']);
  });

  it('reports an exhausted pool as the reference does, and STATUS says 50', async () => {
    const hl = load({
      ranges: [[{ subnet: '10.5.0.0/24', rangeStart: '10.5.0.10', rangeEnd: '10.5.0.11' }]],
    });
    await hostLocalStatus(hl);
    await addrOf(hl, 'c1');
    await addrOf(hl, 'c2');
    const e = await cniRejectionOf(hostLocalAdd(hl, 'c3', 'eth0', '1.0.0'));
    expect(e.message).toBe(
      'failed to allocate for range 0: no IP addresses available in range set: 10.5.0.10-10.5.0.11',
    );
    expect((await cniRejectionOf(hostLocalStatus(hl))).code).toBe(50);
    await hostLocalDel(hl, 'c1', 'eth0');
    await hostLocalStatus(hl);
  });

  it('DEL releases by containerID and ifname only, is repeatable, and reads id-only files of old versions', async () => {
    const hl = load({ ranges: [[{ subnet: '10.5.0.0/24' }]] });
    await addrOf(hl, 'c1', 'eth0');
    await addrOf(hl, 'c1', 'net1');
    await hostLocalDel(hl, 'c1', 'net1');
    await hostLocalDel(hl, 'c1', 'net1');
    expect(ipFiles()).toEqual(['10.5.0.2']);
    writeFileSync(join(dir(), '10.5.0.50'), 'old-ctr'); // written by a pre-ifname reference version
    await hostLocalCheck(hl, 'old-ctr', 'eth0');
    await hostLocalDel(hl, 'old-ctr', 'eth0');
    expect(ipFiles()).toEqual(['10.5.0.2']);
    await hostLocalDel(load({ ranges: [[{ subnet: '10.7.0.0/24' }]] }), 'nobody', 'eth0'); // empty store
  });

  it('DEL removes the temp file of a writer killed mid-reserve (it holds the lock: none is being written)', async () => {
    const hl = load({ ranges: [[{ subnet: '10.5.0.0/24' }]] });
    await addrOf(hl, 'c1');
    writeFileSync(join(dir(), '.tmp-4242-0badf00d'), 'killed\r\neth0'); // just written, then SIGKILL
    await hostLocalDel(hl, 'killed', 'eth0');
    expect(readdirSync(dir()).filter((f) => f.startsWith('.tmp-'))).toEqual([]);
    expect(ipFiles()).toEqual(['10.5.0.2']);
  });

  it('treats reservations written by the reference (files it made, with its last_reserved_ip) as its own', async () => {
    const hl = load({ ranges: [[{ subnet: '10.5.0.0/24' }]] });
    mkdirSync(dir(), { recursive: true });
    writeFileSync(join(dir(), '10.5.0.2'), 'ref1\r\neth0');
    writeFileSync(join(dir(), '10.5.0.3'), 'ref2\r\neth0');
    writeFileSync(join(dir(), 'last_reserved_ip.0'), '10.5.0.3');
    expect(await addrOf(hl, 'c1')).toEqual(['10.5.0.4/24']);
    await hostLocalCheck(hl, 'ref1', 'eth0');
    await hostLocalDel(hl, 'ref2', 'eth0');
    expect(ipFiles()).toEqual(['10.5.0.2', '10.5.0.4']);
  });

  it('CHECK fails for an attachment with nothing reserved', async () => {
    const hl = load({ ranges: [[{ subnet: '10.5.0.0/24' }]] });
    await addrOf(hl, 'c1');
    await hostLocalCheck(hl, 'c1', 'eth0');
    expect((await cniRejectionOf(hostLocalCheck(hl, 'c2', 'eth0'))).message).toBe(
      'host-local: failed to find address added by container c2',
    );
  });

  it('GC releases every reservation not in the valid attachments', async () => {
    const hl = load({ ranges: [[{ subnet: '10.5.0.0/24' }], [{ subnet: 'fd05::/64' }]] });
    await addrOf(hl, 'keep', 'eth0');
    await addrOf(hl, 'keep', 'net1');
    await addrOf(hl, 'gone', 'eth0');
    writeFileSync(join(dir(), '10.5.0.99'), 'keep'); // old id-only file of a kept container
    writeFileSync(join(dir(), '10.5.0.98'), 'oldgone');
    await hostLocalGc(hl, [{ containerID: 'keep', ifname: 'eth0' }]);
    expect(ipFiles()).toEqual(['10.5.0.2', '10.5.0.99', 'fd05::2']);
    expect(existsSync(join(dir(), 'last_reserved_ip.0'))).toBe(true);
    await hostLocalGc(hl, []);
    expect(ipFiles()).toEqual([]);
  });

  it('never hands out one address twice under concurrent ADDs (flock)', async () => {
    const hl = load({ ranges: [[{ subnet: '10.5.0.0/24' }], [{ subnet: 'fd05::/120' }]] });
    const results = await Promise.all(Array.from({ length: 40 }, (_, i) => addrOf(hl, `c${i}`)));
    const v4 = results.map((r) => r[0]);
    expect(new Set(v4).size).toBe(40);
    expect(new Set(results.map((r) => r[1])).size).toBe(40);
    expect(ipFiles().length).toBe(80);
    await Promise.all(Array.from({ length: 40 }, (_, i) => hostLocalDel(hl, `c${i}`, 'eth0')));
    expect(ipFiles()).toEqual([]);
  });
});

describe('host-local through the skel, fuzzed', () => {
  const hl = builtinLoader('host-local');
  let n = 0;
  const env = () => ({
    CNI_COMMAND: 'ADD',
    CNI_CONTAINERID: `fz${++n}`,
    CNI_NETNS: '/run/netns/manifold-fuzz-does-not-exist',
    CNI_IFNAME: 'eth0',
  });
  const fuzzBase = {
    cniVersion: '1.0.0',
    name: 'fuzz-hl',
    type: 'host-local',
    args: { cni: { ips: ['10.1.0.15'] } },
    runtimeConfig: { ips: ['fd00:1::15/64'], ipRanges: [[{ subnet: '10.3.0.0/28' }]] },
    ipam: {
      type: 'host-local',
      dataDir: '/placeholder',
      subnet: '10.2.0.0/28',
      ranges: [
        [{ subnet: '10.1.0.0/24', rangeStart: '10.1.0.10', rangeEnd: '10.1.0.20', gateway: '10.1.0.1' }],
        [{ subnet: 'fd00:1::/64' }],
      ],
      routes: [{ dst: '0.0.0.0/0' }, { dst: '10.9.0.0/16', gw: '10.1.0.1' }],
    },
  };

  it('answers a result or a CNI error with a known code, for any mutation of the config', async () => {
    await fuzzSkel(hl, fuzzBase, {
      env,
      allowed: [1, 4, 6, 7],
      // a store that is full, or an address someone else holds, is the reference's plain error
      allow999:
        /^(failed to allocate (for range \d+|all requested IPs)|failed to read resolvConf|failed to create IPAM data directory)/,
      dataDir: join(root, 'fuzz'),
      numRuns: 300,
    });
  });

  it('prints every successful result in the config version, with the addresses it reserved', async () => {
    const out = await runWith(
      hl,
      env(),
      JSON.stringify({ ...fuzzBase, ipam: { ...fuzzBase.ipam, dataDir: join(root, 'ok') } }),
    );
    expect(out.code).toBe(0);
    expect(out.json).toEqual({
      cniVersion: '1.0.0',
      ips: [
        { address: '10.3.0.2/28', gateway: '10.3.0.1' },
        { address: '10.2.0.2/28', gateway: '10.2.0.1' },
        { address: '10.1.0.15/24', gateway: '10.1.0.1' },
        { address: 'fd00:1::15/64', gateway: 'fd00:1::1' },
      ],
      routes: [{ dst: '0.0.0.0/0' }, { dst: '10.9.0.0/16', gw: '10.1.0.1' }],
      dns: {},
    });
  });
});
