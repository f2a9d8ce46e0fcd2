/**
 * ipvlan without a kernel: its config (the reference's fields, `flags`, the defaults), and the
 * plugin driven through the skel into a missing netns, fuzzed — every input is a CNI error
 * with a known code and nothing is reserved. The kernel side (l2/l3/l3s, chaining, side by
 * side with the reference) is test/vm/ipvlan.vm.test.ts: this host's kernel has no ipvlan.
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { fuzzSkel } from '../../test/helpers/fuzz.ts';
import { builtinLoader, cniErrorOf, runWith } from '../../test/helpers/skel.ts';
import { parseIpvlanConf } from './config.ts';

const base = { cniVersion: '1.0.0', name: 'ipv', type: 'ipvlan' };
const NO_NETNS = '/run/netns/manifold-ipvlan-test-does-not-exist';
const work = mkdtempSync(join(tmpdir(), 'mf-ipvlan-unit-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('ipvlan config', () => {
  it('accepts the reference fields and applies the defaults (l2, flags bridge)', () => {
    expect(parseIpvlanConf({ ...base })).toMatchObject({ effectiveMode: 'l2', effectiveFlag: 'bridge' });
    expect(parseIpvlanConf({ ...base, mode: '' }).effectiveMode).toBe('l2');
    for (const mode of ['l2', 'l3', 'l3s'])
      expect(parseIpvlanConf({ ...base, mode }).effectiveMode).toBe(mode);
    for (const flags of ['bridge', 'private', 'vepa'])
      expect(parseIpvlanConf({ ...base, flags }).effectiveFlag).toBe(flags);
    expect(
      parseIpvlanConf({ ...base, master: 'eth1', mtu: 1400, linkInContainer: true, other: [1] }),
    ).toMatchObject({ master: 'eth1', mtu: 1400, linkInContainer: true });
  });

  it.each([
    [{ mode: 'l4' }, 'mode: expected one of "", "l2", "l3", "l3s"; got "l4"'],
    [{ flags: 'open' }, 'flags: expected one of "bridge", "private", "vepa"; got "open"'],
    [{ mtu: 67 }, 'mtu: must be 0 (default) or at least 68; got 67'],
    [{ mtu: 2 ** 32 }, /^mtu: must have ≤ 4294967295/],
    [{ master: 'a'.repeat(16) }, 'master: interface name is longer than 15 bytes; got "aaaaaaaaaaaaaaaa"'],
    [{ master: 'é'.repeat(8) }, /^master: interface name is longer than 15 bytes/],
    [{ master: 'eth/0' }, 'master: interface name contains "/", ":" or white space; got "eth/0"'],
    [{ linkInContainer: 'yes' }, 'linkInContainer: expected boolean, got string "yes"'],
  ])('refuses %j with code 7 naming the field', (raw, msg) => {
    const e = cniErrorOf(() => parseIpvlanConf({ ...base, ...raw }));
    expect(e.code).toBe(7);
    if (typeof msg === 'string') expect(e.message).toBe(msg);
    else expect(e.message).toMatch(msg);
  });
});

const ipvlan = builtinLoader('ipvlan');
const env = () => ({ CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'fz', CNI_NETNS: NO_NETNS, CNI_IFNAME: 'net1' });
const conf = {
  ...base,
  master: 'eth0',
  mode: 'l3',
  ipam: {
    type: 'host-local',
    dataDir: join(work, 'ipam'),
    ranges: [[{ subnet: '10.33.0.0/24' }]],
    routes: [{ dst: '0.0.0.0/0' }],
  },
};

describe('ipvlan through the skel (ADD into a missing netns)', () => {
  it('reports the missing netns as code 8 after validating the config', async () => {
    const out = await runWith(ipvlan, env(), JSON.stringify(conf));
    expect(out.json).toEqual({
      cniVersion: '1.0.0',
      code: 8,
      msg: `failed to open netns "${NO_NETNS}": no such file or directory`,
    });
    const bad = await runWith(ipvlan, env(), JSON.stringify({ ...conf, mode: 'l9' }));
    expect(bad.json).toMatchObject({ code: 7, msg: expect.stringMatching(/^mode: /) });
  });

  it('answers any mutation of the config with a CNI error of a known code', async () => {
    await fuzzSkel(ipvlan, conf, {
      env,
      allowed: [1, 4, 6, 7, 8],
      dataDir: join(work, 'ipam'),
      numRuns: 300,
    });
  });

  it('reserves nothing for any of it', () => {
    let files: string[] = [];
    try {
      files = readdirSync(join(work, 'ipam', 'ipv')).filter(
        (f) => f !== 'lock' && !f.startsWith('last_reserved_ip'),
      );
    } catch {
      // never even created
    }
    expect(files).toEqual([]);
  });
});
