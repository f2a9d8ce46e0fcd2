/**
 * The network lookup in NETCONFPATH (netconf-path.ts), as libcni's LoadConfList does it:
 * conflists first, lexical order, a broken file fails the lookup, libcni's messages, and the
 * list's bytes as libcni records them.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { scratchDir } from '../../../test/helpers/scratch.ts';
import { goJson, loadConfList } from './netconf-path.ts';

describe('NETCONFPATH lookup (libcni LoadConfList)', () => {
  const dir = scratchDir('mf-netconf-');
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
    const empty = scratchDir('mf-netconf-empty-');
    expect(() => loadConfList(empty, 'x')).toThrow(`no net configurations found in ${empty}`);
    expect(() => loadConfList('/nonexistent/dir', 'x')).toThrow(
      'no net configurations found in /nonexistent/dir',
    );
    const broken = scratchDir('mf-netconf-broken-');
    writeFileSync(join(broken, '00-x.conflist'), '{"name": "x", "plugins": []}');
    expect(() => loadConfList(broken, 'x')).toThrow(/error parsing configuration list: no plugins in list/);
  });
});
