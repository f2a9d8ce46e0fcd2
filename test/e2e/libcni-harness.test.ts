/**
 * Proves the e2e harness (test/helpers/libcni.ts → libcni → plugin) with Debian's reference
 * plugins before any manifold code is trusted to it: every verb, every result version the
 * harness will be asked to compare, both config file forms. Also pins what Debian's libcni
 * 1.1.2 does at its edges (CHECK before 0.4.0, cniVersion 1.1.0), which manifold's e2e tests
 * must work around.
 */
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ip, ipJson, isolateHost, newNetns, requireRoot, uniq } from '../helpers/host.ts';
import {
  buildCnitest,
  type CniResult,
  cniAdd,
  cniCheck,
  cniDel,
  cniVersionInfo,
  type LibcniOptions,
  writeConfFile,
  writeNetworkFile,
} from '../helpers/libcni.ts';
import { requireReferencePlugins } from '../helpers/reference.ts';

requireRoot();
const CNI_PATH = requireReferencePlugins('macvlan', 'bridge', 'host-local');
isolateHost();

const MASTER = 'm0'; // macvlan parent, a veth made in the isolated host below
let work: string; // temp root: configs, host-local dataDir, libcni cache
let dataDir: string;
let cacheDir: string;

beforeAll(async () => {
  await buildCnitest();
  work = mkdtempSync(join(tmpdir(), 'manifold-e2e-harness-'));
  dataDir = join(work, 'ipam');
  cacheDir = join(work, 'libcni');
  ip('link', 'add', MASTER, 'type', 'veth', 'peer', 'name', `${MASTER}p`);
  ip('link', 'set', MASTER, 'up');
  ip('link', 'set', `${MASTER}p`, 'up'); // carrier, so the macvlan comes up for real
});

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

type AddrShow = { ifname: string; addr_info: { family: string; local: string; prefixlen: number }[] }[];

const VERSIONS = ['0.3.1', '0.4.0', '1.0.0'] as const;
const FORMS = ['conf', 'conflist'] as const;
let subnetSeq = 0;

/** A reference plugin config and where its pod interface sits in the result's interfaces. */
function pluginConf(plugin: 'macvlan' | 'bridge', subnet: string): { conf: object; podIndex: number } {
  const ipam = { type: 'host-local', dataDir, ranges: [[{ subnet }]] };
  if (plugin === 'macvlan')
    return { conf: { type: 'macvlan', master: MASTER, mode: 'bridge', ipam }, podIndex: 0 };
  // bridge answers [bridge, host veth, pod veth]; a bridge per case keeps cases independent.
  return { conf: { type: 'bridge', bridge: uniq('mfb'), isGateway: true, ipam }, podIndex: 2 };
}

describe.each(['macvlan', 'bridge'] as const)('%s + host-local through libcni', (plugin) => {
  describe.each(VERSIONS)('cniVersion %s', (cniVersion) => {
    it.each(FORMS)('ADD, CHECK, DEL from a .%s file', async (form) => {
      const name = uniq('e2e-');
      const net24 = `10.77.${++subnetSeq}`;
      const subnet = `${net24}.0/24`;
      const { conf, podIndex } = pluginConf(plugin, subnet);
      const file = writeNetworkFile(form, { cniVersion, name }, conf, work);
      const pod = newNetns();
      const opts: LibcniOptions = {
        conf: file,
        netns: pod.path,
        ifname: 'net1',
        containerId: uniq('ctr'),
        cniPath: CNI_PATH,
        cacheDir,
      };

      const added = await cniAdd(opts);
      if (!added.ok) expect.fail(`ADD failed: ${JSON.stringify(added.error)}\n${added.stderr}`);
      const result: CniResult = added.result;
      expect(result.cniVersion).toBe(cniVersion);
      expect(result.interfaces?.[podIndex]).toMatchObject({ name: 'net1', sandbox: pod.path });
      const resultIp = result.ips?.[0];
      expect(resultIp?.interface).toBe(podIndex);
      expect(resultIp?.version).toBe(cniVersion === '1.0.0' ? undefined : '4'); // gone in 1.0.0
      const address = resultIp?.address ?? '';
      const [addr, prefix] = address.split('/');
      expect(address.startsWith(`${net24}.`)).toBe(true);

      const shown = ipJson<AddrShow>('-n', pod.name, 'addr', 'show', 'dev', 'net1');
      expect(shown[0]?.addr_info).toContainEqual(
        expect.objectContaining({ family: 'inet', local: addr, prefixlen: Number(prefix) }),
      );
      const reservation = join(dataDir, name, addr ?? '');
      expect(readFileSync(reservation, 'utf8')).toBe(`${opts.containerId}\r\nnet1`);
      const cached = join(cacheDir, 'results', `${name}-${opts.containerId}-net1`);
      expect(existsSync(cached)).toBe(true);

      const checked = await cniCheck(opts);
      if (cniVersion === '0.3.1') {
        // libcni refuses by itself (a plain Go error, hence code 0); the plugin is never run.
        expect(checked).toMatchObject({
          ok: false,
          error: { code: 0, msg: 'configuration version "0.3.1" does not support the CHECK command' },
        });
      } else {
        expect(checked).toMatchObject({ ok: true, result: {} });
      }

      expect(await cniDel(opts)).toMatchObject({ ok: true, result: {} });
      const links = ipJson<{ ifname: string }[]>('-n', pod.name, 'link', 'show');
      expect(links.map((l) => l.ifname)).not.toContain('net1');
      expect(existsSync(reservation)).toBe(false);
      expect(existsSync(cached)).toBe(false);
    });
  });
});

describe('Debian libcni 1.1.2 at its edges', () => {
  it('reports what a plugin supports through VERSION', async () => {
    const info = await cniVersionInfo('macvlan', CNI_PATH);
    expect(info.ok && info.result.supportedVersions).toEqual([
      '0.1.0',
      '0.2.0',
      '0.3.0',
      '0.3.1',
      '0.4.0',
      '1.0.0',
    ]);
  });

  it('reports a missing plugin as its own error, code 0', async () => {
    const info = await cniVersionInfo('no-such-plugin', CNI_PATH);
    expect(info).toMatchObject({
      ok: false,
      error: { code: 0, msg: expect.stringContaining('failed to find plugin') },
    });
  });

  const v110 = (type: string, cniPath: string): LibcniOptions & { cached: string } => {
    const name = uniq('v110-');
    const containerId = uniq('ctr');
    return {
      conf: writeConfFile({ cniVersion: '1.1.0', name, type, master: MASTER }, work),
      netns: newNetns().path,
      ifname: 'net1',
      containerId,
      cniPath,
      cacheDir,
      cached: join(cacheDir, 'results', `${name}-${containerId}-net1`),
    };
  };

  it('passes cniVersion 1.1.0 through; the 1.0.0 reference plugin refuses with its CNI error', async () => {
    const added = await cniAdd(v110('macvlan', CNI_PATH));
    expect(added).toMatchObject({
      ok: false,
      error: {
        code: 1,
        msg: 'incompatible CNI versions',
        details: expect.stringContaining('config is "1.1.0"'),
        text: expect.stringMatching(/^plugin type="macvlan" name="v110-\w+" failed \(add\): /),
      },
    });
  });

  it('runs a 1.1.0 plugin’s ADD, then cannot parse its 1.1.0 result and caches nothing', async () => {
    // A stand-in for a plugin that speaks 1.1.0 (as manifold does): it logs its verbs and
    // answers ADD with a valid 1.1.0 result.
    const dir = mkdtempSync(join(work, 'fake-'));
    const log = join(dir, 'verbs');
    const result = { cniVersion: '1.1.0', ips: [{ address: '10.1.0.2/24' }] };
    writeFileSync(
      join(dir, 'speaks110'),
      `#!/bin/sh\ncat >/dev/null\necho "$CNI_COMMAND" >>${log}\n` +
        `[ "$CNI_COMMAND" = ADD ] && echo '${JSON.stringify(result)}'\nexit 0\n`,
    );
    chmodSync(join(dir, 'speaks110'), 0o755);
    const opts = v110('speaks110', dir);

    const added = await cniAdd(opts);
    expect(added).toMatchObject({
      ok: false,
      error: { code: 0, msg: expect.stringContaining('unsupported CNI result version "1.1.0"') },
    });
    expect(readFileSync(log, 'utf8')).toBe('ADD\n'); // the plugin did its work anyway
    expect(existsSync(opts.cached)).toBe(false);
    // DEL still runs the plugin, with no prevResult to go on.
    expect(await cniDel(opts)).toMatchObject({ ok: true });
    expect(readFileSync(log, 'utf8')).toBe('ADD\nDEL\n');
  });
});
