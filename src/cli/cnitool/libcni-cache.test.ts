/**
 * libcni's result cache (libcni-cache.ts): written as libcni writes it (key order, modes),
 * read back in both its forms.
 */
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { scratchDir } from '../../../test/helpers/scratch.ts';
import { cachedAttachments, cacheFile, readCachedResult, writeCachedResult } from './libcni-cache.ts';

describe("libcni's result cache", () => {
  it('written as libcni writes it, read back; the legacy form is the result itself', () => {
    const dir = scratchDir('mf-libcni-');
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
