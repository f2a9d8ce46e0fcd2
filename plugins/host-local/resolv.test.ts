import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseResolvConf, readResolvConf } from './resolv.ts';

describe('parseResolvConf (host-local resolvConf)', () => {
  it('reads nameservers, domain, search and options; comments and blank lines ignored', () => {
    const text = [
      '# generated',
      'nameserver 10.0.0.53',
      'nameserver   fd00::53  # second',
      '',
      'domain example.com',
      'search a.example b.example',
      'search c.example',
      'options ndots:5 timeout:1 ; trailing',
      '   ',
      'sortlist 10.0.0.0',
      'nameserver',
    ].join('\n');
    expect(parseResolvConf(text)).toEqual({
      nameservers: ['10.0.0.53', 'fd00::53'],
      domain: 'example.com',
      search: ['a.example', 'b.example', 'c.example'],
      options: ['ndots:5', 'timeout:1'],
    });
  });

  it('gives an empty DNS for an empty file, and handles CRLF and tabs', () => {
    expect(parseResolvConf('')).toEqual({});
    expect(parseResolvConf('nameserver\t10.0.0.1\r\noptions\trotate\r\n')).toEqual({
      nameservers: ['10.0.0.1'],
      options: ['rotate'],
    });
  });

  it('reads a file, and names it when it cannot', () => {
    const dir = mkdtempSync(join(tmpdir(), 'manifold-resolv-'));
    try {
      const f = join(dir, 'resolv.conf');
      writeFileSync(f, 'nameserver 1.1.1.1\n');
      expect(readResolvConf(f)).toEqual({ nameservers: ['1.1.1.1'] });
      expect(() => readResolvConf(join(dir, 'missing'))).toThrow(
        `failed to read resolvConf ${JSON.stringify(join(dir, 'missing'))}: `,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
