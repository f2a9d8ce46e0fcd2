/**
 * The environment of a cnitool-style run (tool-env.ts), read by add/check/del/gc/status and
 * by explain: the container id derived from the netns (checked against sha512sum), CNI_ARGS
 * and CAP_ARGS parsing, the interface name's precedence.
 */
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { absoluteNetns, containerIdFor, parseCapArgs, parseToolArgs, readToolEnv } from './tool-env.ts';

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
