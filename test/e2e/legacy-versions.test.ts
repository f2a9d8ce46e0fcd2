/**
 * Spec 0.1.0 and 0.2.0 and the about text, side by side with
 * Debian's reference plugins, through libcni: a config with no cniVersion (cni.dev's own
 * examples have none), with "0.1.0" and with "0.2.0", as .conf and as a conflist chaining the
 * reference tuning (so manifold's 0.2.0 result is a prevResult); the meta-plugin at 0.2.0
 * with a built-in and a reference delegate. Results are compared as libcni returns them.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ip, ipJson, isolateHost, newNetns, requireRoot, uniq } from '../helpers/host.ts';
import { buildCnitest, cniAdd, cniDel, cniVersionInfo, writeConfFile } from '../helpers/libcni.ts';
import { REFERENCE_PLUGIN_DIR, requireReferencePlugins } from '../helpers/reference.ts';

requireRoot();
requireReferencePlugins('macvlan', 'host-local', 'tuning', 'ptp');
const MF_DIR = fileURLToPath(new URL('../../dist/bin/', import.meta.url)).replace(/\/$/, '');
if (!existsSync(join(MF_DIR, 'macvlan')))
  throw new Error(`${MF_DIR}/macvlan is missing: run ./build.sh first`);
isolateHost();

let work: string;
beforeAll(async () => {
  await buildCnitest();
  work = mkdtempSync(join(tmpdir(), 'manifold-e2e-legacy-'));
  process.env.MANIFOLD_NATIVE_DIR = join(work, 'native');
  ip('link', 'add', 'lg0', 'type', 'veth', 'peer', 'name', 'lg0p');
  ip('link', 'set', 'lg0', 'up');
  ip('link', 'set', 'lg0p', 'up');
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

type Impl = 'manifold' | 'reference';
const cniPath = (impl: Impl) =>
  impl === 'manifold' ? [MF_DIR, REFERENCE_PLUGIN_DIR] : [REFERENCE_PLUGIN_DIR];

let seq = 0;
/** One address per family in the pool, so both implementations get the same ones. */
function macvlan(version: string | undefined) {
  const n = ++seq;
  return {
    ...(version === undefined ? {} : { cniVersion: version }),
    name: `lg${n}`,
    type: 'macvlan',
    master: 'lg0',
    ipam: {
      type: 'host-local',
      dataDir: join(work, 'ipam'),
      ranges: [
        [{ subnet: `10.97.${n}.0/24`, rangeStart: `10.97.${n}.9`, rangeEnd: `10.97.${n}.9` }],
        [{ subnet: `fd97:${n}::/64`, rangeStart: `fd97:${n}::9`, rangeEnd: `fd97:${n}::9` }],
      ],
      routes: [{ dst: '0.0.0.0/0' }, { dst: '10.98.0.0/16', gw: `10.97.${n}.254` }, { dst: '::/0' }],
    },
  };
}

async function attachDetach(impl: Impl, file: string, network: string) {
  const pod = newNetns();
  const opts = {
    conf: file,
    netns: pod.path,
    ifname: 'net1',
    containerId: uniq('ctr'),
    cniPath: cniPath(impl),
    cacheDir: join(work, 'libcni'),
  };
  const added = await cniAdd(opts);
  const deleted = await cniDel(opts);
  const store = join(work, 'ipam', network);
  return {
    added,
    deleted,
    podAfterDel: ipJson<{ ifname: string }[]>('-n', pod.name, 'link', 'show').map((l) => l.ifname),
    storeAfterDel: existsSync(store)
      ? readdirSync(store).filter((f) => f !== 'lock' && !f.startsWith('last_'))
      : [],
  };
}

describe.each([
  ['no cniVersion', undefined],
  ['0.1.0', '0.1.0'],
  ['0.2.0', '0.2.0'],
])('libcni, %s, manifold beside the reference', (_, version) => {
  it.each(['conf', 'conflist'] as const)(
    'ADD gives the same 0.2.0-shaped result from a .%s; DEL leaves nothing',
    async (form) => {
      const conf = macvlan(version);
      const tuning = { type: 'tuning', sysctl: { 'net.ipv4.conf.net1.arp_filter': '1' } };
      const file = writeConfFile(
        form === 'conf'
          ? conf
          : {
              ...(version === undefined ? {} : { cniVersion: version }),
              name: conf.name,
              plugins: [{ ...conf, cniVersion: undefined, name: undefined }, tuning],
            },
        work,
      );
      const ref = await attachDetach('reference', file, conf.name);
      const mf = await attachDetach('manifold', file, conf.name);
      expect(ref.added.ok, JSON.stringify(ref.added)).toBe(true);
      expect(mf.added.ok, JSON.stringify(mf.added)).toBe(true);
      if (!ref.added.ok || !mf.added.ok) return;
      expect(mf.added.result).toEqual(ref.added.result);
      const n = conf.name.slice(2);
      expect(mf.added.result).toMatchObject({
        cniVersion: version ?? '0.1.0',
        ip4: { ip: `10.97.${n}.9/24`, routes: [{ dst: '0.0.0.0/0' }, { dst: '10.98.0.0/16' }] },
        ip6: { ip: `fd97:${n}::9/64` },
      });
      for (const r of [ref, mf]) {
        expect(r.deleted).toMatchObject({ ok: true });
        expect(r.podAfterDel).toEqual(['lo']);
        expect(r.storeAfterDel).toEqual([]);
      }
    },
  );
});

describe('VERSION and the about text', () => {
  it('lists every version the reference lists, 0.1.0 and 0.2.0 included', async () => {
    const ref = await cniVersionInfo('macvlan', REFERENCE_PLUGIN_DIR);
    const mf = await cniVersionInfo('macvlan', MF_DIR);
    expect(ref.ok && mf.ok).toBe(true);
    if (!ref.ok || !mf.ok) return;
    expect(mf.result.supportedVersions).toEqual(expect.arrayContaining(ref.result.supportedVersions));
    expect(mf.result.supportedVersions).toEqual([
      '0.1.0',
      '0.2.0',
      '0.3.0',
      '0.3.1',
      '0.4.0',
      '1.0.0',
      '1.1.0',
    ]);
  });

  it('with no CNI_COMMAND: the same exit status, stdout and stderr shape as the reference', () => {
    const run = (file: string) => spawnSync(file, [], { env: {}, input: '', encoding: 'utf8' });
    const ref = run(join(REFERENCE_PLUGIN_DIR, 'macvlan'));
    const mf = run(join(MF_DIR, 'macvlan'));
    expect([mf.status, mf.stdout]).toEqual([ref.status, ref.stdout]);
    expect([ref.status, ref.stdout]).toEqual([0, '']);
    const shape = (s: string) =>
      s.replace(/plugin .*\n/, 'plugin <version>\n').replace(/supported: .*/, 'supported: <list>');
    expect(shape(mf.stderr)).toEqual(shape(ref.stderr));
    expect(mf.stderr).toMatch(
      /^CNI macvlan plugin v\S+\nCNI protocol versions supported: 0\.1\.0, 0\.2\.0, /,
    );
  });
});

describe('the meta-plugin at 0.2.0', () => {
  it('delegates without cniVersion inherit it; the merged result is the 0.2.0 shape; DEL leaves nothing', async () => {
    const mv = macvlan(undefined);
    const n = mv.name.slice(2);
    const conf = {
      cniVersion: '0.2.0',
      name: 'meta-020',
      type: 'manifold',
      cniDir: join(work, 'cache'),
      delegates: [
        { ...mv, name: 'lg-master' },
        {
          cniVersion: '0.2.0',
          name: 'lg-ptp',
          type: 'ptp',
          ipam: { type: 'host-local', dataDir: join(work, 'ipam'), subnet: `10.99.${n}.0/24` },
        },
      ],
    };
    const pod = newNetns();
    const opts = {
      conf: writeConfFile(conf, work),
      netns: pod.path,
      ifname: 'eth0',
      containerId: uniq('meta'),
      cniPath: [MF_DIR, REFERENCE_PLUGIN_DIR],
      cacheDir: join(work, 'libcni'),
    };
    const added = await cniAdd(opts);
    expect(added.ok, JSON.stringify(added)).toBe(true);
    if (!added.ok) return;
    expect(added.result).toMatchObject({ cniVersion: '0.2.0', ip4: { ip: `10.97.${n}.9/24` } });
    expect(
      ipJson<{ ifname: string }[]>('-n', pod.name, 'link', 'show')
        .map((l) => l.ifname)
        .sort(),
    ).toEqual(['eth0', 'lo', 'net1']);
    expect(await cniDel(opts)).toMatchObject({ ok: true });
    expect(ipJson<{ ifname: string }[]>('-n', pod.name, 'link', 'show').map((l) => l.ifname)).toEqual(['lo']);
    expect(readdirSync(join(work, 'cache'))).toEqual([]);
  });
});
