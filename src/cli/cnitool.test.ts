/**
 * cnitool's rules, as manifold add/check/del/gc/status apply them: the container id derived
 * from the netns (checked against sha512sum), CNI_ARGS and CAP_ARGS parsing, the interface
 * name's precedence, the network lookup in NETCONFPATH (conflists first, lexical order, a
 * broken file fails the lookup, libcni's messages), the list's bytes as libcni records them,
 * and libcni's result cache read back in both its forms.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli } from '../../test/helpers/cli.ts';
import { absoluteNetns, containerIdFor, parseCapArgs, parseToolArgs, readToolEnv } from './cnitool-env.ts';
import { cachedAttachments, cacheFile, readCachedResult, writeCachedResult } from './libcni-cache.ts';
import { goJson, loadConfList } from './netconf-path.ts';

describe('cnitool environment', () => {
  it('the container id is cnitool-<first 10 bytes of sha512(netns)>', () => {
    for (const ns of ['/run/netns/demo', '/var/run/netns/a b', '/proc/1/ns/net']) {
      const hex = execFileSync('sh', ['-c', 'printf %s "$1" | sha512sum', 'sh', ns], {
        encoding: 'utf8',
      }).slice(0, 20);
      expect(containerIdFor(ns)).toBe(`cnitool-${hex}`);
    }
    expect(absoluteNetns('pods/../netns/x/', '/run')).toBe('/run/netns/x');
  });

  it('CNI_ARGS: pairs of exactly one "=" with both sides set; CAP_ARGS: a JSON object', () => {
    expect(parseToolArgs('A=1;B=two')).toEqual([
      ['A', '1'],
      ['B', 'two'],
    ]);
    expect(parseToolArgs('')).toEqual([]);
    for (const bad of ['A', 'A=', '=1', 'A=1;', 'A=1=2']) {
      expect(() => parseToolArgs(bad)).toThrow(/^invalid CNI_ARGS pair "/);
    }
    expect(parseCapArgs('{"portMappings":[]}')).toEqual({ portMappings: [] });
    expect(() => parseCapArgs('[1]')).toThrow(/must be a JSON object/);
    expect(() => parseCapArgs('{')).toThrow(/CAP_ARGS: not JSON/);
  });

  it('--ifname, then CNI_IFNAME, then eth0; NETCONFPATH defaults to /etc/cni/net.d', () => {
    expect(readToolEnv({}).ifname).toBe('eth0');
    expect(readToolEnv({ CNI_IFNAME: 'net5' }).ifname).toBe('net5');
    expect(readToolEnv({ CNI_IFNAME: 'net5' }, 'net7').ifname).toBe('net7');
    expect(readToolEnv({}).netconfPath).toBe('/etc/cni/net.d');
    expect(readToolEnv({ CNI_PATH: '/a::/b' }).cniPath).toEqual(['/a', '/b']);
  });
});

describe('NETCONFPATH lookup (libcni LoadConfList)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mf-netconf-'));
  const w = (f: string, v: unknown) =>
    writeFileSync(join(dir, f), typeof v === 'string' ? v : JSON.stringify(v));
  w('20-a.conf', { cniVersion: '1.0.0', name: 'net', type: 'bridge', z: '<&>', a: { y: 1, b: 2 } });
  w('30-b.conflist', { cniVersion: '1.0.0', name: 'net', plugins: [{ type: 'macvlan' }] });
  w('10-c.conflist', { cniVersion: '1.0.0', name: 'other', plugins: [{ type: 'ipvlan' }] });
  w('40-single.json', { cniVersion: '0.4.0', name: 'single', type: 'static' });

  it('conflists first, in lexical order; then .conf/.json wrapped, bytes as Go writes them', () => {
    expect(loadConfList(dir, 'net').file).toBe(join(dir, '30-b.conflist'));
    expect(loadConfList(dir, 'net').bytes.toString()).toBe(readFileSync(join(dir, '30-b.conflist'), 'utf8'));
    const single = loadConfList(dir, 'single');
    expect(single.raw).toEqual({
      cniVersion: '0.4.0',
      name: 'single',
      plugins: [{ cniVersion: '0.4.0', name: 'single', type: 'static' }],
    });
    expect(single.bytes.toString()).toBe(
      '{"cniVersion":"0.4.0","name":"single","plugins":[{"cniVersion":"0.4.0","name":"single","type":"static"}]}',
    );
    expect(goJson({ z: '<&>', a: { y: 1, b: 2 } })).toBe('{"a":{"b":2,"y":1},"z":"\\u003c\\u0026\\u003e"}');
  });

  it("libcni's errors", () => {
    expect(() => loadConfList(dir, 'nope')).toThrow(`no net configuration with name "nope" in ${dir}`);
    const empty = mkdtempSync(join(tmpdir(), 'mf-netconf-empty-'));
    expect(() => loadConfList(empty, 'x')).toThrow(`no net configurations found in ${empty}`);
    expect(() => loadConfList('/nonexistent/dir', 'x')).toThrow(
      'no net configurations found in /nonexistent/dir',
    );
    const broken = mkdtempSync(join(tmpdir(), 'mf-netconf-broken-'));
    writeFileSync(join(broken, '00-x.conflist'), '{"name": "x", "plugins": []}');
    expect(() => loadConfList(broken, 'x')).toThrow(/error parsing configuration list: no plugins in list/);
  });
});

describe("libcni's result cache", () => {
  it('written as libcni writes it, read back; the legacy form is the result itself', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mf-libcni-'));
    const result = { cniVersion: '1.0.0', ips: [{ address: '10.1.0.2/24' }], dns: {} };
    const file = writeCachedResult(dir, {
      networkName: 'mv',
      containerId: 'cnitool-0123456789abcdef0123',
      ifName: 'eth0',
      netns: '/run/netns/x',
      cniArgs: [['A', '1']],
      capabilityArgs: {},
      result,
      config: Buffer.from('{"name":"mv"}'),
    });
    expect(file).toBe(cacheFile(dir, 'mv', 'cnitool-0123456789abcdef0123', 'eth0'));
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, 'results')).mode & 0o777).toBe(0o700);
    const raw = JSON.parse(readFileSync(file, 'utf8'));
    expect(Object.keys(raw)).toEqual([
      'kind',
      'containerId',
      'config',
      'ifName',
      'networkName',
      'netns',
      'cniArgs',
      'result',
    ]);
    expect(Buffer.from(raw.config, 'base64').toString()).toBe('{"name":"mv"}');
    expect(readCachedResult(dir, 'mv', 'cnitool-0123456789abcdef0123', 'eth0')).toEqual(result);
    expect(cachedAttachments(dir).map((a) => [a.networkName, a.ifName, a.netns])).toEqual([
      ['mv', 'eth0', '/run/netns/x'],
    ]);
    mkdirSync(join(dir, 'results'), { recursive: true });
    writeFileSync(cacheFile(dir, 'old', 'c', 'eth0'), JSON.stringify(result));
    expect(readCachedResult(dir, 'old', 'c', 'eth0')).toEqual(result);
    expect(readCachedResult(dir, 'none', 'c', 'eth0')).toBeUndefined();
  });
});

describe('add/del usage', () => {
  it.each([
    [['add'], /^manifold add: missing NETWORK\nusage: manifold add NETWORK NETNS/],
    [['add', 'net'], /^manifold add: missing NETNS\n/],
    [['del', 'a', 'b', 'c'], /^manifold del: unexpected argument "c"\n/],
    [
      ['add', 'a', 'b', '--log-format', 'xml'],
      /^manifold add: --log-format: "xml" is not one of json\|text\n/,
    ],
  ])('%j', async (args, msg) => {
    const r = await cli(args, { env: { NETCONFPATH: '/nonexistent' } });
    expect(r.code).toBe(2);
    expect(r.err).toMatch(msg);
  });

  it("a network that is not there: exit 1, libcni's message", async () => {
    const r = await cli(['add', 'nope', '/run/netns/x'], { env: { NETCONFPATH: '/nonexistent/d' } });
    expect(r.code).toBe(1);
    expect(r.err).toBe('manifold add: no net configurations found in /nonexistent/d\n');
    const bad = await cli(['add', 'nope', '/run/netns/x'], {
      env: { NETCONFPATH: '/nonexistent/d', CNI_ARGS: 'X' },
    });
    expect(bad.err).toBe(
      'manifold add: invalid CNI_ARGS pair "X"\nusage: manifold add NETWORK NETNS [--ifname NAME] [--cache-dir DIR] [--log-format json|text] [--log-level LEVEL]\n(manifold add --help for more)\n',
    );
  });
});
